import { isValidObjectId, type Model } from 'mongoose'
import type { Clock } from '../infrastructure/clock.js'
import { NotFoundError } from '../infrastructure/errors.js'
import type { AccountService } from '../accounts/accounts.js'
import { normalizeEmail } from '../email/email-address.js'
import type { AuditLog } from '../events/audit-log.js'
import type { Models } from '../models/index.js'
import type { RevocationService } from '../sessions/revocation.js'
import type { SessionService } from '../sessions/sessions.js'

/** A user as the admin list shows it. */
export interface AdminUserSummary {
  id: string
  email: string
  name: string
  createdAt: string
  disabled: boolean
}

/** One user in full, for `GET /admin/users/:id`. */
export interface AdminUserDetail extends AdminUserSummary {
  disabledAt: string | null
  disabledReason: string | null
  hasPassword: boolean
  sessionCount: number
  passkeyCount: number
  lastSignInAt: string | null
}

export interface UserQuery {
  /** Exact address, any case (normalised here). */
  email?: string
  /** A prefix of the address (normalised, matched literally). */
  q?: string
  cursor?: string
  limit: number
}

/** Who acts: the admin key's fingerprint (never the key), or the operator script. */
export interface AdminActor {
  keyFingerprint?: string
  via: 'api' | 'script'
  ip?: string
  userAgent?: string
}

/** Every regex metacharacter escaped: `q` is matched as the literal text it is. */
export const escapeRegex = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')

const encodeCursor = (email: string): string => Buffer.from(email).toString('base64url')
const decodeCursor = (cursor: string): string | undefined => {
  const email = Buffer.from(cursor, 'base64url').toString()
  return email === '' ? undefined : email
}

interface StoredUser {
  _id: { toString: () => string }
  email: string
  name: string
  createdAt?: Date | null
  disabledAt?: Date | null
  disabledReason?: string | null
  passwordHash?: string | null
}

const summaryOf = (user: StoredUser): AdminUserSummary => ({
  id: user._id.toString(),
  email: user.email,
  name: user.name,
  createdAt: (user.createdAt ?? new Date(0)).toISOString(),
  disabled: user.disabledAt != null
})

/**
 * What an administrator (the admin API or `npm run admin`) does to accounts. Every action goes
 * through the same services as the user's own flows: signing out everywhere is logout-all,
 * deleting is `DELETE /auth/me`'s deletion, disabling is a revocation of every session plus a
 * flag that MongoDB keeps (the source of truth) and Redis mirrors for the Bearer check.
 */
export function createUserAdmin ({ models, revocation, sessions, accounts, auditLog, clock }: {
  models: Models
  revocation: RevocationService
  sessions: SessionService
  accounts: AccountService
  auditLog: AuditLog
  clock: Clock
}) {
  const { User, Session } = models

  async function requireUser (userId: string): Promise<StoredUser> {
    const user = isValidObjectId(userId) ? await User.findById(userId, { email: 1, name: 1, createdAt: 1, disabledAt: 1, disabledReason: 1, passwordHash: 1 }).lean() : null
    if (user === null) throw new NotFoundError('User not found')
    return user
  }

  async function passkeyCount (userId: string): Promise<number> {
    // The passkeys collection comes with the passkey feature; until it exists there are none.
    const Passkey = (models as Partial<Record<string, Model<any>>>).Passkey
    return Passkey === undefined ? 0 : await Passkey.countDocuments({ userId })
  }

  // user.disabled / user.enabled are part of the user's own history (and go to webhooks): they say
  // who acted in kind only. The admin's key fingerprint, IP and reason are in the admin.action event.
  const by = (actor: AdminActor) => ({ by: actor.via === 'script' ? 'script' : 'admin' })

  /** One user with its state and counts: live sessions, passkeys, and the last sign-in (newest session). */
  async function getUser (userId: string): Promise<AdminUserDetail> {
    const user = await requireUser(userId)
    const now = new Date(clock.now())
    const [sessionCount, passkeys, latest] = await Promise.all([
      Session.countDocuments({ userId, revokedAt: null, expiresAt: { $gt: now } }),
      passkeyCount(userId),
      Session.findOne({ userId }, { createdAt: 1 }).sort({ createdAt: -1 }).lean()
    ])
    return {
      ...summaryOf(user),
      disabledAt: user.disabledAt?.toISOString() ?? null,
      disabledReason: user.disabledReason ?? null,
      hasPassword: user.passwordHash != null,
      sessionCount,
      passkeyCount: passkeys,
      lastSignInAt: (latest?.createdAt as Date | undefined)?.toISOString() ?? null
    }
  }

  return {
    getUser,

    /**
     * Users by exact address, by address prefix, or all; ordered by address, `limit` at a time.
     * The cursor is the last address of the page, so users added meanwhile never shift the pages
     * (a new address after the cursor shows up later, one before it is simply not on them).
     * Both filters are index-backed (the unique email index): the prefix is an anchored,
     * case-sensitive regex over the lower-cased addresses, its metacharacters escaped.
     */
    async listUsers (query: UserQuery): Promise<{ users: AdminUserSummary[], next: string | null }> {
      const conditions: Array<Record<string, unknown>> = []
      if (query.email !== undefined) conditions.push({ email: normalizeEmail(query.email) })
      if (query.q !== undefined) conditions.push({ email: { $regex: `^${escapeRegex(normalizeEmail(query.q))}` } })
      const after = query.cursor === undefined ? undefined : decodeCursor(query.cursor)
      if (after !== undefined) conditions.push({ email: { $gt: after } })
      const filter = conditions.length === 0 ? {} : conditions.length === 1 ? conditions[0]! : { $and: conditions }
      const found = await User.find(filter, { email: 1, name: 1, createdAt: 1, disabledAt: 1 })
        .sort({ email: 1 }).limit(query.limit + 1).lean()
      const page = found.slice(0, query.limit)
      return {
        users: page.map(summaryOf),
        next: found.length > query.limit && page.length > 0 ? encodeCursor(page.at(-1)!.email) : null
      }
    },

    async findUserByEmail (email: string): Promise<AdminUserSummary | null> {
      const user = await User.findOne({ email: normalizeEmail(email) }, { email: 1, name: 1, createdAt: 1, disabledAt: 1 }).lean()
      return user === null ? null : summaryOf(user)
    },

    /**
     * Disables the account through the revocation journal (`account-disabled`: services/sessions/
     * revocation.ts): once the entry is written it completes even if this request then fails
     * (the data-loss watch applies it within one check period). Applying it sets the flag in
     * MongoDB (from then on no sign-in starts a session, services/sessions/sessions.ts), ends every
     * session as logout-all does, and writes the disabled mark into Redis; it survives Redis losing
     * data exactly as a logout does. Idempotent; disabling again moves the time on.
     */
    async disableUser (userId: string, reason: string | undefined, actor: AdminActor): Promise<AdminUserDetail> {
      await requireUser(userId)
      await User.updateOne({ _id: userId }, reason === undefined ? { $unset: { disabledReason: 1 } } : { $set: { disabledReason: reason } })
      await revocation.revoke({ kind: 'account-disabled', userId, sessionIds: [] })
      await auditLog.record({ type: 'user.disabled', userId, data: by(actor) })
      return await getUser(userId)
    },

    /** Enables the account again: sign-ins work from now on; the sessions that disabling ended stay ended. */
    async enableUser (userId: string, actor: AdminActor): Promise<AdminUserDetail> {
      await requireUser(userId)
      await User.updateOne({ _id: userId }, { $unset: { disabledAt: 1, disabledReason: 1 }, $set: { enabledAt: new Date(clock.now()) } })
      await revocation.markEnabled(userId)
      await auditLog.record({ type: 'user.enabled', userId, data: by(actor) })
      return await getUser(userId)
    },

    /** Signs the user out everywhere: the same revocation as `POST /auth/logout-all`. */
    async signOutEverywhere (userId: string): Promise<void> {
      await requireUser(userId)
      await sessions.logoutEverywhere(userId)
    },

    /** Deletes the account and everything it owns: the same deletion as `DELETE /auth/me`. */
    async deleteUser (userId: string): Promise<void> {
      await requireUser(userId)
      await accounts.deleteAccount(userId)
    }
  }
}

export type UserAdmin = ReturnType<typeof createUserAdmin>
