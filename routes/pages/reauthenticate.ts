import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { OtpExpiredError, OtpInvalidError, OtpLockedError, type ErrorExtras } from '../../services/infrastructure/errors.js'
import { REAUTH_NEXT, reauthenticatePage, type ReauthNext } from '../../views/reauth.js'
import { waitText } from '../../views/format.js'
import { clientInfo } from '../client-info.js'
import { errors, HtmlPage, sendHtml } from '../schemas.js'
import { Csrf, emailNotSent, Field, tags } from './forms.js'
import { createAccountForms } from './account-forms.js'
import { createPageSession, type PageSession } from './page-session.js'

const Next = Type.Union([Type.Literal('delete'), Type.Literal('passkeys')], { description: 'Where to go once confirmed' })
const pageErrors = errors({ 429: 'RATE_LIMITED', 503: 'SERVICE_UNAVAILABLE' })
const nextOf = (value: string | undefined): ReauthNext => value === 'passkeys' ? 'passkeys' : 'delete'

/**
 * Re-authentication for the pages (SPEC "Recent sign-in"): the account page's delete (and passkey
 * changes) send a browser whose sign-in is older than RECENT_AUTH_WINDOW here. An emailed code (the
 * one-time-code rules) renews the SAME session's auth_time (sessions.reauthenticate): the cookies get
 * the new pair and the browser goes back to where it was going.
 */
const reauthenticatePages: FastifyPluginAsyncTypebox = async (fastify) => {
  const { currentSession, setSessionCookies } = createPageSession(fastify)
  // Its forms: the account forms' shared limit, then the CSRF token before any lookup.
  const { limited, formSession } = createAccountForms(fastify)

  async function show (request: FastifyRequest, reply: FastifyReply, session: PageSession, status: number, next: ReauthNext, extra: { sent?: boolean, error?: string, info?: string } = {}) {
    const passkeys = (await fastify.passkeys.listPasskeys(session.claims.sub)).length > 0
    return await sendHtml(reply, status, reauthenticatePage({ csrf: fastify.pageCsrf(request, reply, session.claims.sid), next, sent: extra.sent ?? false, passkeys, ...extra }))
  }

  fastify.get('/account/reauthenticate', {
    attachValidation: true,
    schema: {
      tags,
      operationId: 'showReauthenticatePage',
      security: [{ pageSession: [] }],
      summary: 'Confirm it\'s you (re-authentication page)',
      description: 'Shown when a sensitive step (deleting the account, changing passkeys) needs a sign-in more recent than ' +
        'RECENT_AUTH_WINDOW: email a code and type it, or use a passkey. The same session gets a fresh auth_time.',
      querystring: Type.Object({ next: Type.Optional(Next), sent: Type.Optional(Type.Literal('1')) }, { additionalProperties: false }),
      response: { 200: HtmlPage('The re-authentication page'), 303: { description: 'Not signed in: to the start page' }, ...pageErrors }
    }
  }, async (request, reply) => {
    const session = await currentSession(request, reply)
    if (session === null) return await reply.redirect('/', 303)
    const query = request.validationError === undefined ? request.query : {}
    return await show(request, reply, session, 200, nextOf(query.next), { sent: query.sent === '1' })
  })

  fastify.post('/account/reauthenticate/code', {
    ...limited,
    attachValidation: true,
    schema: {
      tags,
      operationId: 'submitReauthenticateCodeRequestForm',
      security: [{ pageSession: [] }],
      summary: 'Re-authentication page form: email me a code',
      description: 'Form fields csrf, next. Emails the signed-in person a code (as POST /auth/reauthenticate/code) and shows the code form (303).',
      body: Type.Object({ csrf: Csrf, next: Field(16) }, { additionalProperties: false }),
      response: {
        303: { description: 'To the code form' },
        403: HtmlPage('Form expired (CSRF token missing or wrong)'),
        429: HtmlPage('EMAIL_RATE_LIMITED: the page with the wait'),
        503: HtmlPage('EMAIL_UNAVAILABLE: the page asking to try again shortly')
      }
    }
  }, async (request, reply) => {
    const body = request.validationError === undefined ? request.body : {}
    const session = await formSession(request, reply, body.csrf)
    if (session === null) return reply
    const next = nextOf(body.next)
    try {
      await fastify.otp.requestCode(session.account.email)
    } catch (error) {
      return await emailNotSent(reply, error, async (status, message) => await show(request, reply, session, status, next, { error: message, sent: true }))
    }
    return await reply.redirect(`/account/reauthenticate?next=${next}&sent=1`, 303)
  })

  fastify.post('/account/reauthenticate', {
    ...limited,
    attachValidation: true,
    schema: {
      tags,
      operationId: 'submitReauthenticateCodeForm',
      security: [{ pageSession: [] }],
      summary: 'Re-authentication page form: confirm with the code',
      description: 'Form fields csrf, next, code. A right code renews this session\'s auth_time (as POST /auth/reauthenticate): the ' +
        'cookies get the new pair and the browser goes on to what it was doing (303). A wrong code shows the page again.',
      body: Type.Object({ csrf: Csrf, next: Field(16), code: Field(32) }, { additionalProperties: false }),
      response: {
        303: { description: 'Confirmed: on to the next step' },
        400: HtmlPage('The page again: the code must be six digits'),
        401: HtmlPage('OTP_INVALID or OTP_EXPIRED: the page with the message'),
        403: HtmlPage('Form expired (CSRF token missing or wrong)'),
        429: HtmlPage('OTP_LOCKED: the page with the wait'),
        ...errors({ 503: 'SERVICE_UNAVAILABLE' })
      }
    }
  }, async (request, reply) => {
    const body = request.validationError === undefined ? request.body : {}
    const session = await formSession(request, reply, body.csrf)
    if (session === null) return reply
    const next = nextOf(body.next)
    const again = async (status: number, error: string) => await show(request, reply, session, status, next, { error, sent: true })
    const code = (body.code ?? '').trim()
    if (!/^[0-9]{6}$/.test(code)) return await again(400, 'The code is the six digits from the email.')
    try {
      const pair = await fastify.otp.confirmCode(session.account.email, code, clientInfo(request), async () => await fastify.sessions.reauthenticate(session.claims, clientInfo(request)))
      setSessionCookies(reply, pair)
      return await reply.redirect(REAUTH_NEXT[next], 303)
    } catch (error) {
      const extras = error as ErrorExtras
      if (error instanceof OtpInvalidError) return await again(401, 'That code is not correct.')
      if (error instanceof OtpExpiredError) return await again(401, 'There is no live code: it has expired or was already used. Send a new one.')
      if (error instanceof OtpLockedError) {
        if (extras.retryAfter !== undefined) reply.header('retry-after', String(extras.retryAfter))
        return await again(429, extras.retryAfter === undefined ? 'Too many wrong codes: send a new code.' : `Too many wrong codes. Try again in ${waitText(extras.retryAfter)}.`)
      }
      throw error
    }
  })
}

export default reauthenticatePages
