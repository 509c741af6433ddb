import type { FastifyPluginAsync } from 'fastify'
import account from './account.js'
import activity from './activity.js'
import crossDevice from './cross-device.js'
import introspect from './introspect.js'
import magicLink from './magic-link.js'
import otp from './otp.js'
import password from './password.js'
import sessions from './sessions.js'

/**
 * Everything under /auth. Responses here carry tokens, codes or pages opened from emails, so none
 * may be cached or leak the URL through a Referer (SPEC invariant 8c): the API header set
 * (plugins/external/helmet.ts) puts `Cache-Control: no-store` and `Referrer-Policy: no-referrer`
 * on every response before any handler runs, so /auth needs no hook of its own (tested).
 */
const authRoutes: FastifyPluginAsync = async (fastify) => {
  await fastify.register(magicLink)
  await fastify.register(otp)
  await fastify.register(account)
  await fastify.register(sessions)
  await fastify.register(password)
  await fastify.register(crossDevice)
  await fastify.register(introspect)
  await fastify.register(activity)
}

export default authRoutes
