import type { FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify'
import fp from 'fastify-plugin'
import { RateLimitedError, TokenInvalidError, TokenMissingError, withExtras } from '../../services/infrastructure/errors.js'
import { redisKeys } from '../../services/infrastructure/redis-keys.js'
import { createSharedRateLimit } from '../../services/infrastructure/shared-rate-limit.js'
import type { AccessClaims } from '../../services/sessions/revocation.js'
import { clientKey } from '../external/rate-limit.js'
import { createVerifiedTokenCache } from '../../services/tokens/verified-token-cache.js'
import type { PublicUser } from '../../services/accounts/users.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** onRequest hook for protected routes: `onRequest: [fastify.authenticate]` (callback style: no promise of its own). */
    authenticate: (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction) => void
    /**
     * The whole access-token check (signature, claims, revocation, cached user) for a raw JWT,
     * wherever it came from (the Bearer header, or the page-session cookie).
     */
    verifyAccessToken: (token: string) => Promise<{ claims: AccessClaims, account: PublicUser }>
    /** Recently verified access tokens (signature and claims only; revocation is never cached). */
    verifiedTokens: ReturnType<typeof createVerifiedTokenCache>
  }
  interface FastifyRequest {
    /** The signed-in user, parsed from `accountJson` when read. */
    readonly account: PublicUser | null
    /**
     * The signed-in user's JSON as the user cache holds it, set by `authenticate`: a route that
     * answers with the user sends it as is (`sendAccount`), neither parsed nor serialized again.
     */
    accountJson: string | null
  }
}

const BEARER = /^Bearer[ ]+([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)[ ]*$/i

/**
 * Bearer authentication: a per-IP limit (RATE_LIMIT_BEARER a minute over every instance, counted
 * locally and sent to Redis in batches, so no round trip of its own until the client nears it), then
 * the JWT is verified (the configured algorithm and a known kid only, exp/iat/jti/sub/sid required; a token verified in the last
 * minute is found in a bounded in-memory cache instead, never past its exp), then one Redis round trip
 * decides whether it was revoked and yields the cached user. Any Redis failure propagates and
 * becomes a 503: the check fails closed.
 */
/**
 * Answers with the signed-in user (a PublicUser response): the cached JSON as is. The cache only
 * ever holds `JSON.stringify(toPublicUser(user))` (services/sessions/revocation.ts), the same
 * fields in the same order the response schema would write.
 */
export function sendAccount (request: FastifyRequest, reply: FastifyReply): void {
  reply.header('content-type', 'application/json; charset=utf-8').send(request.accountJson)
}

export default fp(async function authenticatePlugin (fastify) {
  fastify.decorateRequest('accountJson', null)
  fastify.decorateRequest('account', {
    getter (this: FastifyRequest) { return this.accountJson === null ? null : JSON.parse(this.accountJson) as PublicUser }
  })
  const perIp = createSharedRateLimit({
    redis: fastify.redis, max: fastify.config.RATE_LIMIT_BEARER, windowMs: 60_000, key: redisKeys.bearerHits, now: fastify.clock.now
  })

  const verifiedTokens = createVerifiedTokenCache()
  fastify.decorate('verifiedTokens', verifiedTokens)
  // A key that is no longer accepted (rotated out, or removed after a leak) takes its tokens with it.
  fastify.accessTokens.onKeysRemoved(() => { verifiedTokens.clear() })

  /**
   * Signature and claims, from the cache of recently verified tokens when the exact string is there.
   * With a request and an asymmetric algorithm, a miss is verified through request.jwtVerify()
   * (@fastify/jwt's verifier cache per key): a promise then, never on a cache hit.
   */
  function verifiedClaims (token: string, request?: FastifyRequest): AccessClaims | Promise<AccessClaims> {
    const cached = verifiedTokens.get(token)
    if (cached !== undefined) return cached
    if (request !== undefined && fastify.verifyOnRequest !== null) {
      return fastify.verifyOnRequest(request, token).then((claims) => {
        verifiedTokens.set(token, claims)
        return claims
      })
    }
    const claims = fastify.accessTokens.verify(token)
    verifiedTokens.set(token, claims)
    return claims
  }

  /**
   * Claims of an Authorization header. The common case, "Bearer <token>", is looked up as is: only
   * a verified token is ever in the cache, so a hit needs no parsing. Anything else goes through
   * the strict pattern.
   */
  function bearerClaims (header: string, request: FastifyRequest): AccessClaims | Promise<AccessClaims> {
    const cached = header.startsWith('Bearer ') ? verifiedTokens.get(header.slice(7)) : undefined
    if (cached !== undefined) return cached
    const token = BEARER.exec(header)?.[1]
    if (token === undefined) throw new TokenInvalidError()
    return verifiedClaims(token, request)
  }

  fastify.decorate('verifyAccessToken', async function verifyAccessToken (token: string) {
    const claims = await verifiedClaims(token)
    // Revocation is checked on every request, cached token or not.
    return { claims, account: await fastify.revocation.checkAccessToken(claims) }
  })

  function refuse (reply: FastifyReply, wait: number): never {
    reply.header('ratelimit-limit', fastify.config.RATE_LIMIT_BEARER).header('ratelimit-remaining', 0).header('ratelimit-reset', Math.ceil(wait / 1000))
    throw withExtras(new RateLimitedError(), { retryAfter: Math.ceil(wait / 1000) })
  }

  /** The claims of the request's Authorization header (TOKEN_MISSING / TOKEN_INVALID otherwise). */
  function requestClaims (request: FastifyRequest): AccessClaims | Promise<AccessClaims> {
    const header = request.headers.authorization
    if (header === undefined || !/^Bearer\b/i.test(header)) throw new TokenMissingError()
    return bearerClaims(header, request)
  }

  /** Near the limit the hit is decided by Redis: it leaves together with the revocation check. */
  async function authenticateNearLimit (request: FastifyRequest, reply: FastifyReply, wait: Promise<number>): Promise<void> {
    // One auto-pipelined write, one round trip, never before the check. The limit is answered first.
    let claims: AccessClaims | undefined
    let invalid: unknown
    try { claims = await requestClaims(request) } catch (error) { invalid = error }
    const [limit, account] = await Promise.allSettled([wait, claims === undefined ? undefined : fastify.revocation.checkAccessTokenJson(claims)])
    if (limit.status === 'rejected') throw limit.reason // Redis failed: 503, the limit fails closed
    if (limit.value > 0) refuse(reply, limit.value)
    if (claims === undefined) throw invalid
    if (account.status === 'rejected') throw account.reason
    request.accountJson = account.value!
    request.user = claims
  }

  fastify.decorate('authenticate', function authenticate (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction): void {
    const wait = perIp.hit(clientKey(request.ip))
    if (typeof wait !== 'number') {
      authenticateNearLimit(request, reply, wait).then(() => { done() }, done)
      return
    }
    // Far from the limit (almost every request): the limit is decided here, no I/O of its own, and
    // the revocation check is the request's one Redis command. No async function, no result object:
    // this is the hot path.
    let claims: AccessClaims | Promise<AccessClaims>
    try {
      if (wait > 0) refuse(reply, wait)
      claims = requestClaims(request)
    } catch (error) {
      done(error as Error)
      return
    }
    if (claims instanceof Promise) claims.then((verified) => { checkRevocation(request, verified, done) }, done)
    else checkRevocation(request, claims, done)
  })

  /** The one Redis round trip: the token is alive, and the cached user comes with the answer. */
  function checkRevocation (request: FastifyRequest, claims: AccessClaims, done: HookHandlerDoneFunction): void {
    fastify.revocation.checkAccessTokenJson(claims).then((json) => {
      request.accountJson = json
      request.user = claims
      done()
    }, done)
  }
}, { name: 'authenticate', dependencies: ['jwt', 'services'] })
