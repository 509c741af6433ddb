import { randomInt, randomUUID } from 'node:crypto'
import { isValidObjectId } from 'mongoose'
import type { Clock } from '../infrastructure/clock.js'
import { AccountDisabledError, TokenRevokedError } from '../infrastructure/errors.js'
import type { Metrics } from '../infrastructure/metrics.js'
import type { RedisClient } from '../infrastructure/redis-client.js'
import { redisKeys } from '../infrastructure/redis-keys.js'
import { defineScript } from '../infrastructure/redis-script.js'
import { listRedisShards, type RedisShard } from '../infrastructure/redis-shards.js'
import { insertOne } from '../models/insert.js'
import { faultPoint } from '../infrastructure/fault-points.js'
import type { Models } from '../models/index.js'
import type { RevocationFields, RevocationKind } from '../models/revocation.js'
import { toPublicUser, type PublicUser } from '../accounts/users.js'

/** Claims of a verified access token (SPEC: sub, sid, jti, iat, exp, all required). */
export interface AccessClaims {
  sub: string
  sid: string
  jti: string
  iat: number
  exp: number
  /** When the person last proved who they are (sign-in or re-authentication), Unix seconds. */
  auth_time?: number
}

/** One revocation as a flow asks for it; the journal entry adds when, and for how long. */
export interface RevocationRequest {
  kind: RevocationKind
  userId: string
  /** Sessions that die (their access and refresh tokens); logout-all adds every session it revokes. */
  sessionIds: string[]
  /** The logged-out access token (logout): blacklisted for the rest of its life. */
  token?: { jti: string, exp: number }
}

/** What one pass of the mirror check found on each Redis shard. */
export type ShardState = 'ok' | 'new' | 'lost' | 'rolled-back' | 'unreachable'
export interface MirrorReport {
  shards: Array<{ id: string, state: ShardState }>
  /** Journal entries written to Redis again. */
  replayed: number
  /** Of those, entries whose first mirror had failed (or was never confirmed). */
  drained: number
  /** Entries that could not be written (a shard refusing writes or down); the next pass retries. */
  failed: number
}

/**
 * Revocation marks outlive the longest access token they cover by this much: covers clock skew
 * between instances and a refresh that minted a token just before the revocation was recorded
 * (services/sessions/sessions.ts re-checks the session after rotating, this is the second belt).
 */
export const MARK_MARGIN_MS = 60_000
/**
 * Each pass re-writes the entries mirrored since the oldest shard watermark minus this much: the
 * time between stamping an entry's mirroredAt and its Redis write landing (bounded by
 * REDIS_TIMEOUT), plus clock skew between instances.
 */
export const REPLAY_MARGIN_MS = 30_000

const REVOKE_REASONS: Record<RevocationKind, 'logout' | 'logout-all' | 'reuse' | 'user' | 'deleted' | 'disabled'> = {
  logout: 'logout', 'logout-all': 'logout-all', session: 'user', reuse: 'reuse', 'account-deleted': 'deleted', 'account-disabled': 'disabled'
}

/** Kinds that end every session and token of the user (valid-after moves to the revocation's time). */
const ENDS_EVERYTHING = new Set<RevocationKind>(['logout-all', 'account-deleted', 'account-disabled'])

// KEYS: the disabled mark. ARGV: its value, its TTL ms. The value is the Unix time in ms the account
// was disabled, or minus the time it was enabled again; it only ever moves forward in time (at the
// same millisecond the first stays), so a replayed disable never overrides a later enable.
const disabledMarkScript = defineScript<number>(`
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
local wanted = tonumber(ARGV[1])
if math.abs(current) > math.abs(wanted) or tonumber(ARGV[2]) <= 0 then return 0 end
if math.abs(current) == math.abs(wanted) and (current ~= wanted or redis.call('PTTL', KEYS[1]) >= tonumber(ARGV[2])) then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
`)

// KEYS: valid-after, cached user, blacklist entry, session marks... (one user's keys: one hash tag).
// ARGV: valid-after seconds ('' = none), its TTL ms, blacklist TTL ms ('0' = none),
//       cached user JSON ('' = leave, '-' = drop), its TTL s, then one TTL ms per session mark.
// Every write only ever extends: valid-after never moves back, a mark's TTL never shrinks, so
// replaying an old entry (or a rebuild racing a revocation) cannot undo a newer one. The cached
// user is written last, in the same atomic step as the marks (its presence means they are complete).
const mirrorScript = defineScript<number>(`
local function extend(key, value, ttl)
  ttl = tonumber(ttl)
  if ttl > 0 and redis.call('PTTL', key) < ttl then redis.call('SET', key, value, 'PX', ttl) end
end
if ARGV[1] ~= '' and tonumber(ARGV[2]) > 0 then
  local current = tonumber(redis.call('GET', KEYS[1]) or '0')
  local wanted = tonumber(ARGV[1])
  if current < wanted then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  elseif current == wanted then extend(KEYS[1], ARGV[1], ARGV[2]) end
end
extend(KEYS[3], '1', ARGV[3])
for i = 4, #KEYS do extend(KEYS[i], '1', ARGV[i + 2]) end
if ARGV[4] == '-' then redis.call('DEL', KEYS[2])
elseif ARGV[4] ~= '' then redis.call('SET', KEYS[2], ARGV[4], 'EX', ARGV[5]) end
return 1
`)

// KEYS: a shard's marker. ARGV: epoch for a new marker, watermark (ms).
// Creates the marker when missing, otherwise moves its watermark forward (never back).
const markerScript = defineScript<[string, string]>(`
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('HSET', KEYS[1], 'epoch', ARGV[1], 'wm', ARGV[2])
elseif tonumber(redis.call('HGET', KEYS[1], 'wm') or '0') < tonumber(ARGV[2]) then
  redis.call('HSET', KEYS[1], 'wm', ARGV[2])
end
return redis.call('HMGET', KEYS[1], 'epoch', 'wm')
`)

const REPLAY_BATCH = 500

const RECORDED = Symbol('revocation recorded')
/** True for an error raised after the revocation reached the journal: it will complete by itself. */
export const isRevocationRecorded = (error: unknown): boolean =>
  typeof error === 'object' && error !== null && (error as { [RECORDED]?: boolean })[RECORDED] === true

/**
 * Decides, on every authenticated request, whether a verified access token is still alive, and
 * keeps the Redis mirror of revocation state that makes that decision one round trip.
 *
 * MongoDB is the source of truth (the revocation journal, sessions' revokedAt, users'
 * tokensValidAfter). Redis holds, per user and under one hash tag:
 *   - the cached public user,
 *   - `validAfter` (tokens issued earlier are dead) after a logout-all or account deletion,
 *   - one mark per revoked session,
 *   - one blacklist entry per logged-out jti for the token's remaining life;
 * marks live ACCESS_TOKEN_TTL + MARK_MARGIN_MS after their revocation.
 *
 * Two rules keep Redis from ever answering "alive" for a revoked token for longer than one check
 * period:
 *   1. The cached user is only ever written together with (after) a rebuild of that user's marks
 *      from MongoDB. A cache miss (first request, expiry, Redis emptied) rebuilds before trusting.
 *   2. Every revocation goes to the journal in MongoDB first; `checkMirror` (run by the data-loss
 *      watch every few seconds and whenever Redis reconnects) re-writes into Redis every entry it
 *      may have lost: entries whose mirror failed, and entries mirrored since each shard's
 *      watermark. A shard whose marker vanished (flush, empty restart) or went back in time
 *      (restore from an older snapshot, lost AOF writes, a lagging replica promoted) gets the
 *      whole live journal again.
 */
export function createRevocationService ({ redis, models, accessTokenTtl, userCacheTtl, clock, metrics }: {
  redis: RedisClient
  models: Models
  accessTokenTtl: number
  userCacheTtl: number
  clock: Clock
  metrics: Metrics
}) {
  const { Revocation, RedisShard, Session, User, RefreshRotation, Todo } = models
  const markLifeMs = accessTokenTtl * 1000 + MARK_MARGIN_MS
  const cacheHits = metrics.counter('latchkey_user_cache_total', { result: 'hit' })
  const cacheMisses = metrics.counter('latchkey_user_cache_total', { result: 'miss' })
  const cacheTtl = (): number => userCacheTtl + randomInt(0, Math.ceil(userCacheTtl / 10) + 1)

  interface MirrorWrite {
    userId: string
    /** Unix seconds. */
    validAfter?: number
    validAfterTtlMs?: number
    blacklist?: { jti: string, ttlMs: number }
    marks: Array<{ sessionId: string, ttlMs: number }>
    cachedUser?: string | '-'
    /** The account was disabled at this time (Unix ms), mark kept for ttlMs. */
    disabled?: { at: number, ttlMs: number }
  }

  async function writeMirror (write: MirrorWrite): Promise<void> {
    const { userId } = write
    // Before the script: the cached user it writes vouches for the disabled mark too.
    if (write.disabled !== undefined) await disabledMarkScript(redis, [redisKeys.disabledAt(userId)], [write.disabled.at, Math.round(write.disabled.ttlMs)])
    const keys = [
      redisKeys.validAfter(userId),
      redisKeys.cachedUser(userId),
      write.blacklist === undefined ? redisKeys.validAfter(userId) : redisKeys.revokedToken(userId, write.blacklist.jti),
      ...write.marks.map((mark) => redisKeys.revokedSession(userId, mark.sessionId))
    ]
    const args = [
      write.validAfter === undefined ? '' : String(write.validAfter),
      Math.max(0, Math.round(write.validAfterTtlMs ?? 0)),
      Math.max(0, Math.round(write.blacklist?.ttlMs ?? 0)),
      write.cachedUser ?? '',
      cacheTtl(),
      ...write.marks.map((mark) => Math.max(0, Math.round(mark.ttlMs)))
    ]
    await mirrorScript(redis, keys, args)
  }

  /** What a journal entry holds, from a request made at `at`. */
  function entryFor (request: RevocationRequest, at: Date) {
    return {
      kind: request.kind,
      userId: request.userId,
      sessionIds: request.sessionIds,
      jti: request.token?.jti,
      tokenExpiresAt: request.token === undefined ? undefined : new Date(request.token.exp * 1000),
      validAfter: ENDS_EVERYTHING.has(request.kind) ? at : undefined,
      at,
      expiresAt: new Date(at.getTime() + markLifeMs)
    }
  }

  type Mirrored = Pick<RevocationFields, 'at' | 'validAfter' | 'jti' | 'tokenExpiresAt'> & { kind?: RevocationKind, userId: { toString: () => string }, sessionIds: Array<{ toString: () => string }> }

  /** Writes one journal entry into Redis (idempotent: replaying it changes nothing that is there). */
  async function mirrorEntry (entry: Mirrored, now: number, dropCachedUser = false): Promise<void> {
    const markTtl = entry.at.getTime() + markLifeMs - now
    if (markTtl <= 0) return
    const userId = entry.userId.toString()
    await writeMirror({
      userId,
      validAfter: entry.validAfter == null ? undefined : Math.floor(entry.validAfter.getTime() / 1000),
      validAfterTtlMs: markTtl,
      blacklist: entry.jti == null || entry.tokenExpiresAt == null ? undefined : { jti: entry.jti, ttlMs: entry.tokenExpiresAt.getTime() - now },
      marks: entry.sessionIds.map((sessionId) => ({ sessionId: sessionId.toString(), ttlMs: markTtl })),
      cachedUser: dropCachedUser ? '-' : undefined,
      disabled: entry.kind === 'account-disabled' ? { at: entry.at.getTime(), ttlMs: markTtl } : undefined
    })
  }

  /**
   * Applies an entry to sessions and users (idempotent: the watch completes entries a failure
   * interrupted). Returns the entry as the mirror must write it.
   */
  async function applyToMongo (entry: RevocationFields): Promise<RevocationFields> {
    const { userId, at } = entry
    if (entry.kind === 'account-deleted') {
      await User.deleteOne({ _id: userId })
      await Promise.all([Session.deleteMany({ userId }), RefreshRotation.deleteMany({ userId }), Todo.deleteMany({ userId })])
      return entry
    }
    const revoke = { $set: { revokedAt: at, revokeReason: REVOKE_REASONS[entry.kind] } }
    if (entry.kind === 'logout-all' || entry.kind === 'account-disabled') {
      await User.updateOne({ _id: userId }, { $max: { tokensValidAfter: at } })
      let until = at
      if (entry.kind === 'account-disabled') {
        // The flag, unless the account was enabled after this decision (a replay must not undo that).
        const flagged = await User.updateOne({ _id: userId, $or: [{ enabledAt: null }, { enabledAt: { $lt: at } }] }, { $max: { disabledAt: at } })
        // A sign-in reads the flag after making its session (services/sessions/sessions.ts): one that
        // missed it made its session before now, so every session made until now ends.
        if (flagged.matchedCount > 0) until = new Date(Math.max(clock.now(), at.getTime()))
      }
      // Every session that existed when the user logged out everywhere, listed or not.
      await Session.updateMany({ userId, revokedAt: null, createdAt: { $lte: until } }, revoke)
      // The sessions revoked above are the ones marked, whatever the caller listed: a session made
      // while a list was read (a sign-in racing the logout) may have a token of the valid-after
      // second itself, which valid-after alone lets through. Their ids go into the journal for replays.
      const revoked = await Session.find({ userId, revokedAt: at, revokeReason: REVOKE_REASONS[entry.kind] }, { _id: 1 }).lean()
      const listed = new Set(entry.sessionIds.map(String))
      const missed = revoked.map((session) => session._id).filter((id) => !listed.has(id.toString()))
      if (missed.length === 0) return entry
      await Revocation.updateOne({ _id: entry._id }, { $addToSet: { sessionIds: { $each: missed } } })
      return { ...entry, sessionIds: [...entry.sessionIds, ...missed] }
    }
    await Session.updateMany({ _id: { $in: entry.sessionIds }, userId, revokedAt: null }, revoke)
    return entry
  }

  /** Rebuilds the user's Redis state from MongoDB; resolves with the cached user's JSON it wrote. */
  async function rebuildUserState (claims: AccessClaims): Promise<string> {
    if (!isValidObjectId(claims.sub) || !isValidObjectId(claims.sid)) throw new TokenRevokedError()
    const now = clock.now()
    const [user, sessions] = await Promise.all([
      User.findById(claims.sub, { email: 1, name: 1, createdAt: 1, tokensValidAfter: 1, disabledAt: 1 }).lean(),
      Session.find(
        { userId: claims.sub, $or: [{ _id: claims.sid }, { revokedAt: { $gt: new Date(now - markLifeMs) } }] },
        { revokedAt: 1 }
      ).lean()
    ])
    if (user === null) throw new TokenRevokedError()

    const cachedUser = JSON.stringify(toPublicUser(user))
    const validAfterAt = user.tokensValidAfter?.getTime() ?? 0
    const validAfter = Math.floor(validAfterAt / 1000)
    await writeMirror({
      userId: claims.sub,
      validAfter: validAfterAt === 0 ? undefined : validAfter,
      validAfterTtlMs: validAfterAt + markLifeMs - now,
      marks: sessions.flatMap((session) => session.revokedAt == null
        ? []
        : [{ sessionId: session._id.toString(), ttlMs: session.revokedAt.getTime() + markLifeMs - now }]),
      cachedUser,
      disabled: user.disabledAt == null ? undefined : { at: user.disabledAt.getTime(), ttlMs: user.disabledAt.getTime() + markLifeMs - now }
    })

    // A disabled account's tokens are all refused (the ones issued before it are revoked anyway).
    if (user.disabledAt != null) throw new AccountDisabledError()
    const current = sessions.find((session) => session._id.toString() === claims.sid)
    if (current === undefined || current.revokedAt != null || claims.iat < validAfter) throw new TokenRevokedError()
    return cachedUser
  }

  /**
   * The keys the per-request check reads in its one MGET, all under the user's hash tag: the cached
   * user first, then one key per way a token dies. A new way (one key more) goes at the end here and
   * in `revokedOrUser`. Built once per claims object: the verified-token cache hands the same frozen
   * claims to every request of a token, so a warm request builds no key strings.
   */
  const keysOf = new WeakMap<AccessClaims, string[]>()
  function checkKeys (claims: AccessClaims): string[] {
    let keys = keysOf.get(claims)
    if (keys === undefined) {
      keys = [
        redisKeys.cachedUser(claims.sub),
        redisKeys.validAfter(claims.sub),
        redisKeys.revokedSession(claims.sub, claims.sid),
        redisKeys.revokedToken(claims.sub, claims.jti),
        redisKeys.disabledAt(claims.sub)
      ]
      keysOf.set(claims, keys)
    }
    return keys
  }

  /**
   * Decides from the MGET's values: throws TOKEN_REVOKED (ACCOUNT_DISABLED when the account's
   * disabled mark covers the token), else the cached user's JSON (null: not cached).
   */
  function revokedOrUser (claims: AccessClaims, [user, validAfter, sessionRevoked, tokenRevoked, disabledAt]: Array<string | null>): string | null {
    if (tokenRevoked != null || sessionRevoked != null || (validAfter != null && claims.iat < Number(validAfter))) {
      // Disabling revokes every session: the disabled mark only names the reason.
      throw disabledAt != null && claims.iat * 1000 <= Number(disabledAt) ? new AccountDisabledError() : new TokenRevokedError()
    }
    return user ?? null
  }

  function checkAccessTokenJson (claims: AccessClaims): Promise<string> {
    return redis.mget(checkKeys(claims)).then((values) => {
      const user = revokedOrUser(claims, values)
      if (user !== null) {
        cacheHits.inc()
        return user
      }
      cacheMisses.inc()
      return rebuildUserState(claims)
    })
  }

  async function readMarker (shard: RedisShard): Promise<{ epoch: string, wm: number } | null> {
    const [epoch, wm] = await redis.hmget(shard.markerKey, 'epoch', 'wm')
    return epoch == null || wm == null ? null : { epoch, wm: Number(wm) }
  }

  /** Moves a shard's marker to `watermark`, then records in MongoDB what was confirmed. */
  async function advanceMarker (shard: RedisShard, known: { epoch: string } | undefined, watermark: number): Promise<void> {
    const [epoch, wm] = await markerScript(redis, [shard.markerKey], [randomUUID(), watermark])
    const confirmed = Number(wm)
    // A new epoch starts a new count; within an epoch the confirmed watermark only moves forward.
    if (known === undefined || known.epoch !== epoch) await RedisShard.updateOne({ _id: shard.id }, { $set: { epoch, confirmed } }, { upsert: true })
    else await RedisShard.updateOne({ _id: shard.id, epoch }, { $max: { confirmed } })
  }

  /** Writes entries into Redis again, in batches; returns the ids written (a shard may be down). */
  async function replay (entries: RevocationFields[], now: number): Promise<{ written: Set<string>, failures: number }> {
    const written = new Set<string>()
    let failures = 0
    for (let i = 0; i < entries.length; i += REPLAY_BATCH) {
      const batch = entries.slice(i, i + REPLAY_BATCH)
      const results = await Promise.allSettled(batch.map(async (entry) => await mirrorEntry(entry, now)))
      results.forEach((result, j) => {
        if (result.status === 'fulfilled') written.add(batch[j]!._id.toString())
        else failures++
      })
    }
    return { written, failures }
  }

  return {
    /**
     * The per-request check: ONE Redis round trip (MGET of the keys of `checkKeys`, one slot) on a
     * cache hit, no MongoDB query. Resolves with the cached user's JSON exactly as stored (the
     * Bearer hot path sends it as is, neither parsed nor serialized again); throws TOKEN_REVOKED,
     * or a Redis error that the caller turns into 503. Not an async function: one promise per
     * request (the `then` of the MGET's), not two.
     */
    checkAccessTokenJson,

    /** checkAccessTokenJson, parsed (for callers that use the user's fields). */
    async checkAccessToken (claims: AccessClaims): Promise<PublicUser> {
      return JSON.parse(await checkAccessTokenJson(claims)) as PublicUser
    },

    /**
     * Records a revocation: the journal entry first (from then on it cannot be lost), then the
     * sessions and users, then the Redis mirror. A failure after the journal entry still answers
     * 503, and the data-loss watch completes the rest within one check period without any retry
     * from the client.
     */
    async revoke (request: RevocationRequest): Promise<void> {
      const entry = await insertOne(Revocation, { ...entryFor(request, new Date(clock.now())), mirroredAt: null })
      metrics.inc('latchkey_revocations_total', { kind: request.kind }) // recorded: it will complete
      const recorded = entry.toObject() as RevocationFields
      const mirroredAt = new Date(clock.now())
      try {
        await faultPoint('revoke:journal-written')
        const fields = await applyToMongo(recorded)
        await faultPoint('revoke:applied')
        // A deleted account's cached user goes at once (its tokens are dead by valid-after anyway);
        // replays leave caches alone, so they never cause a wave of rebuilds.
        await mirrorEntry(fields, mirroredAt.getTime(), request.kind === 'account-deleted')
      } catch (error) {
        if (typeof error === 'object' && error !== null) Object.assign(error, { [RECORDED]: true })
        throw error
      }
      // Confirms the mirror; if this write is lost the watch simply writes the entry again.
      await Revocation.updateOne({ _id: entry._id }, { $set: { mirroredAt, purgeAt: recorded.expiresAt } }).catch(() => {})
    },

    /** Writes a revocation's Redis side alone, without the journal (the memory bench measures its keys). */
    async mirrorRevocation (request: RevocationRequest): Promise<void> {
      const now = clock.now()
      await mirrorEntry(entryFor(request, new Date(now)), now)
    },

    /**
     * Once the account is enabled again: the disabled mark becomes "enabled at" (a negative time),
     * which a replay of the disable cannot override. Its old tokens stay revoked (TOKEN_REVOKED).
     */
    async markEnabled (userId: string): Promise<void> {
      const now = clock.now()
      await disabledMarkScript(redis, [redisKeys.disabledAt(userId)], [-now, markLifeMs])
    },

    /** Drops the cached user after a change; the next request rebuilds it from MongoDB. */
    async forgetUser (userId: string): Promise<void> {
      await redis.del(redisKeys.cachedUser(userId))
    },

    /**
     * One pass of the mirror check (the data-loss watch runs it every few seconds and whenever
     * Redis reconnects). For each shard: marker missing → the shard lost its data; marker behind
     * what MongoDB confirmed → the shard went back in time. Then every journal
     * entry the shards may be missing is written again: those never confirmed (completing their
     * MongoDB side too), those mirrored since the oldest watermark, or all live entries when a
     * shard lost data or went back. Finally the markers move to this pass's start.
     */
    async checkMirror (): Promise<MirrorReport> {
      const startedAt = clock.now()
      const shards = await listRedisShards(redis)
      const [markers, known] = await Promise.all([
        Promise.allSettled(shards.map(readMarker)),
        RedisShard.find({ _id: { $in: shards.map((shard) => shard.id) } }).lean()
      ])
      const confirmed = new Map(known.map((doc) => [doc._id, doc]))
      const states = shards.map((shard, i): ShardState => {
        const read = markers[i]!
        if (read.status === 'rejected') return 'unreachable'
        const doc = confirmed.get(shard.id)
        if (read.value === null) return doc === undefined ? 'new' : 'lost'
        // Behind what MongoDB confirmed. A marker of another epoch was made after a loss by another
        // instance, whose clock may run a little behind: only well behind is a restore.
        const tolerance = doc?.epoch === read.value.epoch ? 0 : REPLAY_MARGIN_MS
        if (doc !== undefined && read.value.wm < doc.confirmed - tolerance) return 'rolled-back'
        return 'ok'
      })

      const everything = states.some((state) => state === 'lost' || state === 'rolled-back')
      const oldest = Math.min(...markers.map((read) => read.status === 'fulfilled' ? read.value?.wm ?? 0 : 0))
      const live = { expiresAt: { $gt: new Date(startedAt) } }
      const entries = await Revocation.find(everything
        ? { $or: [live, { mirroredAt: null }] }
        : { $or: [{ mirroredAt: null }, { ...live, mirroredAt: { $gt: new Date(oldest - REPLAY_MARGIN_MS) } }] }
      ).lean() as RevocationFields[]

      const pending = entries.filter((entry) => entry.mirroredAt == null)
      const applied = new Map<string, RevocationFields>()
      for (const entry of pending) applied.set(entry._id.toString(), await applyToMongo(entry))
      const { written, failures } = await replay(entries.map((entry) => applied.get(entry._id.toString()) ?? entry), startedAt)
      const drained = pending.filter((entry) => written.has(entry._id.toString()))
      if (drained.length > 0) {
        await Revocation.updateMany(
          { _id: { $in: drained.map((entry) => entry._id) }, mirroredAt: null },
          { $set: { mirroredAt: new Date(startedAt), purgeAt: new Date(startedAt + markLifeMs) } }
        )
      }
      // A marker moves only when everything it vouches for was written (a failed write is retried
      // by the next pass, which then still starts from the old watermark).
      if (failures === 0) {
        await Promise.all(shards.map(async (shard, i) => {
          if (states[i] !== 'unreachable') await advanceMarker(shard, confirmed.get(shard.id), startedAt)
        }))
      }
      return {
        shards: shards.map((shard, i) => ({ id: shard.id, state: states[i]! })),
        replayed: written.size,
        drained: drained.length,
        failed: failures
      }
    }
  }
}

export type RevocationService = ReturnType<typeof createRevocationService>
