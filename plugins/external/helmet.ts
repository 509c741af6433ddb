import type { IncomingMessage, ServerResponse } from 'node:http'
import fp from 'fastify-plugin'
import helmet, { type HelmetOptions } from 'helmet'

/**
 * Security headers for an API that also serves a few pages: a strict CSP (no inline scripts or
 * styles, no framing, forms post only to us), no-referrer, nosniff, HSTS. Routes that need a looser
 * policy (the /docs UI) set their own.
 */
export const helmetOptions: HelmetOptions = {
  contentSecurityPolicy: {
    useDefaults: false,
    directives: {
      defaultSrc: ["'self'"],
      scriptSrc: ["'self'"],
      styleSrc: ["'self'"],
      imgSrc: ["'self'", 'data:'],
      connectSrc: ["'self'"],
      fontSrc: ["'self'"],
      objectSrc: ["'none'"],
      baseUri: ["'none'"],
      formAction: ["'self'"],
      frameAncestors: ["'none'"]
    }
  },
  referrerPolicy: { policy: 'no-referrer' },
  crossOriginEmbedderPolicy: false
}

/**
 * The headers helmet would set, computed once. Our policy is static (no nonces, no per-request
 * directives), so running helmet's middleware against a recording response gives exactly the
 * headers it sets on every request. @fastify/helmet instead rebuilds the whole helmet middleware
 * (parsing every CSP directive) in two hooks on every request: ~10% of an authenticated
 * request's CPU in `npm run bench`.
 */
export function helmetHeaders (options: HelmetOptions = helmetOptions): Record<string, string> {
  const headers: Record<string, string> = {}
  const recorder = {
    setHeader (name: string, value: string | number | string[]) { headers[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : String(value) },
    removeHeader (name: string) { delete headers[name.toLowerCase()] }
  }
  let failure: unknown
  helmet(options)({} as IncomingMessage, recorder as unknown as ServerResponse, (error?: unknown) => { failure = error })
  if (failure !== undefined && failure !== null) throw failure
  return headers
}

export default fp(async function helmetPlugin (fastify) {
  const headers = helmetHeaders()
  fastify.addHook('onRequest', function securityHeaders (_request, reply, done) {
    reply.headers(headers)
    done()
  })
}, { name: 'helmet' })
