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

/** Account-level flows that span users, sessions and revocation. */
export function createAccountService ({ models, users, sessions, revocation, passwords, failureCeiling, addressKey, clock, metrics }: {
  models: Models
  failureCeiling: FailureCeiling
  addressKey: (email: string) => string
  users: UserService
  sessions: SessionService
  revocation: RevocationService
  passwords: PasswordHasher
  clock: Clock
  metrics: Metrics
}) {
  return {
    /**
     * Password sign-in for accounts that set a password. Every failure is the same
     * INVALID_CREDENTIALS, and an unknown address (or an account without a password) still costs
     * one argon2 verification, so neither the answer nor its timing tells whether the account exists.
     * Failures count towards the address's failure ceiling (429 RATE_LIMITED while backing off).
     */
    async signInWithPassword (email: string, password: string, client: ClientInfo): Promise<SignedIn> {
      const key = addressKey(email)
      await failureCeiling.assertMayVerify(key, () => new RateLimitedError())
      const user = await users.findUserByEmail(email)
      const matches = await passwords.verifyPassword(user?.passwordHash, password)
      if (user === null || !matches) {
        await failureCeiling.recordFailure(key)
        throw new InvalidCredentialsError()
      }
      await failureCeiling.recordSuccess(key)
      const pair = await sessions.startSession(user._id.toString(), 'password', client)
      return { user: toPublicUser(user), ...pair }
    },

    async renameUser (userId: string, name: string) {
      const user = await users.renameUser(userId, name)
      await revocation.forgetUser(userId)
      return user === null ? null : toPublicUser(user)
    },

    /**
     * Deletes the account and everything it owns. MongoDB first (the source of truth: from then on
     * a cache miss finds no user), then every session and token is marked dead in Redis.
     */
    async deleteAccount (userId: string): Promise<void> {
      const sessionIds = (await models.Session.find({ userId, revokedAt: null }, { _id: 1 }).lean()).map((session) => session._id.toString())
      await models.User.deleteOne({ _id: userId })
      await Promise.all([
        models.Session.deleteMany({ userId }),
        models.RefreshRotation.deleteMany({ userId }),
        models.Todo.deleteMany({ userId })
      ])
      await revocation.revokeUser(userId, new Date(clock.now()), sessionIds)
      metrics.inc('latchkey_revocations_total', { kind: 'account-deleted' })
    }
  }
}

export type AccountService = ReturnType<typeof createAccountService>
