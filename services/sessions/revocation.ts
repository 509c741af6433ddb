import { randomInt } from 'node:crypto'
import type { RedisClient } from '../infrastructure/redis-client.js'
import { isValidObjectId } from 'mongoose'
import type { Clock } from '../infrastructure/clock.js'
import { TokenRevokedError } from '../infrastructure/errors.js'
import type { Metrics } from '../infrastructure/metrics.js'
import type { Models } from '../models/index.js'
import { redisKeys } from '../infrastructure/redis-keys.js'
import { toPublicUser, type PublicUser } from '../accounts/users.js'

/** Claims of a verified access token (SPEC: sub, sid, jti, iat, exp, all required). */
export interface AccessClaims {
  sub: string
  sid: string
  jti: string
  iat: number
  exp: number
}

/**
 * Decides, on every authenticated request, whether a verified access token is still alive, and
 * keeps the Redis mirror of revocation state that makes that decision one round trip.
 *
 * MongoDB is the source of truth (sessions carry revokedAt, users carry tokensValidAfter). Redis
 * holds, per user and under one hash tag:
 *   - the cached public user,
 *   - `validAfter` (tokens issued earlier are dead) for ACCESS_TOKEN_TTL after a logout-all,
 *   - one mark per revoked session for ACCESS_TOKEN_TTL after its revocation,
 *   - one blacklist entry per logged-out jti for the token's remaining life.
 *
 * Rule: the cached user is only ever written together with (after) a rebuild of that user's
 * marks from MongoDB. So a cache hit means the marks are complete, and a miss (first request,
 * expiry, or Redis restarted empty) rebuilds them before anything is trusted. That is how a token
 * revoked before Redis lost its data is still refused (SPEC invariant 4b).
 */
export function createRevocationService ({ redis, models, accessTokenTtl, userCacheTtl, clock, metrics }: {
  redis: RedisClient
  models: Models
  accessTokenTtl: number
  userCacheTtl: number
  clock: Clock
  metrics: Metrics
}) {
  const accessTtlMs = accessTokenTtl * 1000
  const cacheHits = metrics.counter('latchkey_user_cache_total', { result: 'hit' })
  const cacheMisses = metrics.counter('latchkey_user_cache_total', { result: 'miss' })
  const cacheTtl = (): number => userCacheTtl + randomInt(0, Math.ceil(userCacheTtl / 10) + 1)

  async function rebuildUserState (claims: AccessClaims): Promise<PublicUser> {
    if (!isValidObjectId(claims.sub) || !isValidObjectId(claims.sid)) throw new TokenRevokedError()
    const now = clock.now()
    const [user, sessions] = await Promise.all([
      models.User.findById(claims.sub, { email: 1, name: 1, createdAt: 1, tokensValidAfter: 1 }).lean(),
      models.Session.find(
        { userId: claims.sub, $or: [{ _id: claims.sid }, { revokedAt: { $gt: new Date(now - accessTtlMs) } }] },
        { revokedAt: 1 }
      ).lean()
    ])
    if (user === null) throw new TokenRevokedError()

    const publicUser = toPublicUser(user)
    const write = redis.multi()
    for (const session of sessions) {
      const left = session.revokedAt === null || session.revokedAt === undefined ? 0 : session.revokedAt.getTime() + accessTtlMs - now
      if (left > 0) write.set(redisKeys.revokedSession(claims.sub, session._id.toString()), '1', 'PX', left)
    }
    const validAfter = user.tokensValidAfter === null || user.tokensValidAfter === undefined ? 0 : Math.floor(user.tokensValidAfter.getTime() / 1000)
    const validAfterLeft = validAfter * 1000 + accessTtlMs - now
    if (validAfterLeft > 0) write.set(redisKeys.validAfter(claims.sub), String(validAfter), 'PX', validAfterLeft)
    write.set(redisKeys.cachedUser(claims.sub), JSON.stringify(publicUser), 'EX', cacheTtl())
    await write.exec()

    const current = sessions.find((session) => session._id.toString() === claims.sid)
    if (current === undefined || (current.revokedAt !== null && current.revokedAt !== undefined) || claims.iat < validAfter) {
      throw new TokenRevokedError()
    }
    return publicUser
  }

  /** Marks sessions revoked for as long as any access token issued before now can live. */
  function markSessionsRevoked (write: ReturnType<RedisClient['multi']>, userId: string, sessionIds: string[]): void {
    for (const sessionId of sessionIds) write.set(redisKeys.revokedSession(userId, sessionId), '1', 'PX', accessTtlMs)
  }

  return {
    /**
     * The per-request check: ONE Redis round trip (MGET of four keys in one slot) on a cache hit,
     * no MongoDB query. Throws TOKEN_REVOKED, or a Redis error that the caller turns into 503.
     */
    async checkAccessToken (claims: AccessClaims): Promise<PublicUser> {
      const [user, validAfter, sessionRevoked, tokenRevoked] = await redis.mget(
        redisKeys.cachedUser(claims.sub),
        redisKeys.validAfter(claims.sub),
        redisKeys.revokedSession(claims.sub, claims.sid),
        redisKeys.revokedToken(claims.sub, claims.jti)
      )
      if (tokenRevoked != null || sessionRevoked != null) throw new TokenRevokedError()
      if (validAfter != null && claims.iat < Number(validAfter)) throw new TokenRevokedError()
      if (user != null) {
        cacheHits.inc()
        return JSON.parse(user) as PublicUser
      }
      cacheMisses.inc()
      return await rebuildUserState(claims)
    },

    /** Logout: blacklists the jti for its remaining life and marks its session revoked. */
    async revokeAccessToken (claims: AccessClaims): Promise<void> {
      const write = redis.multi()
      const left = claims.exp * 1000 - clock.now()
      if (left > 0) write.set(redisKeys.revokedToken(claims.sub, claims.jti), '1', 'PX', left)
      markSessionsRevoked(write, claims.sub, [claims.sid])
      await write.exec()
    },

    async revokeSessions (userId: string, sessionIds: string[]): Promise<void> {
      if (sessionIds.length === 0) return
      const write = redis.multi()
      markSessionsRevoked(write, userId, sessionIds)
      await write.exec()
    },

    /** Logout-all and account deletion: every token issued before `at` dies, and so do the sessions. */
    async revokeUser (userId: string, at: Date, sessionIds: string[]): Promise<void> {
      const write = redis.multi()
      write.set(redisKeys.validAfter(userId), String(Math.floor(at.getTime() / 1000)), 'PX', accessTtlMs)
      markSessionsRevoked(write, userId, sessionIds)
      write.del(redisKeys.cachedUser(userId))
      await write.exec()
    },

    /** Drops the cached user after a change; the next request rebuilds it from MongoDB. */
    async forgetUser (userId: string): Promise<void> {
      await redis.del(redisKeys.cachedUser(userId))
    },

    /**
     * Notices that Redis lost its data: the epoch marker is set once and never expires, so finding
     * it missing means a restart without persistence or a flush. Nothing has to be rebuilt eagerly
     * (each user's marks are rebuilt on their next cache miss); this makes the loss visible.
     * Returns true when the marker had to be re-created.
     */
    async checkDataEpoch (): Promise<boolean> {
      const created = await redis.set(redisKeys.dataEpoch, new Date(clock.now()).toISOString(), 'NX')
      return created === 'OK'
    }
  }
}

export type RevocationService = ReturnType<typeof createRevocationService>
