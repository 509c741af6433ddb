import formbody from '@fastify/formbody'
import type { FastifyPluginAsync } from 'fastify'
import cookie from '../../plugins/external/cookie.js'
import account from './account.js'
import code from './code.js'
import crossDevice from './cross-device.js'
import magicLinkForms from './magic-link.js'
import signOutSession from './sign-out-session.js'
import start from './start.js'

/**
 * The built-in pages: a start page, the page a magic link opens, a code page and an account page.
 * Server-rendered, no scripts, forms POST with a per-form CSRF token (plus SameSite cookies).
 * Form bodies are parsed only in this scope; the rest of the API stays JSON-only. Nothing here
 * may be cached, and no URL may leak through a Referer (SPEC invariant 8c): the API header set
 * (plugins/external/helmet.ts) sends `Cache-Control: no-store` and `Referrer-Policy: no-referrer`
 * on every response, pages included (tested).
 */
const pageRoutes: FastifyPluginAsync = async (fastify) => {
  await fastify.register(cookie)
  await fastify.register(formbody, { bodyLimit: 16 * 1024 })
  await fastify.register(start)
  await fastify.register(code)
  await fastify.register(magicLinkForms)
  await fastify.register(account)
  await fastify.register(crossDevice)
  await fastify.register(signOutSession)
}

export default pageRoutes
