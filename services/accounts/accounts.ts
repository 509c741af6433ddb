import { InvalidCredentialsError, RateLimitedError } from '../infrastructure/errors.js'
import type { FailureCeiling } from './failure-ceiling.js'
import type { Metrics } from '../infrastructure/metrics.js'
import type { Models } from '../models/index.js'
import type { PasswordHasher } from './passwords.js'
import type { Clock } from '../infrastructure/clock.js'
import type { RevocationService } from '../sessions/revocation.js'
import type { ClientInfo, SessionService } from '../sessions/sessions.js'
import { toPublicUser, type UserService } from './users.js'
import type { SignedIn } from '../sessions/sessions.js'
import type { EventInput } from '../events/event-types.js'

/** Account-level flows that span users, sessions and revocation. */
export function createAccountService ({ models, users, sessions, revocation, passwords, failureCeiling, addressKey, clock, metrics, auditLog }: {
  models: Models
  failureCeiling: FailureCeiling
  addressKey: (email: string) => string
  users: UserService
  sessions: SessionService
  revocation: RevocationService
  passwords: PasswordHasher
  clock: Clock
  metrics: Metrics
  /** Records user.updated (services/events/audit-log.ts). */
  auditLog?: { record: (input: EventInput) => Promise<unknown> }
}) {
  return {
    /**
     * Password sign-in for accounts that set a password. Every failure is the same
     * INVALID_CREDENTIALS, and an unknown address (or an account without a password) still costs
     * one argon2 verification, so neither the answer nor its timing tells whether the account exists.
     * Every check counts towards the address's failure ceiling until it succeeds (429 RATE_LIMITED
     * while backing off).
     */
    async signInWithPassword (email: string, password: string, client: ClientInfo): Promise<SignedIn> {
      const key = addressKey(email)
      // Counted as a failure from here until it succeeds (parallel guesses cannot skip the back-off).
      await failureCeiling.reserveCheckOrRefuse(key, () => new RateLimitedError())
      const user = await users.findUserByEmail(email)
      const matches = await passwords.verifyPassword(user?.passwordHash, password)
      if (user === null || !matches) throw new InvalidCredentialsError()
      await failureCeiling.recordSuccess(key)
      // The session is the last step: nothing that can fail comes after it.
      const pair = await sessions.startSession(user._id.toString(), 'password', client)
      return { user: toPublicUser(user), ...pair }
    },

    async renameUser (userId: string, name: string) {
      const user = await users.renameUser(userId, name)
      if (user !== null) await auditLog?.record({ type: 'user.updated', userId, data: { fields: ['name'] } })
      await revocation.forgetUser(userId)
      return user === null ? null : toPublicUser(user)
    },

    /**
     * Deletes the account and everything it owns: recorded in the revocation journal, then the user,
     * sessions, rotation records and todos are deleted (from then on a cache miss finds no user),
     * then every session and token is marked dead in Redis (services/sessions/revocation.ts).
     */
    async deleteAccount (userId: string): Promise<void> {
      const sessionIds = (await models.Session.find({ userId, revokedAt: null }, { _id: 1 }).lean()).map((session) => session._id.toString())
      await revocation.revoke({ kind: 'account-deleted', userId, sessionIds })
    }
  }
}

export type AccountService = ReturnType<typeof createAccountService>
