import type { FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { normalizeEmail } from '../../services/email/email-address.js'
import { refuseOverLimit } from '../external/rate-limit.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** preHandler (runs after body parsing): at most RATE_LIMIT_ADDRESS checks per address per 15 minutes. */
    limitPerAddress: (request: FastifyRequest, reply: FastifyReply) => Promise<void>
  }
}

const WINDOW_MS = 15 * 60 * 1000

/**
 * A second, per-address limit for the endpoints that check a guessable secret (code, password),
 * through @fastify/rate-limit's Redis store. Keyed by the address's keyed hash, whether or not an
 * account exists, so it says nothing about which addresses are registered.
 */
export default fp(async function addressLimitPlugin (fastify) {
  const limiter = fastify.createRateLimit({
    max: fastify.config.RATE_LIMIT_ADDRESS,
    timeWindow: WINDOW_MS,
    keyGenerator: (request) => `address:${fastify.addressKey(normalizeEmail((request.body as { email: string }).email))}`
  })

  fastify.decorate('limitPerAddress', refuseOverLimit(limiter))
}, { name: 'address-limit', dependencies: ['rate-limit', 'services'] })
