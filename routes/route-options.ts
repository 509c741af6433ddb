import type { FastifyInstance } from 'fastify'

/**
 * Options for Bearer-protected routes: the token check runs first, and the Redis-backed per-IP
 * limit is replaced by the per-instance one inside `authenticate`, so an authenticated request
 * stays at one Redis round trip.
 */
export const bearerOnly = (fastify: FastifyInstance) => ({
  onRequest: [fastify.authenticate],
  config: { rateLimit: false as const }
})

/** Tight per-IP limit for the sign-in endpoints (shared through Redis). */
export const signInLimit = (fastify: FastifyInstance, max = fastify.config.RATE_LIMIT_AUTH) => ({
  config: { rateLimit: { max, timeWindow: 60_000 } }
})

/** No rate limit: operations endpoints must answer even when Redis cannot. */
export const unlimited = { config: { rateLimit: false as const } }
