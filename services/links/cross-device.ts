import { randomInt } from 'node:crypto'
import { Types } from 'mongoose'
import type { FailureCeiling } from '../accounts/failure-ceiling.js'
import { toPublicUser, type UserService } from '../accounts/users.js'
import { crossDeviceEmail } from '../email/mail-templates.js'
import { deliverOrUndo, type Mailer } from '../email/mailer.js'
import type { EmailThrottle } from '../email/email-throttle.js'
import type { Clock } from '../infrastructure/clock.js'
import { CrossDeviceBusyError, EmailTakenError, isFinalAnswer, ValidationFailedError, withExtras } from '../infrastructure/errors.js'
import type { Metrics } from '../infrastructure/metrics.js'
import type { RedisClient } from '../infrastructure/redis-client.js'
import { redisKeys } from '../infrastructure/redis-keys.js'
import { defineScript } from '../infrastructure/redis-script.js'
import type { ClientInfo, SessionService, SignedIn } from '../sessions/sessions.js'
import { hashToken, randomToken, safeEqual } from '../tokens/token-crypto.js'
import { coarseIp, describeDevice } from './cross-device-describe.js'

/** 16 random bytes, base64url: names the request in URLs (not a secret: the device secret is). */
export const REQUEST_ID_PATTERN = '^[A-Za-z0-9_-]{22}$'
/** 32 random bytes, base64url. */
export const DEVICE_SECRET_PATTERN = '^[A-Za-z0-9_-]{43}$'
/** The emailed link's token: the request id, then 32 random bytes of its own. */
const LINK_TOKEN = /^([A-Za-z0-9_-]{22})[A-Za-z0-9_-]{43}$/

export type CrossDevicePurpose = 'signup' | 'login'
export type DenialReason = 'denied' | 'wrong-number'

/** What the requesting client gets back (once): the device secret is never stored or sent anywhere else. */
export interface CrossDeviceTicket {
  requestId: string
  deviceSecret: string
  matchNumber: number
  expiresIn: number
}

/**
 * The state of a request as its waiting device sees it. `signedIn` (and the id of the session it
 * started, which never leaves the server) is set only for the one claim that wins.
 */
export type CrossDeviceOutcome =
  | { state: 'pending', matchNumber: number, email: string, expiresAt: number }
  | { state: 'approved', signedIn: SignedIn | null, sessionId?: string }
  | { state: 'denied', reason: DenialReason }
  | { state: 'gone' }

/** How many match numbers there are (00 to 99): a blind guess approves one time in MATCH_NUMBERS. */
export const MATCH_NUMBERS = 100

/** What the approval page shows (never the match number: the person types it from the asking screen). */
export interface ApprovalView {
  requestId: string
  email: string
  purpose: CrossDevicePurpose
  /** The asking device and its coarse network (services/links/cross-device-describe.ts). */
  device: string
  place: string
  createdAt: number
  state: 'pending' | 'answered'
}

export type Decision =
  | { kind: 'approve', choice: number, name?: string | undefined, signInHere?: boolean }
  | { kind: 'deny' }

export type DecisionResult =
  | { result: 'approved', signedIn: SignedIn | null }
  | { result: 'denied' | 'wrong-number' | 'answered' | 'gone' }

// KEYS: request. ARGV: ttl seconds, then field, value pairs. The hash and its TTL in one step, so
// no request ever lives without an expiry.
const createScript = defineScript<number>(`
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
redis.call('EXPIRE', KEYS[1], ARGV[1])
return 1
`)

// KEYS: request. ARGV: link hash, 'approve' | 'deny', chosen number, channel, request id.
// Decides a pending request exactly once: the right number approves; Deny or a wrong number
// denies for good. The change is published in the same step, so no waiting device misses it.
// The right number on a signup request only reserves the decision ('approving': every other
// decision is now 'answered', the waiting device still sees pending); the account is created
// after that, and finishScript then approves (or, if it could not be created, reopens).
const decideScript = defineScript<string>(`
local rec = redis.call('HMGET', KEYS[1], 'l', 'st', 'm', 'p')
if not rec[1] or rec[1] ~= ARGV[1] then return 'gone' end
if rec[2] ~= 'pending' then return 'answered' end
local outcome = 'approved'
if ARGV[2] == 'deny' then outcome = 'denied' elseif ARGV[3] ~= rec[3] then outcome = 'wrong-number' end
if outcome == 'approved' and rec[4] == 'signup' then
  redis.call('HSET', KEYS[1], 'st', 'approving')
  return 'approving'
end
if outcome == 'approved' then
  redis.call('HSET', KEYS[1], 'st', 'approved')
else
  redis.call('HSET', KEYS[1], 'st', 'denied', 'why', outcome)
end
redis.call('PUBLISH', ARGV[4], ARGV[5])
return outcome
`)

// KEYS: request. ARGV: 'approved' | 'pending', channel, request id. Ends an 'approving' signup
// request: approved once its account exists (published), or pending again when it could not be
// created. Returns 0 when the request is no longer approving (expired).
const finishScript = defineScript<number>(`
if redis.call('HGET', KEYS[1], 'st') ~= 'approving' then return 0 end
redis.call('HSET', KEYS[1], 'st', ARGV[1])
if ARGV[1] == 'approved' then redis.call('PUBLISH', ARGV[2], ARGV[3]) end
return 1
`)

// KEYS: request. ARGV: device secret hash, 'claim' | 'peek', channel, request id.
// Reads the state for the holder of the device secret. 'claim' turns an approved request into a
// claimed one exactly once (the one caller that gets {'claimed', ...} starts the session); a
// claimed request is gone for everyone, its secret used up.
const outcomeScript = defineScript<string[]>(`
local rec = redis.call('HMGET', KEYS[1], 's', 'st', 'why', 'm', 'c', 'e', 'u')
if not rec[1] or rec[1] ~= ARGV[1] or rec[2] == 'claimed' then return {'gone'} end
if rec[2] == 'approved' and ARGV[2] == 'claim' then
  redis.call('HSET', KEYS[1], 'st', 'claimed')
  redis.call('PUBLISH', ARGV[3], ARGV[4])
  return {'claimed', rec[7], rec[6]}
end
local st = rec[2]
if st == 'approving' then st = 'pending' end
return {st, rec[3] or '', rec[4], rec[5], rec[6]}
`)

// KEYS: request. ARGV: channel, request id. A claim whose session could not be started (a
// dependency failed), or whose tokens nobody received (the waiting device left while the claim
// ran, and the session was revoked), is approved again, so the waiting device can retry.
const unclaimScript = defineScript<number>(`
if redis.call('HGET', KEYS[1], 'st') ~= 'claimed' then return 0 end
redis.call('HSET', KEYS[1], 'st', 'approved')
redis.call('PUBLISH', ARGV[1], ARGV[2])
return 1
`)

// KEYS: the address's open requests. ARGV: now (ms), this request's expiry (ms), the cap, request id.
// Counts the address's open requests (expired ones dropped) and adds this one when under the cap.
// Returns 0 when added, else the ms until the oldest open request expires.
const openScript = defineScript<number>(`
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return math.max(1, tonumber(oldest[2]) - tonumber(ARGV[1]))
end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[4])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]) - tonumber(ARGV[1]))
return 0
`)

/**
 * The match number: 00 to 99, typed by the person on the approval page. Picking among a few
 * numbers let a blind tap approve one time in three; typing one of 100 lets a blind guess approve
 * one time in 100 (and a wrong guess ends the request).
 */
export const matchNumber = (): number => randomInt(0, MATCH_NUMBERS)

/**
 * Cross-device sign-in: a device asks (and gets a device secret and a match number); the emailed
 * link opens an approval page on any device, where the person types the number the asking device
 * shows; the asking device then claims its session with the device secret.
 *
 * One Redis hash per request (`lk:xd{<request id>}`, TTL MAGIC_LINK_TTL) holds only hashes of the
 * device secret and the link token, and every transition is one Lua script on that one key: a
 * request is decided at most once and claimed at most once, whatever races for it.
 */
export function createCrossDeviceService ({ redis, users, sessions, mailer, throttle, failureCeiling, addressKey, appUrl, ttlSeconds, openPerAddress = 3, clock, metrics, userCreating }: {
  redis: RedisClient
  users: UserService
  sessions: SessionService
  mailer: Mailer
  throttle: EmailThrottle
  failureCeiling: FailureCeiling
  addressKey: (email: string) => string
  appUrl: string
  ttlSeconds: number
  /** Open (undecided, unexpired) requests one address may have (CROSS_DEVICE_OPEN_PER_ADDRESS). */
  openPerAddress?: number
  clock: Clock
  metrics: Metrics
  /** Told before an account is created (services/events writes its user.created there, pending). */
  userCreating?: (userId: string) => Promise<void>
}) {
  const approveUrl = `${appUrl.replace(/\/+$/, '')}/auth/magic-link/approve`
  const channel = redisKeys.crossDeviceChannel

  /** The request a link token names, when the token is its link (compared as hashes, in constant time). */
  async function requestOfLink (token: string): Promise<{ requestId: string, record: Record<string, string> } | null> {
    const requestId = LINK_TOKEN.exec(token)?.[1]
    if (requestId === undefined) return null
    const record = await redis.hgetall(redisKeys.crossDeviceRequest(requestId))
    if (record.l === undefined || !safeEqual(record.l, hashToken(token))) return null
    return { requestId, record }
  }

  /** The account a signup request reserved, created with the name given on the approval page (idempotent). */
  async function createReservedAccount (record: Record<string, string>, name: string | undefined): Promise<void> {
    if (name === undefined || name.trim() === '') throw new ValidationFailedError('name is required to create the account')
    const userId = record.u!
    await userCreating?.(userId)
    try {
      await users.createUser({ _id: userId, email: record.e!, name: name.trim() })
    } catch (error) {
      // An earlier approval of this request created it, then could not record the approval
      // (the request was reopened, and approved again now): the same account, carry on.
      if (error instanceof EmailTakenError && (await users.findUserById(userId))?.email === record.e) return
      throw error
    }
  }

  /** The request no longer counts as open for its address (decided, or never sent). */
  async function closeOpen (email: string, requestId: string): Promise<void> {
    await redis.zrem(redisKeys.crossDeviceOpen(addressKey(email)), requestId)
  }

  async function signIn (userId: string, client: ClientInfo): Promise<{ signedIn: SignedIn, sessionId: string } | null> {
    const user = await users.findUserById(userId)
    if (user === null) return null
    const { sessionId, ...pair } = await sessions.startSession(userId, 'cross-device', client)
    return { signedIn: { user: toPublicUser(user), ...pair }, sessionId }
  }

  return {
    /**
     * Starts a request for `email` from the device described by `client` and emails the approval
     * link. Known and unknown addresses take the same path (an unknown one is signed up on
     * approval). Shares the per-address email budget with links and codes. An address has at most
     * `openPerAddress` open requests (429 RATE_LIMITED with Retry-After beyond, whoever asks).
     */
    async requestSignIn (email: string, client: ClientInfo): Promise<CrossDeviceTicket> {
      const slot = addressKey(email)
      const requestId = randomToken(16)
      const now = clock.now()
      const openKey = redisKeys.crossDeviceOpen(slot)
      const wait = await openScript(redis, [openKey], [now, now + ttlSeconds * 1000, openPerAddress, requestId])
      if (wait > 0) {
        throw withExtras(new CrossDeviceBusyError(), { retryAfter: Math.ceil(wait / 1000) })
      }
      try {
        await throttle.takeEmailSlot(slot)
      } catch (error) {
        await redis.zrem(openKey, requestId).catch(() => {})
        throw error
      }
      const existing = await users.findUserByEmail(email)
      const purpose: CrossDevicePurpose = existing === null ? 'signup' : 'login'
      const deviceSecret = randomToken()
      const token = requestId + randomToken()
      const match = matchNumber()
      const device = describeDevice(client.userAgent)
      const place = coarseIp(client.ip)
      const fields: Record<string, string> = {
        s: hashToken(deviceSecret),
        l: hashToken(token),
        e: email,
        p: purpose,
        u: existing?._id.toString() ?? new Types.ObjectId().toString(),
        m: String(match),
        d: device,
        ip: place,
        c: String(now),
        st: 'pending'
      }
      const key = redisKeys.crossDeviceRequest(requestId)
      await createScript(redis, [key], [ttlSeconds, ...Object.entries(fields).flat()])
      await deliverOrUndo(mailer, metrics, 'magic-link',
        { to: email, ...crossDeviceEmail({ purpose, link: `${approveUrl}?token=${token}`, ttlSeconds, device, place }) },
        async () => await Promise.all([redis.del(key), redis.zrem(openKey, requestId), throttle.returnEmailSlot(slot)]))
      return { requestId, deviceSecret, matchNumber: match, expiresIn: ttlSeconds }
    },

    /** What the approval page shows for a link; null for an unknown, expired or malformed one. Changes nothing. */
    async inspectLink (token: string): Promise<ApprovalView | null> {
      const found = await requestOfLink(token)
      if (found === null) return null
      const { requestId, record } = found
      return {
        requestId,
        email: record.e!,
        purpose: record.p as CrossDevicePurpose,
        device: record.d!,
        place: record.ip!,
        createdAt: Number(record.c),
        state: record.st === 'pending' ? 'pending' : 'answered'
      }
    },

    /**
     * Approves (with the number typed) or denies a pending request, at most once. A wrong number
     * denies for good. A signup request's account (name required) is created only once this
     * approval has won the decision, so a wrong number or Deny that wins a race creates nothing.
     * The approving device gets a session of its own only when it asks (`signInHere`).
     */
    async decide (token: string, decision: Decision, approver: ClientInfo): Promise<DecisionResult> {
      const found = await requestOfLink(token)
      if (found === null) return { result: 'gone' }
      const { requestId, record } = found
      if (record.st !== 'pending') return { result: 'answered' }
      const rightNumber = decision.kind === 'approve' && String(decision.choice) === record.m
      const name = decision.kind === 'approve' ? decision.name?.trim() : undefined
      if (rightNumber && record.p === 'signup' && (name === undefined || name === '')) throw new ValidationFailedError('name is required to create the account')

      const key = redisKeys.crossDeviceRequest(requestId)
      const choice = decision.kind === 'approve' ? String(decision.choice) : ''
      let result = await decideScript(redis, [key], [hashToken(token), decision.kind, choice, channel, requestId])
      if (result === 'approving') {
        // This approval won the decision: now the account, then the approval itself.
        try {
          await createReservedAccount(record, name)
          result = await finishScript(redis, [key], ['approved', channel, requestId]) === 1 ? 'approved' : 'gone'
        } catch (error) {
          // No account (or no approval recorded): the request is open again, as if never decided.
          await finishScript(redis, [key], ['pending', channel, requestId]).catch(() => {})
          throw error
        }
      }
      if (result === 'approved' || result === 'denied' || result === 'wrong-number') await closeOpen(record.e!, requestId).catch(() => {})
      if (result !== 'approved') return { result: result as 'denied' | 'wrong-number' | 'answered' | 'gone' }
      const here = decision.kind === 'approve' && decision.signInHere === true ? await signIn(record.u!, approver) : null
      return { result: 'approved', signedIn: here?.signedIn ?? null }
    },

    /**
     * The request's state for the holder of its device secret. With `claim`, an approved request
     * hands its session to exactly one caller (and is gone after); without, it is only reported.
     * An unknown request, a wrong secret, an expired or an already claimed request are all 'gone'.
     */
    async outcome (requestId: string, deviceSecret: string, { claim, client }: { claim: boolean, client: ClientInfo }): Promise<CrossDeviceOutcome> {
      const key = redisKeys.crossDeviceRequest(requestId)
      const reply = await outcomeScript(redis, [key], [hashToken(deviceSecret), claim ? 'claim' : 'peek', channel, requestId])
      const [state, a = '', b = '', c = '', d = ''] = reply
      if (state === 'pending') return { state, matchNumber: Number(b), email: d, expiresAt: Number(c) + ttlSeconds * 1000 }
      if (state === 'denied') return { state, reason: a === 'wrong-number' ? 'wrong-number' : 'denied' }
      if (state === 'approved') return { state, signedIn: null }
      if (state !== 'claimed') return { state: 'gone' }

      try {
        const started = await signIn(a, client)
        if (started === null) return { state: 'gone' } // the account was deleted meanwhile
        await failureCeiling.recordSuccess(addressKey(b))
        return { state: 'approved', ...started }
      } catch (error) {
        if (!isFinalAnswer(error)) await unclaimScript(redis, [key], [channel, requestId]).catch(() => {})
        throw error
      }
    },

    /**
     * Gives back a claim whose tokens nobody received (the waiting device left while the claim
     * ran): its session is revoked, then the request is approved again, so the device's next wait
     * claims a fresh pair. Anything but a won claim is left as it is.
     */
    async release (requestId: string, outcome: CrossDeviceOutcome): Promise<void> {
      if (outcome.state !== 'approved' || outcome.signedIn === null || outcome.sessionId === undefined) return
      await sessions.revokeOwnSession(outcome.signedIn.user.id, outcome.sessionId)
      await unclaimScript(redis, [redisKeys.crossDeviceRequest(requestId)], [channel, requestId])
    }
  }
}

export type CrossDeviceService = ReturnType<typeof createCrossDeviceService>
