import type { FastifyPluginAsync } from 'fastify'
import account from './account.js'
import magicLink from './magic-link.js'
import otp from './otp.js'
import password from './password.js'
import sessions from './sessions.js'

/**
 * Everything under /auth. Responses here carry tokens, codes or pages opened from emails, so none
 * may be cached or leak the URL through a Referer (SPEC invariant 8c).
 */
const authRoutes: FastifyPluginAsync = async (fastify) => {
  // Callback style (no promise per response): /auth/me is the hot path.
  fastify.addHook('onSend', (_request, reply, payload, done) => {
    reply.header('cache-control', 'no-store')
    reply.header('referrer-policy', 'no-referrer')
    done(null, payload)
  })
  await fastify.register(magicLink)
  await fastify.register(otp)
  await fastify.register(account)
  await fastify.register(sessions)
  await fastify.register(password)
}

export default authRoutes
