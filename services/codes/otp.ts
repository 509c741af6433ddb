import { Types } from 'mongoose'
import type { RedisClient } from '../infrastructure/redis-client.js'
import type { EmailThrottle } from '../email/email-throttle.js'
import type { FailureCeiling } from '../accounts/failure-ceiling.js'
import { EmailTakenError, isFinalAnswer, OtpExpiredError, OtpInvalidError, OtpLockedError, withExtras } from '../infrastructure/errors.js'
import type { SignedIn } from '../sessions/sessions.js'
import { otpEmail } from '../email/mail-templates.js'
import { deliverOrUndo, type Mailer } from '../email/mailer.js'
import type { Metrics } from '../infrastructure/metrics.js'
import { redisKeys } from '../infrastructure/redis-keys.js'
import { defineScript } from '../infrastructure/redis-script.js'
import type { Clock } from '../infrastructure/clock.js'
import type { ClientInfo, SessionService } from '../sessions/sessions.js'
import { hmac, randomCode } from '../tokens/token-crypto.js'
import { toPublicUser, type UserService } from '../accounts/users.js'

/** How long wrong guesses count against an address's budget (OTP_ADDRESS_BUDGET per hour). */
export const BUDGET_WINDOW_SECONDS = 3600

// KEYS: code hash. ARGV: code HMAC, created (ms), ttl (ms).
// A new code replaces the old one, attempts and all; the address budget lives elsewhere.
const storeScript = defineScript<number>(`
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'h', ARGV[1], 'a', 0, 'c', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
`)

// KEYS: code hash. ARGV: code HMAC. Deletes the code only if it is still this one.
const dropScript = defineScript<number>(`
if redis.call('HGET', KEYS[1], 'h') == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`)

// KEYS: code hash, address budget counter. ARGV: submitted code HMAC, max attempts, budget, budget window (s).
// Every rule in one atomic step, so parallel guesses cannot slip past a count:
//   {'budget', ms}     the address spent its hourly budget (nothing evaluated)
//   {'expired'}        no live code
//   {'ok', a, c, ms}   right code; deleted (a = attempts before, c = created, ms = TTL left, for a restore)
//   {'invalid', left}  wrong code; `left` more guesses (fewer if the budget runs out first)
//   {'locked'}         wrong code that used the last attempt; the code is deleted
//   {'spent', ms}      wrong code that used the last of the budget; the code is deleted
// The comparison runs over every byte (no early exit), though without the server key an HMAC
// prefix would tell an attacker nothing anyway.
const verifyScript = defineScript<[string, ...Array<string | number>]>(`
local spent = tonumber(redis.call('GET', KEYS[2]) or '0')
local budget = tonumber(ARGV[3])
if spent >= budget then return {'budget', redis.call('PTTL', KEYS[2])} end
local stored = redis.call('HGET', KEYS[1], 'h')
if not stored then return {'expired'} end
local given = ARGV[1]
local diff = 0
if #stored ~= #given then diff = 1 end
for i = 1, #stored do
  diff = bit.bor(diff, bit.bxor(string.byte(stored, i), string.byte(given, i) or 0))
end
if diff == 0 then
  local fields = redis.call('HMGET', KEYS[1], 'a', 'c')
  local left = redis.call('PTTL', KEYS[1])
  redis.call('DEL', KEYS[1])
  return {'ok', fields[1], fields[2], left}
end
local attempts = redis.call('HINCRBY', KEYS[1], 'a', 1)
spent = redis.call('INCR', KEYS[2])
if spent == 1 then redis.call('EXPIRE', KEYS[2], ARGV[4]) end
if spent >= budget then
  redis.call('DEL', KEYS[1])
  return {'spent', redis.call('PTTL', KEYS[2])}
end
local remaining = tonumber(ARGV[2]) - attempts
if remaining <= 0 then
  redis.call('DEL', KEYS[1])
  return {'locked'}
end
return {'invalid', math.min(remaining, budget - spent)}
`)

// KEYS: code hash. ARGV: code HMAC, attempts, created, ttl (ms). Puts a consumed code back
// (only if no newer code took its place) after the sign-in behind it failed for a dependency.
const restoreScript = defineScript<number>(`
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'h', ARGV[1], 'a', ARGV[2], 'c', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return 1
`)

// KEYS: address budget counter. ARGV: budget. How long the address stays locked for spending its budget (ms, 0 = not locked).
const budgetLockScript = defineScript<number>(`
if tonumber(redis.call('GET', KEYS[1]) or '0') >= tonumber(ARGV[1]) then return math.max(redis.call('PTTL', KEYS[1]), 0) end
return 0
`)

const retryAfter = (ms: string | number | undefined): number => Math.max(1, Math.ceil(Number(ms ?? 0) / 1000))

/** A display name for an account created by a code: the address's local part. */
export const defaultName = (email: string): string => (email.split('@')[0] ?? email).slice(0, 100) || 'Latchkey user'

/**
 * Email one-time codes (SPEC §3): a six-digit code from crypto.randomInt, kept in Redis only as an
 * HMAC bound to the address (key derived from the server secret), with its attempt count and
 * creation time, for OTP_TTL. Every check runs as one Lua script: at most OTP_MAX_ATTEMPTS guesses
 * are ever evaluated per code, and at most OTP_ADDRESS_BUDGET per address per hour across resends.
 * Requests never look the address up, so known and unknown addresses are treated identically.
 */
export function createOtpService ({ redis, users, sessions, mailer, throttle, failureCeiling, addressKey, codeKey, ttlSeconds, maxAttempts, addressBudget, clock, metrics, onLocked }: {
  redis: RedisClient
  users: UserService
  sessions: SessionService
  mailer: Mailer
  throttle: EmailThrottle
  failureCeiling: FailureCeiling
  addressKey: (email: string) => string
  /** Server secret the code HMACs are keyed with. */
  codeKey: Buffer
  ttlSeconds: number
  maxAttempts: number
  addressBudget: number
  clock: Clock
  metrics: Metrics
  /** Told when a wrong guess used the code's last attempt (services/events records otp.locked). */
  onLocked?: (email: string, client: ClientInfo) => Promise<void>
}) {
  /** The code's HMAC, bound to the address so equal codes of two addresses never look alike. */
  const codeHmac = (address: string, code: string): string => hmac(codeKey, `${address}\u0000${code}`)

  /**
   * The session for a right code: the account's own, or for an unknown address a new account,
   * made session first and account last (sessions.startSessionForNewUser), so a failure in between
   * never leaves an account behind.
   */
  async function signIn (email: string, name: string | undefined, client: ClientInfo) {
    const existing = await users.findUserByEmail(email)
    if (existing !== null) return { user: existing, created: false, pair: await sessions.startSession(existing._id.toString(), 'otp', client) }
    const userId = new Types.ObjectId().toString()
    try {
      const { user, pair } = await sessions.startSessionForNewUser(userId, 'otp', client,
        async () => await users.createUser({ _id: userId, email, name: name ?? defaultName(email) }))
      return { user, created: true, pair }
    } catch (error) {
      // Another request signed the address up a moment ago: this is now a sign-in.
      const raced = error instanceof EmailTakenError ? await users.findUserByEmail(email) : null
      if (raced === null) throw error
      return { user: raced, created: false, pair: await sessions.startSession(raced._id.toString(), 'otp', client) }
    }
  }

  return {
    /** Emails a fresh code, replacing any live one. On a failed send no code is left behind. */
    async requestCode (email: string): Promise<void> {
      const address = addressKey(email)
      await throttle.takeEmailSlot(address)
      const code = randomCode()
      const stored = codeHmac(address, code)
      const key = redisKeys.otp(address)
      await storeScript(redis, [key], [stored, clock.now(), ttlSeconds * 1000])
      await deliverOrUndo(mailer, metrics, 'otp', { to: email, ...otpEmail({ code, ttlSeconds }) },
        async () => await Promise.all([dropScript(redis, [key], [stored]), throttle.returnEmailSlot(address)]))
    },

    /**
     * Checks a code and signs in, creating the account when the address has none (`created`).
     * Wrong → OTP_INVALID with attemptsRemaining; none live → OTP_EXPIRED; last attempt, budget
     * spent or the address backing off under the failure ceiling → OTP_LOCKED.
     */
    async verifyCode (email: string, code: string, fields: { name?: string | undefined }, client: ClientInfo): Promise<SignedIn & { created: boolean }> {
      const address = addressKey(email)
      const key = redisKeys.otp(address)
      const budgetKey = redisKeys.otpFailures(address)
      // Reserved before it is evaluated: parallel guesses cannot slip past the back-off.
      const wait = await failureCeiling.reserveCheck(address)
      if (wait > 0) {
        // Report the longer lock: the back-off, or the rest of the hour once the budget is spent.
        const budgetLock = await budgetLockScript(redis, [budgetKey], [addressBudget])
        throw withExtras(new OtpLockedError(), { retryAfter: retryAfter(Math.max(wait, budgetLock)) })
      }
      const given = codeHmac(address, code)
      const [outcome, ...rest] = await verifyScript(redis, [key, budgetKey], [given, maxAttempts, addressBudget, BUDGET_WINDOW_SECONDS])

      if (outcome !== 'ok') {
        // Nothing was compared: the reserved check is not a failure.
        if (outcome === 'expired' || outcome === 'budget') await failureCeiling.releaseCheck(address)
        const reason = outcome === 'invalid' ? 'invalid' : outcome === 'expired' ? 'expired' : 'locked'
        metrics.inc('latchkey_otp_failures_total', { reason })
        if (outcome === 'invalid') throw withExtras(new OtpInvalidError(), { body: { attemptsRemaining: Number(rest[0]) } })
        if (outcome === 'expired') throw new OtpExpiredError()
        if (outcome === 'locked') {
          // otp.locked: recorded after the lock; a failure to record does not change the answer.
          await onLocked?.(email, client).catch(() => {})
          throw new OtpLockedError()
        }
        throw withExtras(new OtpLockedError(), { retryAfter: retryAfter(rest[0]) })
      }

      const [attempts, created, ttlLeft] = rest
      try {
        await failureCeiling.recordSuccess(address)
        // The sign-in is the last step (for a new address, the account's insert after its session):
        // nothing can fail after someone is signed in, so the code is never put back once it signed anyone in.
        const { user, created: isNew, pair } = await signIn(email, fields.name, client)
        return { user: toPublicUser(user), ...pair, created: isNew }
      } catch (error) {
        // No final answer (a dependency failed): the code lives again for the rest of its life.
        if (!isFinalAnswer(error) && Number(ttlLeft) > 0) await restoreScript(redis, [key], [given, attempts ?? 0, created ?? clock.now(), ttlLeft ?? 0]).catch(() => {})
        throw error
      }
    }
  }
}

export type OtpService = ReturnType<typeof createOtpService>
