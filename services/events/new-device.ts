import type { Mailer } from '../email/mailer.js'
import type { Clock } from '../infrastructure/clock.js'
import type { RedisClient } from '../infrastructure/redis-client.js'
import { redisKeys } from '../infrastructure/redis-keys.js'
import { coarseIp, describeDevice } from '../links/cross-device-describe.js'
import type { Models } from '../models/index.js'
import type { RevocationService } from '../sessions/revocation.js'
import { hashToken, randomToken } from '../tokens/token-crypto.js'
import type { AuditEvent } from './event-types.js'

/** How long a "Not you?" link works. */
export const SIGN_OUT_LINK_TTL_SECONDS = 7 * 86_400
const METHOD_WORDS: Record<string, string> = { magic_link: 'an email link', otp: 'a one-time code', password: 'a password', passkey: 'a passkey', cross_device: 'a sign-in approved from another device' }
const TOKEN_SHAPE = /^[A-Za-z0-9_-]{43}$/

export interface SignInNotice {
  userId: string
  sessionId: string
  device: string
  place: string
  method: string
  /** ISO time of the sign-in. */
  at: string
}

const escapeHtml = (value: string): string => value.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`)

export function newDeviceEmail ({ device, place, method, at, link }: Omit<SignInNotice, 'userId' | 'sessionId'> & { link: string }) {
  const subject = 'New sign-in to your Latchkey account'
  const when = `${at.slice(0, 16).replace('T', ' ')} UTC`
  const how = METHOD_WORDS[method] ?? 'an unknown method'
  const text = [
    `Your account was just signed in to on ${device}, near ${place}, at ${when}, with ${how}.`,
    '',
    'If that was you, there is nothing to do.',
    '',
    'Not you? Sign that session out (the page asks you to confirm):',
    '',
    link,
    '',
    'Then sign in again and check "Where you are signed in" on your account page.'
  ].join('\n')
  const html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(subject)}</title></head>
<body style="font-family:system-ui,sans-serif;max-width:32rem;margin:2rem auto;color:#1f2933;line-height:1.5">
<h1 style="font-size:1.25rem">${escapeHtml(subject)}</h1>
<p>Your account was just signed in to on <strong>${escapeHtml(device)}</strong>, near <strong>${escapeHtml(place)}</strong>, at ${escapeHtml(when)}, with ${escapeHtml(how)}.</p>
<p>If that was you, there is nothing to do.</p>
<p><a href="${escapeHtml(link)}" style="display:inline-block;padding:.6rem 1.2rem;background:#b42318;color:#fff;border-radius:.4rem;text-decoration:none">Not you? Sign that session out</a></p>
<p>Or paste this address into your browser:<br><code style="word-break:break-all">${escapeHtml(link)}</code></p>
</body></html>`
  return { subject, text, html, link }
}

/**
 * NOTIFY_NEW_DEVICE: a sign-in from a device and network not seen before for the account (no
 * earlier session of it has the same device description and the same coarse network) sends an
 * email with a single-use "Not you? Sign that session out" link. Run from the outbox when it
 * confirms a `session.created`, so only committed sign-ins mail, off the sign-in's own path; a Redis
 * mark per session makes it one email however many instances confirm. The link is scanner-safe:
 * GET only shows the sign-in (`inspect`); the page's POST consumes it (`signOut`).
 */
export function createNewDeviceNotifier ({ models, redis, mailer, revocation, appUrl }: {
  models: Models
  redis: RedisClient
  mailer: Mailer
  revocation: Pick<RevocationService, 'revoke'>
  appUrl: string
  clock: Clock
}) {
  const { Session, User } = models

  async function notifyOne (event: Pick<AuditEvent, 'userId' | 'sessionId' | 'ip' | 'userAgent' | 'timestamp' | 'data'>): Promise<boolean> {
    const { userId, sessionId } = event
    if (userId === undefined || sessionId === undefined) return false
    const device = describeDevice(event.userAgent)
    const place = coarseIp(event.ip)
    const others = await Session.find({ userId, _id: { $ne: sessionId } }, { userAgent: 1, ip: 1 }).sort({ createdAt: -1 }).limit(500).lean()
    // The account's first sign-in (its sign-up) has nothing to compare with.
    if (others.length === 0) return false
    if (others.some((other) => describeDevice(other.userAgent ?? undefined) === device && coarseIp(other.ip ?? undefined) === place)) return false
    if (await redis.set(redisKeys.newDeviceNotified(sessionId), '1', 'EX', 86_400, 'NX') !== 'OK') return false
    const user = await User.findById(userId, { email: 1 }).lean()
    if (user === null) return false
    const token = randomToken()
    const notice: SignInNotice = { userId, sessionId, device, place, method: String(event.data.method ?? ''), at: event.timestamp }
    await redis.set(redisKeys.newDeviceSignOut(hashToken(token)), JSON.stringify(notice), 'EX', SIGN_OUT_LINK_TTL_SECONDS)
    const link = `${appUrl.replace(/\/$/, '')}/auth/sign-out-session?token=${token}`
    await mailer.send({ to: user.email, ...newDeviceEmail({ ...notice, link }) })
    return true
  }

  return {
    /** Mails the account about each new sign-in that comes from a new device and network; the number sent. */
    async notify (events: Array<Pick<AuditEvent, 'type' | 'userId' | 'sessionId' | 'ip' | 'userAgent' | 'timestamp' | 'data'>>): Promise<number> {
      let sent = 0
      for (const event of events) {
        if (event.type === 'session.created' && await notifyOne(event)) sent++
      }
      return sent
    },

    /** What a link is about (the GET page); null when it is unknown, used or expired. */
    async inspect (token: string): Promise<SignInNotice | null> {
      if (!TOKEN_SHAPE.test(token)) return null
      const value = await redis.get(redisKeys.newDeviceSignOut(hashToken(token)))
      return value === null ? null : JSON.parse(value) as SignInNotice
    },

    /** Consumes the link (once) and revokes that session at once; null when it was unknown, used or expired. */
    async signOut (token: string): Promise<SignInNotice | null> {
      if (!TOKEN_SHAPE.test(token)) return null
      const value = await redis.getdel(redisKeys.newDeviceSignOut(hashToken(token)))
      if (value === null) return null
      const notice = JSON.parse(value) as SignInNotice
      await revocation.revoke({ kind: 'session', userId: notice.userId, sessionIds: [notice.sessionId] })
      return notice
    }
  }
}

export type NewDeviceNotifier = ReturnType<typeof createNewDeviceNotifier>
