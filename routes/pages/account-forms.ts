import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { RateLimitedError, TokenRevokedError } from '../../services/infrastructure/errors.js'
import { formExpiredPage } from '../../views/pages.js'
import { clientKey, refuseOverLimit } from '../../plugins/external/rate-limit.js'
import { sendHtml } from '../schemas.js'
import { createPageSession, type PageSession } from './page-session.js'

/**
 * What every signed-in form and script call of the pages starts with (the account page, its
 * passkey forms and calls, re-authentication):
 *
 * - one per-IP limit in Redis, RATE_LIMIT_REFRESH a minute over all of them (each may refresh the
 *   session, as POST /auth/refresh does), counted in onRequest, before the CSRF check, so forged
 *   posts count too. The forms that end sessions still go through when Redis cannot count
 *   (signing out must work while Redis refuses writes, as Bearer logout does); over the limit they
 *   are refused like the others;
 * - the CSRF token checked first, before any lookup: the token names the session it was made for
 *   (services/tokens/csrf.ts), so a forged form costs one HMAC and never reaches MongoDB (finding
 *   the session may refresh it: two MongoDB reads). Then the session is found and must be the one
 *   the form was shown to.
 */
export function createAccountForms (fastify: FastifyInstance) {
  const { currentSession } = createPageSession(fastify)
  const formLimit = refuseOverLimit(fastify.createRateLimit({
    max: fastify.config.RATE_LIMIT_REFRESH,
    timeWindow: 60_000,
    keyGenerator: (request) => `account-forms:${clientKey(request.ip)}`
  }))

  /**
   * The browser's session for a form, once its CSRF token is good. Undefined when the answer is
   * already sent (the 403 form-expired page); null when nobody is signed in and the token is a
   * signed-out page's.
   */
  async function checkedSession (request: FastifyRequest, reply: FastifyReply, csrf: string | undefined): Promise<PageSession | null | undefined> {
    const formSessionId = fastify.pageCsrfSession(request, csrf)
    const session = formSessionId === null ? null : await currentSession(request, reply)
    if (formSessionId === null || (session?.claims.sid ?? '') !== formSessionId) {
      await sendHtml(reply, 403, formExpiredPage())
      return undefined
    }
    return session
  }

  return {
    /** The shared limit, as an onRequest hook (before the body is even parsed). */
    limited: { onRequest: [formLimit], config: { rateLimit: false as const } },

    /** The shared limit for the forms that end sessions: they go through when Redis cannot count. */
    limitedSignOut: {
      config: { rateLimit: false as const },
      onRequest: [async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
        try {
          await formLimit(request, reply)
        } catch (error) {
          if (error instanceof RateLimitedError) throw error
          request.log.warn({ err: { message: (error as Error).message } }, 'account form: the rate limit could not count (Redis); signing out anyway')
        }
      }]
    },

    checkedSession,

    /**
     * The start of a form: the checked session. Null when the answer is already sent (the 403
     * form-expired page, or to the start page when nobody is signed in).
     */
    async formSession (request: FastifyRequest, reply: FastifyReply, csrf: string | undefined): Promise<PageSession | null> {
      const session = await checkedSession(request, reply, csrf)
      if (session === undefined) return null
      if (session === null) await reply.redirect('/', 303)
      return session
    },

    /** The start of a script's JSON call: the CSRF token first, then its session, or 401 TOKEN_REVOKED. */
    async jsonSession (request: FastifyRequest, reply: FastifyReply, csrf: string | undefined): Promise<PageSession> {
      const formSessionId = fastify.pageCsrfSession(request, csrf)
      if (formSessionId === null) throw new TokenRevokedError()
      const session = await currentSession(request, reply)
      if (session === null || session.claims.sid !== formSessionId) throw new TokenRevokedError()
      return session
    }
  }
}
