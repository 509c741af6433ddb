import type { FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { createCsrf } from '../../services/tokens/csrf.js'
import { deriveKey } from '../../services/tokens/token-crypto.js'

// Cookies are parsed only where pages are served: the page routes and the magic-link routes
// register plugins/external/cookie.ts in their own scope, and only call these there.
declare module 'fastify' {
  interface FastifyInstance {
    /** Ensures the CSRF cookie and returns the token to embed in a form. */
    pageCsrf: (request: FastifyRequest, reply: FastifyReply) => string
    /** True when the form token matches the browser's CSRF cookie. */
    checkPageCsrf: (request: FastifyRequest, formToken: string | undefined) => boolean
  }
}

export default fp(async function csrfPlugin (fastify) {
  const csrf = createCsrf(deriveKey(fastify.config.JWT_SECRET, 'latchkey csrf'))
  const secure = new URL(fastify.config.APP_URL).protocol === 'https:'
  // __Host- pins the cookie to this exact origin (Secure, Path=/, no Domain) where HTTPS allows it.
  const cookieName = secure ? '__Host-lk_csrf' : 'lk_csrf'

  fastify.decorate('pageCsrf', function pageCsrf (request: FastifyRequest, reply: FastifyReply): string {
    const value = csrf.cookieValue(request.cookies[cookieName])
    reply.setCookie(cookieName, value, { path: '/', httpOnly: true, sameSite: 'strict', secure })
    return csrf.formToken(value)
  })

  fastify.decorate('checkPageCsrf', function checkPageCsrf (request: FastifyRequest, formToken: string | undefined): boolean {
    return csrf.verify(request.cookies[cookieName], formToken)
  })
}, { name: 'csrf', dependencies: ['config'] })
