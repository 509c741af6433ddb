import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { hashToken } from '../../services/tokens/token-crypto.js'
import { cookieScope } from '../cookie-scope.js'

/**
 * The browser's memory of a code it locked. The guess that uses a code's last attempt deletes the
 * code (SPEC §3), so to the service the next guess is just "no live code" (OTP_EXPIRED). A person
 * who goes back and tries again must hear that the code is locked, not that it expired or was
 * used: this HttpOnly cookie (sent only to /code, for the code's lifetime) remembers which address
 * locked its code, as a hash. Sending a new code or signing in forgets it. It only chooses between
 * two refusals, so a forged or stale cookie gains nothing.
 */
const NAME = 'lk_otp_lock'
const PATH = '/code'

export function createCodeLockMemo (fastify: FastifyInstance) {
  // `__Host-` (Path=/) when APP_URL is https: routes/cookie-scope.ts.
  const { name: COOKIE, path, secure } = cookieScope(fastify.config.APP_URL, NAME, PATH)
  const options = { path, httpOnly: true, sameSite: 'lax' as const, secure }
  const valueFor = (email: string): string => hashToken(`otp lock\u0000${fastify.addressKey(email)}`)

  return {
    remember (reply: FastifyReply, email: string): void {
      reply.setCookie(COOKIE, valueFor(email), { ...options, maxAge: fastify.config.OTP_TTL })
    },
    locked (request: FastifyRequest, email: string): boolean {
      return request.cookies[COOKIE] === valueFor(email)
    },
    /** Clearing is always allowed, also from a page outside /code (which does not see the cookie). */
    forget (reply: FastifyReply): void {
      reply.clearCookie(COOKIE, options)
    }
  }
}
