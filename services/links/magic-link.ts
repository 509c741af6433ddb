import type { RedisClient } from '../infrastructure/redis-client.js'
import { Types } from 'mongoose'
import type { EmailThrottle } from '../email/email-throttle.js'
import type { FailureCeiling } from '../accounts/failure-ceiling.js'
import { EmailTakenError, isFinalAnswer, MagicLinkGoneError, MagicLinkRejectedError, RedirectNotAllowedError } from '../infrastructure/errors.js'
import { magicLinkEmail } from '../email/mail-templates.js'
import { deliverOrUndo, type Mailer } from '../email/mailer.js'
import type { Metrics } from '../infrastructure/metrics.js'
import type { Models } from '../models/index.js'
import type { PasswordHasher } from '../accounts/passwords.js'
import { redisKeys } from '../infrastructure/redis-keys.js'
import { defineScript } from '../infrastructure/redis-script.js'
import type { Clock } from '../infrastructure/clock.js'
import type { ClientInfo, SessionService, SignedIn } from '../sessions/sessions.js'
import { hashToken, randomToken } from '../tokens/token-crypto.js'
import { toPublicUser, type UserService } from '../accounts/users.js'

export type MagicLinkPurpose = 'signup' | 'login'

/** What Redis holds under the token's hash (never the token itself). */
interface MagicLinkRecord {
  email: string
  purpose: MagicLinkPurpose
  /** The id the account will get (signup links): lets a signup interrupted half-way resume. */
  userId?: string
  /** Put back after a failed signup: sessions that attempt left under userId are removed first. */
  retried?: boolean
  redirectTo?: string
  createdAt: number
}

// KEYS: link. ARGV: purpose, email ('' = any). Deletes and returns the record only when it
// matches, so a wrong-purpose or wrong-address attempt leaves the link usable.
const consumeScript = defineScript<string | null>(`
local value = redis.call('GET', KEYS[1])
if not value then return nil end
local record = cjson.decode(value)
if record.purpose ~= ARGV[1] or (ARGV[2] ~= '' and record.email ~= ARGV[2]) then return nil end
redis.call('DEL', KEYS[1])
return value
`)

/**
 * Magic links for signup and login. Tokens are 32 CSPRNG bytes, stored in Redis only as their
 * SHA-256 with a TTL, and consumed atomically (one script reads, checks and deletes), so a link
 * signs in at most once however many requests race for it.
 */
export function createMagicLinkService ({ redis, models, users, sessions, passwords, mailer, throttle, failureCeiling, addressKey, appUrl, redirectOrigins, ttlSeconds, clock, metrics }: {
  redis: RedisClient
  models: Models
  users: UserService
  sessions: SessionService
  passwords: PasswordHasher
  mailer: Mailer
  throttle: EmailThrottle
  failureCeiling: FailureCeiling
  addressKey: (email: string) => string
  appUrl: string
  redirectOrigins: string[]
  ttlSeconds: number
  clock: Clock
  metrics: Metrics
}) {
  const verifyUrl = `${appUrl.replace(/\/+$/, '')}/auth/magic-link/verify`

  /**
   * Resolves a redirectTo against APP_URL and checks it: http(s) only (a blob:, data: or
   * javascript: URL never, even when its inner origin is allowed), an allowed origin, and a path
   * that does not start with // or a backslash (a client redirecting to the path alone would
   * otherwise go to another host).
   */
  function allowedRedirect (redirectTo: string | undefined): string | undefined {
    if (redirectTo === undefined) return undefined
    // eslint-disable-next-line no-control-regex -- control characters are what it refuses
    if (!URL.canParse(redirectTo, appUrl) || /^\s*[\\/][\\/]/.test(redirectTo) || /[\\\u0000-\u001f]/.test(redirectTo)) throw new RedirectNotAllowedError()
    const target = new URL(redirectTo, appUrl)
    if (target.protocol !== 'http:' && target.protocol !== 'https:') throw new RedirectNotAllowedError()
    if (target.pathname.startsWith('//') || target.username !== '' || target.password !== '') throw new RedirectNotAllowedError()
    if (!redirectOrigins.includes(target.origin)) throw new RedirectNotAllowedError()
    return target.href
  }

  async function consume (token: string, purpose: MagicLinkPurpose, email: string): Promise<MagicLinkRecord | null> {
    const value = await consumeScript(redis, [redisKeys.magicLink(hashToken(token))], [purpose, email])
    return value === null ? null : JSON.parse(value) as MagicLinkRecord
  }

  /** Puts a consumed link back for the rest of its life after a dependency failed mid-flow. */
  async function restore (token: string, record: MagicLinkRecord): Promise<void> {
    const left = record.createdAt + ttlSeconds * 1000 - clock.now()
    if (left > 0) await redis.set(redisKeys.magicLink(hashToken(token)), JSON.stringify(record), 'PX', left, 'NX')
  }

  /**
   * Runs `work` with a consumed link. When it fails without a final answer (a dependency is down,
   * anything unexpected) the link lives again, so the person can retry with the same email.
   */
  async function withConsumedLink<T> (token: string, record: MagicLinkRecord, work: () => Promise<T>): Promise<T> {
    try {
      return await work()
    } catch (error) {
      if (!isFinalAnswer(error)) await restore(token, { ...record, retried: true }).catch(() => {})
      throw error
    }
  }

  return {
    /**
     * Emails a signup link (unknown address) or a login link (existing account). The caller answers
     * the same 202 either way. On a failed send the link is deleted and the email slot given back.
     */
    async requestMagicLink (email: string, redirectTo?: string): Promise<void> {
      const target = allowedRedirect(redirectTo)
      const key = addressKey(email)
      await throttle.takeEmailSlot(key)
      const existing = await users.findUserByEmail(email)
      const purpose: MagicLinkPurpose = existing === null ? 'signup' : 'login'
      const token = randomToken()
      const record: MagicLinkRecord = { email, purpose, createdAt: clock.now() }
      if (purpose === 'signup') record.userId = new Types.ObjectId().toString()
      if (target !== undefined) record.redirectTo = target
      const linkKey = redisKeys.magicLink(hashToken(token))
      await redis.set(linkKey, JSON.stringify(record), 'EX', ttlSeconds)

      const link = `${verifyUrl}?token=${token}`
      await deliverOrUndo(mailer, metrics, 'magic-link', { to: email, ...magicLinkEmail({ purpose, link, ttlSeconds }) },
        async () => await Promise.all([redis.del(linkKey), throttle.returnEmailSlot(key)]))
    },

    /** Looks at a link without consuming it (mail scanners follow links). */
    async inspectMagicLink (token: string): Promise<Pick<MagicLinkRecord, 'email' | 'purpose' | 'redirectTo'>> {
      const value = await redis.get(redisKeys.magicLink(hashToken(token)))
      if (value === null) throw new MagicLinkGoneError()
      const { email, purpose, redirectTo } = JSON.parse(value) as MagicLinkRecord
      return { email, purpose, redirectTo }
    },

    /**
     * Creates the account from a signup link and signs the person in at once. Steps that can fail
     * come first; the account's insert comes last (sessions.startSessionForNewUser), so a failure
     * anywhere leaves no account behind and puts the link back.
     */
    async signUpWithMagicLink (token: string, fields: { email: string, name: string, password?: string | undefined }, client: ClientInfo): Promise<SignedIn> {
      const record = await consume(token, 'signup', fields.email)
      if (record === null) throw new MagicLinkRejectedError()
      return await withConsumedLink(token, record, async () => {
        const passwordHash = fields.password === undefined ? undefined : await passwords.hashPassword(fields.password)
        const userId = record.userId ?? new Types.ObjectId().toString()
        if (record.retried === true) await sessions.dropSessionsOfFailedSignup(userId)
        await failureCeiling.recordSuccess(addressKey(record.email))
        try {
          const { user, pair } = await sessions.startSessionForNewUser(userId, 'magic-link', client,
            async () => await users.createUser({ _id: userId, email: record.email, name: fields.name, passwordHash }))
          return { user: toPublicUser(user), ...pair, redirectTo: record.redirectTo }
        } catch (error) {
          // The account was made by an earlier attempt whose answer was lost: resume with it.
          const resumed = error instanceof EmailTakenError ? await models.User.findOne({ _id: userId, email: record.email }) : null
          if (resumed === null) throw error
          const pair = await sessions.startSession(userId, 'magic-link', client)
          return { user: toPublicUser(resumed), ...pair, redirectTo: record.redirectTo }
        }
      })
    },

    /**
     * Signs in with a login link. A successful sign-in clears the address's failure ceiling; the
     * session is the last step, so a link is never put back once it made a session.
     */
    async signInWithMagicLink (token: string, client: ClientInfo): Promise<SignedIn> {
      const record = await consume(token, 'login', '')
      if (record === null) throw new MagicLinkRejectedError()
      return await withConsumedLink(token, record, async () => {
        const user = await users.findUserByEmail(record.email)
        if (user === null) throw new MagicLinkRejectedError()
        await failureCeiling.recordSuccess(addressKey(record.email))
        const pair = await sessions.startSession(user._id.toString(), 'magic-link', client)
        return { user: toPublicUser(user), ...pair, redirectTo: record.redirectTo }
      })
    }
  }
}

export type MagicLinkService = ReturnType<typeof createMagicLinkService>
