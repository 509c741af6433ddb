import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { isAppError } from '../../services/infrastructure/errors.js'
import type { AccessClaims } from '../../services/sessions/revocation.js'
import type { SignedIn, TokenPair } from '../../services/sessions/sessions.js'
import type { PublicUser } from '../../services/accounts/users.js'
import { clientInfo } from '../client-info.js'
import { cookieScope } from '../cookie-scope.js'

/**
 * The browser's session for the built-in pages: the same access and refresh tokens an API client
 * gets, kept in HttpOnly cookies (scripts cannot read them; SameSite=Lax keeps them off cross-site
 * POSTs). With an https APP_URL both are `__Host-` cookies (routes/cookie-scope.ts), so Path=/ for
 * both; on plain-http development the refresh token is sent only to /account, the one place that
 * refreshes.
 */
export const ACCESS_COOKIE = 'lk_at'
export const REFRESH_COOKIE = 'lk_rt'
const REFRESH_PATH = '/account'

export interface PageSession { claims: AccessClaims, account: PublicUser }

export function createPageSession (fastify: FastifyInstance) {
  const access = cookieScope(fastify.config.APP_URL, ACCESS_COOKIE, '/')
  const refresh = cookieScope(fastify.config.APP_URL, REFRESH_COOKIE, REFRESH_PATH)
  const base = { httpOnly: true, sameSite: 'lax' as const, secure: access.secure }

  function setSessionCookies (reply: FastifyReply, pair: TokenPair): void {
    reply.setCookie(access.name, pair.accessToken, { ...base, path: access.path, maxAge: pair.expiresIn })
    reply.setCookie(refresh.name, pair.refreshToken, { ...base, path: refresh.path, maxAge: fastify.config.REFRESH_TOKEN_TTL })
  }

  function clearSessionCookies (reply: FastifyReply): void {
    reply.clearCookie(access.name, { ...base, path: access.path })
    reply.clearCookie(refresh.name, { ...base, path: refresh.path })
  }

  /** A 401-class answer from the token checks: the cookie is no good, the person must sign in. */
  const isRefusal = (error: unknown): boolean => isAppError(error) && error.statusCode === 401

  /**
   * Who is signed in, from the cookies. An expired (or missing) access token is replaced through
   * the refresh token and the cookies are reset. A refused token clears the cookies and yields
   * null; a dependency failure propagates (503), it never signs anyone in or out.
   */
  async function currentSession (request: FastifyRequest, reply: FastifyReply): Promise<PageSession | null> {
    const accessToken = request.cookies[access.name]
    if (accessToken !== undefined && accessToken !== '') {
      try {
        return await fastify.verifyAccessToken(accessToken)
      } catch (error) {
        if (!isRefusal(error)) throw error
      }
    }
    const refreshToken = request.cookies[refresh.name]
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
