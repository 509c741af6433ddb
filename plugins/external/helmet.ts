import type { IncomingMessage, ServerResponse } from 'node:http'
import fp from 'fastify-plugin'
import helmet, { type HelmetOptions } from 'helmet'

/**
 * Security headers, in two sets. Every response (JSON above all) gets the short API set of the
 * OWASP REST Security Cheat Sheet: a CSP that lets nothing load or frame it, nosniff, no framing,
 * no-referrer, HSTS, same-origin resource policy, and no-store. HTML pages (`sendHtml`) get helmet's full set on
 * top: a strict page CSP (no inline scripts or styles, forms post only to us) and the rest. Routes
 * that need a looser policy (the /docs UI) set their own. Each header costs a little on every
 * response, so JSON does not carry the page-only ones.
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
  frameguard: { action: 'deny' },
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

/** The full helmet set for HTML pages (applied by sendHtml over the API set). */
export const PAGE_HEADERS: Readonly<Record<string, string>> = Object.freeze(helmetHeaders())

/** Every response: nothing may render, sniff, frame or load from it. */
export const API_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'content-security-policy': "default-src 'none'; frame-ancestors 'none'",
  'strict-transport-security': PAGE_HEADERS['strict-transport-security']!,
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cross-origin-resource-policy': 'same-origin',
  // Responses carry tokens, codes and personal data: nothing is stored by browsers or proxies
  // unless a route says otherwise (the stylesheet does).
  'cache-control': 'no-store'
})

/** API_HEADERS as name/value pairs, listed once: setting them makes no key array per request. */
const API_HEADER_PAIRS: ReadonlyArray<readonly [string, string]> = Object.freeze(Object.entries(API_HEADERS))

export default fp(async function helmetPlugin (fastify) {
  fastify.addHook('onRequest', function securityHeaders (_request, reply, done) {
    for (let i = 0; i < API_HEADER_PAIRS.length; i++) reply.header(API_HEADER_PAIRS[i]![0], API_HEADER_PAIRS[i]![1])
    done()
  })
}, { name: 'helmet' })
