import type { FastifyInstance } from 'fastify'

/**
 * Options for Bearer-protected routes: the token check runs first, and the Redis-backed per-IP
 * limit is replaced by the one inside `authenticate` (counted locally, sent to Redis in batches),
 * so an authenticated request stays at one Redis round trip.
 */
export const bearerOnly = (fastify: FastifyInstance) => ({
  onRequest: [fastify.authenticate],
  config: { rateLimit: false as const }
})

/**
 * The sign-in endpoints (they send email or check a secret): a tight per-IP limit on each
 * (RATE_LIMIT_AUTH), and one per-IP budget all of them share (RATE_LIMIT_AUTH_TOTAL,
 * plugins/app/sign-in-budget.ts). Both shared by every instance through Redis.
 */
export const signInLimit = (fastify: FastifyInstance) => ({
  config: { rateLimit: { max: fastify.config.RATE_LIMIT_AUTH, timeWindow: 60_000 }, signInBudget: true }
})

/** A per-IP limit of the route's own (shared through Redis), outside the sign-in budget. */
export const perIpLimit = (max: number) => ({
  config: { rateLimit: { max, timeWindow: 60_000 } }
})

/** No rate limit: operations endpoints must answer even when Redis cannot. */
export const unlimited = { config: { rateLimit: false as const } }
