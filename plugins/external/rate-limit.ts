import rateLimit from '@fastify/rate-limit'
import fp from 'fastify-plugin'
import { RateLimitedError, withExtras } from '../../services/infrastructure/errors.js'
import { redisKeys } from '../../services/infrastructure/redis-keys.js'

/**
 * @fastify/rate-limit on the Redis store, shared by every instance, failing closed
 * (skipOnError: false: Redis trouble is a 503, not a free pass). Keys are the client IP with IPv6
 * grouped by /64; X-Forwarded-For counts only when TRUST_PROXY names the proxy (Fastify's
 * trustProxy decides request.ip). Every route gets the global per-IP limit unless it sets its own
 * (the auth endpoints, tighter) or opts out (`rateLimit: false`: operations endpoints, and Bearer
 * routes, which `authenticate` limits per instance to stay at one Redis round trip).
 * 429 answers carry Retry-After and the IETF draft RateLimit-* headers.
 */
export default fp(async function rateLimitPlugin (fastify) {
  await fastify.register(rateLimit, {
    global: true,
    max: fastify.config.RATE_LIMIT_GLOBAL,
    timeWindow: 60_000,
    redis: fastify.redis,
    nameSpace: redisKeys.rateLimitPrefix,
    skipOnError: false,
    enableDraftSpec: true,
    ipv6Subnet: 64,
    errorResponseBuilder: (_request, context) => withExtras(new RateLimitedError(), { retryAfter: Math.max(1, Math.ceil(context.ttl / 1000)) })
  })
}, { name: 'rate-limit', dependencies: ['config', 'redis'] })
