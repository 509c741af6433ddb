import rateLimit, { normalizeIP } from '@fastify/rate-limit'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { RateLimitedError, withExtras } from '../../services/infrastructure/errors.js'
import { redisKeys } from '../../services/infrastructure/redis-keys.js'

/**
 * @fastify/rate-limit on the Redis store, shared by every instance, failing closed
 * (skipOnError: false: Redis trouble is a 503, not a free pass). Keys are the client IP with IPv6
 * grouped by /64; X-Forwarded-For counts only when TRUST_PROXY names the proxy (Fastify's
 * trustProxy decides request.ip). Every route gets the global per-IP limit unless it sets its own
 * (the auth endpoints, tighter) or opts out (`rateLimit: false`: operations endpoints, and Bearer
 * routes, which `authenticate` limits with counts batched to Redis to stay at one round trip).
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

/** The client a per-IP limit counts: the IP, IPv6 grouped by /64, IPv4-mapped IPv6 as IPv4. */
export const clientKey = (ip: string): string => ip.includes(':') ? normalizeIP(ip) : ip

/**
 * A hook that counts the request against `limiter` (made with `fastify.createRateLimit`) and
 * answers 429 RATE_LIMITED with Retry-After and the RateLimit-* headers once it is spent.
 */
export function refuseOverLimit (limiter: ReturnType<FastifyInstance['createRateLimit']>) {
  return async function checkLimit (request: FastifyRequest, reply: FastifyReply): Promise<void> {
    const result = await limiter(request)
    if (result.isAllowed || !result.isExceeded) return
    reply.header('ratelimit-limit', result.max).header('ratelimit-remaining', 0).header('ratelimit-reset', result.ttlInSeconds)
    throw withExtras(new RateLimitedError(), { retryAfter: Math.max(1, result.ttlInSeconds) })
  }
}
