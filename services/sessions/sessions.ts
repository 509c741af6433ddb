import { isValidObjectId, Types } from 'mongoose'
import { NotFoundError, RefreshInvalidError, RefreshReusedError } from '../infrastructure/errors.js'
import type { Metrics } from '../infrastructure/metrics.js'
import type { Models } from '../models/index.js'
import type { SessionFields } from '../models/session.js'
import type { Clock } from '../infrastructure/clock.js'
import type { AccessClaims, RevocationService } from './revocation.js'
import { hashToken, open, randomToken, seal } from '../tokens/token-crypto.js'
import type { PublicUser } from '../accounts/users.js'

export interface TokenPair {
  accessToken: string
  refreshToken: string
  /** Access token lifetime in seconds. */
  expiresIn: number
}

/** What every sign-in flow (link, code, password) answers with. */
export interface SignedIn extends TokenPair {
  user: PublicUser
  redirectTo?: string | undefined
}

export interface ClientInfo {
  userAgent?: string | undefined
  ip?: string | undefined
}

export type SignInMethod = SessionFields['method']

export interface SessionView {
  id: string
  createdAt: string
  lastUsedAt: string
  userAgent: string | null
  ip: string | null
  current: boolean
}

/** Signs {sub, sid, jti} into an access JWT (iat and exp are added by the signer). */
export type SignAccessToken = (claims: Pick<AccessClaims, 'sub' | 'sid' | 'jti'>) => string

const GRACE_PURPOSE = 'latchkey refresh grace pair'
const isDuplicateKey = (error: unknown): boolean => (error as { code?: number }).code === 11000

/**
 * Sessions, access tokens and refresh tokens.
 *
 * Refresh tokens are 32 random bytes, stored only as SHA-256 (looking a token up by its hash
 * reveals nothing through timing). Rotation is decided by inserting a RefreshRotation keyed by
 * the old token's hash: exactly one of any number of parallel refreshes can insert it.
 */
export function createSessionService ({ models, revocation, signAccessToken, accessTokenTtl, refreshTokenTtl, reuseGrace, clock, metrics }: {
  models: Models
  revocation: RevocationService
  signAccessToken: SignAccessToken
  accessTokenTtl: number
  refreshTokenTtl: number
  reuseGrace: number
  clock: Clock
  metrics: Metrics
}) {
  const { Session, RefreshRotation, User } = models

  const mintAccessToken = (userId: string, sessionId: string): string =>
    signAccessToken({ sub: userId, sid: sessionId, jti: randomToken(12) })

  const clientFields = (client: ClientInfo) => ({
    userAgent: client.userAgent?.slice(0, 256),
    ip: client.ip?.slice(0, 64)
  })

  async function revokeWholeSession (session: { _id: Types.ObjectId, userId: Types.ObjectId }, reason: 'reuse'): Promise<void> {
    await Session.updateOne({ _id: session._id, revokedAt: null }, { $set: { revokedAt: new Date(clock.now()), revokeReason: reason } })
    await revocation.revokeSessions(session.userId.toString(), [session._id.toString()])
    metrics.inc('latchkey_revocations_total', { kind: reason })
  }

  /** A refresh token that is no longer current: the other tab inside the grace window, or reuse. */
  async function replayRotation (oldHash: string, presented: string): Promise<TokenPair> {
    const rotation = await RefreshRotation.findById(oldHash).lean()
    if (rotation === null) throw new RefreshInvalidError()
    const session = await Session.findById(rotation.sessionId)
    const now = clock.now()
    if (session === null || session.revokedAt !== null || session.expiresAt.getTime() <= now) throw new RefreshInvalidError()

    if (now - rotation.rotatedAt.getTime() <= reuseGrace * 1000) {
      const sealed = open(presented, GRACE_PURPOSE, rotation.sealedPair)
      if (sealed === null) throw new RefreshInvalidError()
      // The winner may have died between recording the rotation and moving the session on.
      if (session.refreshHash === oldHash) {
        await Session.updateOne({ _id: session._id, refreshHash: oldHash }, { $set: { refreshHash: rotation.nextHash } })
      }
      return JSON.parse(sealed) as TokenPair
    }

    await revokeWholeSession(session, 'reuse')
    throw new RefreshReusedError()
  }

  return {
    async startSession (userId: string, method: SignInMethod, client: ClientInfo): Promise<TokenPair & { sessionId: string }> {
      const refreshToken = randomToken()
      const now = clock.now()
      const session = await Session.create({
        userId,
        refreshHash: hashToken(refreshToken),
        expiresAt: new Date(now + refreshTokenTtl * 1000),
        lastUsedAt: new Date(now),
        method,
        ...clientFields(client)
      })
      const sessionId = session._id.toString()
      return { accessToken: mintAccessToken(userId, sessionId), refreshToken, expiresIn: accessTokenTtl, sessionId }
    },

    async refreshSession (refreshToken: string, client: ClientInfo): Promise<TokenPair> {
      const oldHash = hashToken(refreshToken)
      const session = await Session.findOne({ refreshHash: oldHash })
      if (session === null) return await replayRotation(oldHash, refreshToken)
      const now = clock.now()
      if (session.revokedAt !== null || session.expiresAt.getTime() <= now) throw new RefreshInvalidError()
      if (await User.exists({ _id: session.userId }) === null) throw new RefreshInvalidError()

      const next: TokenPair = {
        accessToken: mintAccessToken(session.userId.toString(), session._id.toString()),
        refreshToken: randomToken(),
        expiresIn: accessTokenTtl
      }
      const nextHash = hashToken(next.refreshToken)
      try {
        await RefreshRotation.create({
          _id: oldHash,
          sessionId: session._id,
          userId: session.userId,
          nextHash,
          sealedPair: seal(refreshToken, GRACE_PURPOSE, JSON.stringify(next)),
          rotatedAt: new Date(now),
          expiresAt: session.expiresAt
        })
      } catch (error) {
        if (isDuplicateKey(error)) return await replayRotation(oldHash, refreshToken)
        throw error
      }
      await Session.updateOne(
        { _id: session._id, refreshHash: oldHash },
        { $set: { refreshHash: nextHash, lastUsedAt: new Date(now), ...clientFields(client) } }
      )
      return next
    },

    /** Logout: the session is revoked in MongoDB, then the token and session are marked in Redis. */
    async logout (claims: AccessClaims): Promise<void> {
      await Session.updateOne({ _id: claims.sid, userId: claims.sub, revokedAt: null }, { $set: { revokedAt: new Date(clock.now()), revokeReason: 'logout' } })
      await revocation.revokeAccessToken(claims)
      metrics.inc('latchkey_revocations_total', { kind: 'logout' })
    },

    /** Every session and every access token of the user dies. */
    async logoutEverywhere (userId: string): Promise<void> {
      const at = new Date(clock.now())
      const live = await Session.find({ userId, revokedAt: null }, { _id: 1 }).lean()
      await Session.updateMany({ userId, revokedAt: null }, { $set: { revokedAt: at, revokeReason: 'logout-all' } })
      await User.updateOne({ _id: userId }, { $set: { tokensValidAfter: at } })
      await revocation.revokeUser(userId, at, live.map((session) => session._id.toString()))
      metrics.inc('latchkey_revocations_total', { kind: 'logout-all' })
    },

    async listSessions (userId: string, currentSessionId: string): Promise<SessionView[]> {
      const sessions = await Session.find({ userId, revokedAt: null, expiresAt: { $gt: new Date(clock.now()) } })
        .sort({ lastUsedAt: -1 }).lean()
      return sessions.map((session) => ({
        id: session._id.toString(),
        createdAt: session.createdAt.toISOString(),
        lastUsedAt: session.lastUsedAt.toISOString(),
        userAgent: session.userAgent ?? null,
        ip: session.ip ?? null,
        current: session._id.toString() === currentSessionId
      }))
    },

    /** Revokes one of the caller's own sessions; anyone else's (or an unknown id) is a 404. */
    async revokeOwnSession (userId: string, sessionId: string): Promise<void> {
      if (!isValidObjectId(sessionId)) throw new NotFoundError('Session not found')
      const { matchedCount } = await Session.updateOne(
        { _id: sessionId, userId, revokedAt: null },
        { $set: { revokedAt: new Date(clock.now()), revokeReason: 'user' } }
      )
      if (matchedCount === 0) throw new NotFoundError('Session not found')
      await revocation.revokeSessions(userId, [sessionId])
      metrics.inc('latchkey_revocations_total', { kind: 'session' })
    }
  }
}

export type SessionService = ReturnType<typeof createSessionService>
