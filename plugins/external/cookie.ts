import fastifyCookie from '@fastify/cookie'
import fp from 'fastify-plugin'

/** Cookies are used only by the built-in HTML pages (CSRF and the page session). */
export default fp(async function cookiePlugin (fastify) {
  await fastify.register(fastifyCookie)
}, { name: 'cookie' })
