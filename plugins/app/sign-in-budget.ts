import fp from 'fastify-plugin'
import { clientKey, refuseOverLimit } from '../external/rate-limit.js'

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The route counts against the per-IP budget every sign-in route shares (routes/route-options.ts, signInLimit). */
    signInBudget?: boolean
  }
}

/**
 * One per-IP budget over all the sign-in endpoints together: RATE_LIMIT_AUTH_TOTAL (20) a minute,
 * on top of each route's own RATE_LIMIT_AUTH (10). Without it one IP got 10 on each route: 90 a
 * minute over the nine routes that send email or check a secret. Counted in Redis by
 * @fastify/rate-limit's store, so every instance shares it. Added to every route whose config
 * sets `signInBudget`, after the route's own limit.
 */
export default fp(async function signInBudgetPlugin (fastify) {
  const checkBudget = refuseOverLimit(fastify.createRateLimit({
    max: fastify.config.RATE_LIMIT_AUTH_TOTAL,
    timeWindow: 60_000,
    keyGenerator: (request) => `sign-in:${clientKey(request.ip)}`
  }))

  fastify.addHook('onRoute', (route) => {
    if (route.config?.signInBudget !== true) return
    const hooks = route.onRequest === undefined ? [] : Array.isArray(route.onRequest) ? route.onRequest : [route.onRequest]
    route.onRequest = [...hooks, checkBudget]
  })
}, { name: 'sign-in-budget', dependencies: ['rate-limit'] })
