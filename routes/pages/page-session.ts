import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { isAppError } from '../../services/infrastructure/errors.js'
import type { AccessClaims } from '../../services/sessions/revocation.js'
import type { SignedIn, TokenPair } from '../../services/sessions/sessions.js'
import type { PublicUser } from '../../services/accounts/users.js'
import { clientInfo } from '../client-info.js'

/**
 * The browser's session for the built-in pages: the same access and refresh tokens an API client
 * gets, kept in HttpOnly cookies (scripts cannot read them; SameSite=Lax keeps them off cross-site
 * POSTs). The refresh token is sent only to /account, the one place that refreshes.
 */
export const ACCESS_COOKIE = 'lk_at'
export const REFRESH_COOKIE = 'lk_rt'
const REFRESH_PATH = '/account'

export interface PageSession { claims: AccessClaims, account: PublicUser }

export function createPageSession (fastify: FastifyInstance) {
  const secure = new URL(fastify.config.APP_URL).protocol === 'https:'
  const base = { httpOnly: true, sameSite: 'lax' as const, secure }

  function setSessionCookies (reply: FastifyReply, pair: TokenPair): void {
    reply.setCookie(ACCESS_COOKIE, pair.accessToken, { ...base, path: '/', maxAge: pair.expiresIn })
    reply.setCookie(REFRESH_COOKIE, pair.refreshToken, { ...base, path: REFRESH_PATH, maxAge: fastify.config.REFRESH_TOKEN_TTL })
  }

  function clearSessionCookies (reply: FastifyReply): void {
    reply.clearCookie(ACCESS_COOKIE, { ...base, path: '/' })
    reply.clearCookie(REFRESH_COOKIE, { ...base, path: REFRESH_PATH })
  }

  /** A 401-class answer from the token checks: the cookie is no good, the person must sign in. */
  const isRefusal = (error: unknown): boolean => isAppError(error) && error.statusCode === 401

  /**
   * Who is signed in, from the cookies. An expired (or missing) access token is replaced through
   * the refresh token and the cookies are reset. A refused token clears the cookies and yields
   * null; a dependency failure propagates (503), it never signs anyone in or out.
   */
  async function currentSession (request: FastifyRequest, reply: FastifyReply): Promise<PageSession | null> {
    const accessToken = request.cookies[ACCESS_COOKIE]
    if (accessToken !== undefined && accessToken !== '') {
      try {
        return await fastify.verifyAccessToken(accessToken)
      } catch (error) {
        if (!isRefusal(error)) throw error
      }
    }
    const refreshToken = request.cookies[REFRESH_COOKIE]
    if (refreshToken !== undefined && refreshToken !== '') {
      try {
        const pair = await fastify.sessions.refreshSession(refreshToken, clientInfo(request))
        setSessionCookies(reply, pair)
        return await fastify.verifyAccessToken(pair.accessToken)
      } catch (error) {
        if (!isRefusal(error)) throw error
      }
    }
    if (accessToken !== undefined || refreshToken !== undefined) clearSessionCookies(reply)
    return null
  }

  /** After a sign-in: the session cookies, then the account page (303, so a reload does not re-post). */
  async function signedIn (reply: FastifyReply, session: SignedIn): Promise<FastifyReply> {
    setSessionCookies(reply, session)
    return await reply.redirect('/account', 303)
  }

  return { setSessionCookies, clearSessionCookies, currentSession, signedIn }
}
