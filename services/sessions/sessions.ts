import { isValidObjectId, Types } from 'mongoose'
import { AccountDisabledSignInError, NotFoundError, RefreshInvalidError, RefreshReusedError, TokenRevokedError } from '../infrastructure/errors.js'
import type { Metrics } from '../infrastructure/metrics.js'
import type { Models } from '../models/index.js'
import type { SessionFields } from '../models/session.js'
import type { Clock } from '../infrastructure/clock.js'
import type { AccessClaims, RevocationService } from './revocation.js'
import { insertOne } from '../models/insert.js'
import { hashToken, open, randomToken, seal } from '../tokens/token-crypto.js'
import type { PublicUser } from '../accounts/users.js'
import { faultPoint } from '../infrastructure/fault-points.js'

/** Told of a session about to start, before its insert (services/events writes its event there, pending). */
export type SessionStarting = (session: { sessionId: string, userId: string, method: SignInMethod, client: ClientInfo, newUser: boolean }) => Promise<void>

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

/** Signs {sub, sid, jti, auth_time} into an access JWT (iat and exp are added by the signer). */
export type SignAccessToken = (claims: Pick<AccessClaims, 'sub' | 'sid' | 'jti' | 'auth_time'>) => string

const GRACE_PURPOSE = 'latchkey refresh grace pair'
const isDuplicateKey = (error: unknown): boolean => (error as { code?: number }).code === 11000
/** What randomToken() makes: 32 bytes, base64url. Anything else cannot be a refresh token. */
const REFRESH_TOKEN_SHAPE = /^[A-Za-z0-9_-]{43}$/

/**
 * Sessions, access tokens and refresh tokens.
 *
 * Refresh tokens are 32 random bytes, stored only as SHA-256 (looking a token up by its hash
 * reveals nothing through timing). Rotation is decided by inserting a RefreshRotation keyed by
 * the old token's hash: exactly one of any number of parallel refreshes can insert it.
 */
export function createSessionService ({ models, revocation, signAccessToken, accessTokenTtl, refreshTokenTtl, reuseGrace, clock, metrics, sessionStarting }: {
  models: Models
  revocation: RevocationService
  signAccessToken: SignAccessToken
  accessTokenTtl: number
  refreshTokenTtl: number
  reuseGrace: number
  clock: Clock
  metrics: Metrics
  sessionStarting?: SessionStarting
}) {
  const { Session, RefreshRotation, User } = models

  /** `authTime`: the session's last sign-in or re-authentication (ms); the token carries it as auth_time (s). */
  const mintAccessToken = (userId: string, sessionId: string, authTime: number): string =>
    signAccessToken({ sub: userId, sid: sessionId, jti: randomToken(12), auth_time: Math.floor(authTime / 1000) })

  const clientFields = (client: ClientInfo) => ({
    userAgent: client.userAgent?.slice(0, 256),
    ip: client.ip?.slice(0, 64)
  })

  // Parallel replays of one stolen token all detect the reuse; they share one revocation.
  const reuseRevocations = new Map<string, Promise<void>>()
  async function revokeWholeSession (session: { _id: Types.ObjectId, userId: Types.ObjectId }): Promise<void> {
    const sessionId = session._id.toString()
    let revoking = reuseRevocations.get(sessionId)
    if (revoking === undefined) {
      revoking = revocation.revoke({ kind: 'reuse', userId: session.userId.toString(), sessionIds: [sessionId] })
        .finally(() => reuseRevocations.delete(sessionId))
      reuseRevocations.set(sessionId, revoking)
    }
    await revoking
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

    await revokeWholeSession(session)
    throw new RefreshReusedError()
  }

  async function startSession (userId: string, method: SignInMethod, client: ClientInfo, newUser = false): Promise<TokenPair & { sessionId: string }> {
    const refreshToken = randomToken()
    const now = clock.now()
    const _id = new Types.ObjectId()
    // The event first, pending (services/events/outbox.ts publishes it once this session exists).
    await sessionStarting?.({ sessionId: _id.toString(), userId, method, client, newUser })
    await faultPoint('session:event-written')
    const session = await insertOne(Session, {
      _id,
      userId,
      refreshHash: hashToken(refreshToken),
      expiresAt: new Date(now + refreshTokenTtl * 1000),
      lastUsedAt: new Date(now),
      authTime: new Date(now),
      method,
      ...clientFields(client)
    })
    const sessionId = session._id.toString()
    await faultPoint('session:inserted')
    // A disabled account gets no session. Read after the insert: a disable that this read misses
    // was recorded after the session existed, so its revocation (every session made until then) ends it.
    if (await User.exists({ _id: userId, disabledAt: { $ne: null } }) !== null) {
      await Session.deleteOne({ _id: session._id })
      throw new AccountDisabledSignInError()
    }
    return { accessToken: mintAccessToken(userId, sessionId, now), refreshToken, expiresIn: accessTokenTtl, sessionId }
  }

  return {
    startSession,

    /**
     * Signs up: the session first, under the id reserved for the new account, then the account
     * itself, whose insert is the commit point. Whatever fails in between, no account exists
     * without a session: at worst a session is left that belongs to no account and whose tokens
     * nobody received (removed here when MongoDB still answers).
     */
    async startSessionForNewUser<U> (userId: string, method: SignInMethod, client: ClientInfo, createUser: () => Promise<U>): Promise<{ user: U, pair: TokenPair & { sessionId: string } }> {
      const pair = await startSession(userId, method, client, true)
      try {
        const user = await createUser()
        await faultPoint('signup:user-inserted')
        return { user, pair }
      } catch (error) {
        // Best effort, not awaited: after MongoDB stalled past the request's budget this would wait
        // for a new connection to a server that does not answer (seen: 3 s more before the 503).
        // A session without its account signs nobody in, and the link's retry removes it anyway
        // (dropSessionsOfFailedSignup).
        void Session.deleteOne({ _id: pair.sessionId }).catch(() => {})
        throw error
      }
    },

    /**
     * Removes sessions an earlier, failed signup left under its reserved id: all of them if the
     * account was never made, those older than the account if it was (a signup's session is made
     * before its account; any later sign-in's after).
     */
    async dropSessionsOfFailedSignup (userId: string): Promise<void> {
      const user = await User.findById(userId, { createdAt: 1 }).lean()
      await Session.deleteMany(user === null ? { userId } : { userId, createdAt: { $lt: user.createdAt } })
    },

    async refreshSession (refreshToken: string, client: ClientInfo): Promise<TokenPair> {
      if (!REFRESH_TOKEN_SHAPE.test(refreshToken)) throw new RefreshInvalidError()
      const oldHash = hashToken(refreshToken)
      const session = await Session.findOne({ refreshHash: oldHash })
      if (session === null) return await replayRotation(oldHash, refreshToken)
      const now = clock.now()
      if (session.revokedAt !== null || session.expiresAt.getTime() <= now) throw new RefreshInvalidError()
      if (await User.exists({ _id: session.userId, disabledAt: null }) === null) throw new RefreshInvalidError()

      const next: TokenPair = {
        // A refresh keeps the session's auth_time (sessions from before auth_time existed: their start).
        accessToken: mintAccessToken(session.userId.toString(), session._id.toString(), (session.authTime ?? session.createdAt).getTime()),
        refreshToken: randomToken(),
        expiresIn: accessTokenTtl
      }
      const nextHash = hashToken(next.refreshToken)
      try {
        await insertOne(RefreshRotation, {
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
      // A logout that landed while this refresh was on its way (the session was read before it)
      // must win: the new access token was minted before this read, so a revocation recorded
      // after it carries marks that outlive the token, and one recorded before it is seen here.
      const after = await Session.findById(session._id, { revokedAt: 1 }).lean()
      if (after === null || after.revokedAt != null) throw new RefreshInvalidError()
      return next
    },

    /**
     * Re-authentication (SPEC "Recent sign-in"): the SAME session gets a fresh auth_time and a new
     * token pair; no session is created. The session's refresh token is replaced (the old one is
     * dead from here on), so a pair with the old auth_time cannot be refreshed into a new one
     * without this proof. A revoked or ended session → TOKEN_REVOKED.
     */
    async reauthenticate (claims: Pick<AccessClaims, 'sub' | 'sid'>, client: ClientInfo): Promise<TokenPair> {
      if (!isValidObjectId(claims.sid)) throw new TokenRevokedError()
      const refreshToken = randomToken()
      const now = clock.now()
      const { matchedCount } = await Session.updateOne(
        { _id: claims.sid, userId: claims.sub, revokedAt: null, expiresAt: { $gt: new Date(now) } },
        { $set: { authTime: new Date(now), refreshHash: hashToken(refreshToken), lastUsedAt: new Date(now), ...clientFields(client) } }
      )
      if (matchedCount === 0) throw new TokenRevokedError()
      return { accessToken: mintAccessToken(claims.sub, claims.sid, now), refreshToken, expiresIn: accessTokenTtl }
    },

    /** Logout: the session dies (journal, MongoDB, then Redis: services/sessions/revocation.ts), and the token's jti is blacklisted. */
    async logout (claims: AccessClaims): Promise<void> {
      await revocation.revoke({ kind: 'logout', userId: claims.sub, sessionIds: [claims.sid], token: { jti: claims.jti, exp: claims.exp } })
    },

    /**
     * Every session and every access token of the user dies. The revocation itself finds the
     * sessions (those it revokes in MongoDB, so one made meanwhile cannot be missed).
     */
    async logoutEverywhere (userId: string): Promise<void> {
      await revocation.revoke({ kind: 'logout-all', userId, sessionIds: [] })
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
      if (await Session.exists({ _id: sessionId, userId, revokedAt: null }) === null) throw new NotFoundError('Session not found')
      await revocation.revoke({ kind: 'session', userId, sessionIds: [sessionId] })
    }
  }
}

export type SessionService = ReturnType<typeof createSessionService>
