import fastifyCookie from '@fastify/cookie'
import fp from 'fastify-plugin'

/**
 * Cookies are used only by the built-in HTML pages (CSRF and the page session), so this is
 * registered inside the scopes that serve pages, not globally: the API's hot path (Bearer routes)
 * carries no cookie hooks at all.
 */
export default fp(async function cookiePlugin (fastify) {
  await fastify.register(fastifyCookie)
}, { name: 'cookie' })
