import type { FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { createCsrf } from '../../services/tokens/csrf.js'
import { deriveKey } from '../../services/tokens/token-crypto.js'

// Cookies are parsed only where pages are served: the page routes and the magic-link routes
// register plugins/external/cookie.ts in their own scope, and only call these there.
declare module 'fastify' {
  interface FastifyInstance {
    /**
     * Ensures the CSRF cookie and returns the token to embed in a form; a form shown to a signed-in
     * person is bound to their session id.
     */
    pageCsrf: (request: FastifyRequest, reply: FastifyReply, sessionId?: string) => string
    /**
     * True when the form token matches the browser's CSRF cookie (and the session it was made for),
     * and the request, if it says where it comes from (Sec-Fetch-Site, Origin), comes from APP_URL's origin.
     */
    checkPageCsrf: (request: FastifyRequest, formToken: string | undefined, sessionId?: string) => boolean
    /**
     * The same check before anyone is looked up: the session the form token was made for ('' for a
     * signed-out page), or null when the token is missing, forged, for another browser, or the
     * request comes from another site. No I/O: the caller then finds the browser's session and
     * compares its id.
     */
    pageCsrfSession: (request: FastifyRequest, formToken: string | undefined) => string | null
  }
}

export default fp(async function csrfPlugin (fastify) {
  const csrf = createCsrf(deriveKey(fastify.config.JWT_SECRET, 'latchkey csrf'))
  const appOrigin = new URL(fastify.config.APP_URL).origin
  const secure = new URL(fastify.config.APP_URL).protocol === 'https:'
  // __Host- pins the cookie to this exact origin (Secure, Path=/, no Domain) where HTTPS allows it.
  const cookieName = secure ? '__Host-lk_csrf' : 'lk_csrf'

  fastify.decorate('pageCsrf', function pageCsrf (request: FastifyRequest, reply: FastifyReply, sessionId = ''): string {
    const value = csrf.cookieValue(request.cookies[cookieName])
    reply.setCookie(cookieName, value, { path: '/', httpOnly: true, sameSite: 'strict', secure })
    return csrf.formToken(value, sessionId)
  })

  /**
   * Where the form was posted from, when the browser says: a sibling subdomain is same-site (its
   * Strict cookies go along) but shows up here as Sec-Fetch-Site: same-site, and as another
   * Origin. (With Referrer-Policy: no-referrer, browsers send `Origin: null`: no information.)
   */
  function fromThisSite (request: FastifyRequest): boolean {
    const site = request.headers['sec-fetch-site']
    if (site === 'same-site' || site === 'cross-site') return false
    const origin = request.headers.origin
    return origin === undefined || origin === 'null' || origin === appOrigin
  }

  fastify.decorate('checkPageCsrf', function checkPageCsrf (request: FastifyRequest, formToken: string | undefined, sessionId = ''): boolean {
    return fromThisSite(request) && csrf.verify(request.cookies[cookieName], formToken, sessionId)
  })

  fastify.decorate('pageCsrfSession', function pageCsrfSession (request: FastifyRequest, formToken: string | undefined): string | null {
    return fromThisSite(request) ? csrf.sessionOf(request.cookies[cookieName], formToken) : null
  })
}, { name: 'csrf', dependencies: ['config'] })
