import formbody from '@fastify/formbody'
import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Value } from '@sinclair/typebox/value'
import type { FastifyReply } from 'fastify'
import { isValidEmail, normalizeEmail } from '../../services/email-address.js'
import {
  EmailRateLimitedError, EmailTakenError, EmailUnavailableError, MagicLinkGoneError, MagicLinkRejectedError,
  OtpExpiredError, OtpInvalidError, OtpLockedError, RateLimitedError, type ErrorExtras
} from '../../services/errors.js'
import type { SignedIn } from '../../services/magic-link.js'
import { PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH } from '../../services/passwords.js'
import { linkExpiredPage, signupPage } from '../../views/magic-link.js'
import { accountPage, checkInboxPage, codePage, emailTakenPage, formExpiredPage, startPage } from '../../views/pages.js'
import { clientInfo } from '../client-info.js'
import { signInLimit } from '../route-options.js'
import { errors, HtmlPage, Name, sendHtml } from '../schemas.js'
import { createPageSession } from './page-session.js'

const tags = ['pages']

/** Form fields arrive as strings; anything else (a repeated field is an array) fails validation. */
const Field = (maxLength: number) => Type.Optional(Type.String({ maxLength }))
const Csrf = Field(128)

const retryText = (error: ErrorExtras): string =>
  error.retryAfter === undefined ? 'in a little while' : `in ${error.retryAfter} second${error.retryAfter === 1 ? '' : 's'}`

/**
 * The built-in pages: a start page, the page a magic link opens, a code page and an account page.
 * Server-rendered, no scripts, forms POST with a per-form CSRF token (plus SameSite cookies).
 * Form bodies are parsed only in this scope; the rest of the API stays JSON-only. Nothing here
 * may be cached, and the Referrer-Policy header (helmet) keeps URLs out of Referer.
 */
const pageRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  await fastify.register(formbody, { bodyLimit: 16 * 1024 })
  fastify.addHook('onSend', async (_request, reply, payload) => {
    reply.header('cache-control', 'no-store')
    reply.header('referrer-policy', 'no-referrer')
    return payload
  })

  const { setSessionCookies, clearSessionCookies, currentSession } = createPageSession(fastify)

  const signedIn = async (reply: FastifyReply, session: SignedIn): Promise<FastifyReply> => {
    setSessionCookies(reply, session)
    return await reply.redirect('/account', 303)
  }

  fastify.get('/', {
    attachValidation: true, // tracking parameters on a link to the start page are ignored, not a 400
    schema: {
      tags,
      summary: 'Start page',
      description: 'An email field and two buttons: "Email me a link" or "Email me a code". Works without JavaScript.',
      querystring: Type.Object({
        'signed-out': Type.Optional(Type.Literal('1')),
        email: Type.Optional(Type.String({ maxLength: 254, description: 'Prefills the email field' }))
      }, { additionalProperties: false }),
      response: { 200: HtmlPage('The start page'), ...errors({ 429: 'RATE_LIMITED', 503: 'SERVICE_UNAVAILABLE' }) }
    }
  }, async (request, reply) => {
    const query = request.validationError === undefined ? request.query : {}
    const info = query['signed-out'] === '1' ? 'You are signed out.' : undefined
    return await sendHtml(reply, 200, startPage({ csrf: fastify.pageCsrf(request, reply), info, email: query.email }))
  })

  fastify.post('/', {
    ...signInLimit(fastify),
    attachValidation: true,
    schema: {
      tags,
      summary: 'Start page form: email a link or a code',
      description: 'Form fields csrf, email, method (link or code). A link shows a "check your inbox" page; a code leads ' +
        'to the code page (303). The answer is the same whether or not the address has an account.',
      body: Type.Object({ csrf: Csrf, email: Field(512), method: Type.Optional(Type.Union([Type.Literal('link'), Type.Literal('code')])) }, { additionalProperties: false }),
      response: {
        200: HtmlPage('Check your inbox (link)'),
        303: { description: 'To the code page (code)' },
        400: HtmlPage('The start page again, saying what is wrong with the form'),
        403: HtmlPage('Form expired (CSRF token missing or wrong)'),
        429: HtmlPage('EMAIL_RATE_LIMITED: the start page with the wait, and Retry-After'),
        503: HtmlPage('EMAIL_UNAVAILABLE: the start page asking to try again shortly')
      }
    }
  }, async (request, reply) => {
    const body = request.validationError === undefined ? request.body : {}
    if (!fastify.checkPageCsrf(request, body.csrf)) return await sendHtml(reply, 403, formExpiredPage())
    const typed = body.email ?? ''
    const again = (status: number, error: string) => sendHtml(reply, status, startPage({ csrf: fastify.pageCsrf(request, reply), email: typed, error }))
    if (body.method === undefined) return await again(400, 'Choose "Email me a link" or "Email me a code".')
    if (!isValidEmail(typed)) return await again(400, 'Enter one email address, like ada@example.com.')
    const email = normalizeEmail(typed)
    try {
      if (body.method === 'link') {
        await fastify.magicLinks.requestMagicLink(email)
        return await sendHtml(reply, 200, checkInboxPage({ email }))
      }
      await fastify.otp.requestCode(email)
      return await reply.redirect(`/code?email=${encodeURIComponent(email)}`, 303)
    } catch (error) {
      if (error instanceof EmailRateLimitedError) {
        const extras = error as ErrorExtras
        if (extras.retryAfter !== undefined) reply.header('retry-after', String(extras.retryAfter))
        return await again(429, `We just emailed this address. Check your inbox, or try again ${retryText(extras)}.`)
      }
      if (error instanceof EmailUnavailableError) return await again(503, 'We could not send email just now. Nothing was sent; please try again shortly.')
      throw error
    }
  })

  fastify.get('/code', {
    attachValidation: true,
    schema: {
      tags,
      summary: 'Code page',
      description: 'A form for the 6-digit code emailed to `email` (and a name, used only by new accounts). Sends nothing by itself.',
      querystring: Type.Object({ email: Type.String({ maxLength: 512 }) }, { additionalProperties: false }),
      response: { 200: HtmlPage('The code page'), 303: { description: 'To the start page when the address is missing or malformed' }, ...errors({ 429: 'RATE_LIMITED', 503: 'SERVICE_UNAVAILABLE' }) }
    }
  }, async (request, reply) => {
    if (request.validationError !== undefined || !isValidEmail(request.query.email)) return await reply.redirect('/', 303)
    return await sendHtml(reply, 200, codePage({ csrf: fastify.pageCsrf(request, reply), email: normalizeEmail(request.query.email) }))
  })

  fastify.post('/code', {
    ...signInLimit(fastify),
    attachValidation: true,
    schema: {
      tags,
      summary: 'Code page form: sign in with the code',
      description: 'Form fields csrf, email, code, name (optional; used when the code creates the account). On success the session ' +
        'cookies are set and the browser goes to /account (303). A wrong code shows the code page again with the attempts left.',
      body: Type.Object({ csrf: Csrf, email: Field(512), code: Field(32), name: Field(200) }, { additionalProperties: false }),
      response: {
        303: { description: 'Signed in: to /account, with the session cookies' },
        400: HtmlPage('The code page again: the code must be six digits'),
        401: HtmlPage('OTP_INVALID (attempts left) or OTP_EXPIRED: the code page with the message'),
        403: HtmlPage('Form expired (CSRF token missing or wrong)'),
        429: HtmlPage('OTP_LOCKED or RATE_LIMITED: the code page with the message, and Retry-After'),
        ...errors({ 503: 'SERVICE_UNAVAILABLE, EMAIL_UNAVAILABLE' })
      }
    }
  }, async (request, reply) => {
    const body = request.validationError === undefined ? request.body : {}
    if (!fastify.checkPageCsrf(request, body.csrf)) return await sendHtml(reply, 403, formExpiredPage())
    if (body.email === undefined || !isValidEmail(body.email)) return await reply.redirect('/', 303)
    const email = normalizeEmail(body.email)
    const name = (body.name ?? '').trim()
    const again = (status: number, error: string) => sendHtml(reply, status, codePage({ csrf: fastify.pageCsrf(request, reply), email, error, name }))
    const code = (body.code ?? '').trim()
    if (!/^[0-9]{6}$/.test(code)) return await again(400, 'The code is the six digits from the email.')
    if (name !== '' && !Value.Check(Name, name)) return await again(400, 'Names are 1 to 100 characters, without control characters.')
    try {
      await fastify.limitPerAddress(request, reply)
      return await signedIn(reply, await fastify.otp.verifyCode(email, code, name === '' ? {} : { name }, clientInfo(request)))
    } catch (error) {
      const extras = error as ErrorExtras
      if (error instanceof OtpInvalidError) {
        const left = extras.body?.attemptsRemaining
        return await again(401, `That code is not correct.${typeof left === 'number' ? ` ${left} attempt${left === 1 ? '' : 's'} left.` : ''}`)
      }
      if (error instanceof OtpExpiredError) return await again(401, 'This code has expired or was already used. Request a new one.')
      if (error instanceof OtpLockedError || error instanceof RateLimitedError) {
        if (extras.retryAfter !== undefined) reply.header('retry-after', String(extras.retryAfter))
        return await again(429, `Too many wrong codes. Request a new code ${retryText(extras)}.`)
      }
      throw error
    }
  })

  fastify.post('/auth/magic-link/verify', {
    ...signInLimit(fastify),
    attachValidation: true,
    schema: {
      tags,
      summary: 'Magic-link page form: create the account or continue signing in',
      description: 'The forms of GET /auth/magic-link/verify post here (csrf, token, and for a signup link name and optional ' +
        'password). The token is consumed only here. On success the session cookies are set and the browser goes to /account (303).',
      body: Type.Object({ csrf: Csrf, token: Field(256), name: Field(200), password: Field(256) }, { additionalProperties: false }),
      response: {
        303: { description: 'Signed in: to /account, with the session cookies' },
        400: HtmlPage('The signup form again, saying what is wrong'),
        403: HtmlPage('Form expired (CSRF token missing or wrong)'),
        409: HtmlPage('EMAIL_TAKEN: the address already has an account'),
        410: HtmlPage('MAGIC_LINK_INVALID: the link expired or was used, with a way to request a new one'),
        ...errors({ 429: 'RATE_LIMITED', 503: 'SERVICE_UNAVAILABLE' })
      }
    }
  }, async (request, reply) => {
    const body = request.validationError === undefined ? request.body : {}
    if (!fastify.checkPageCsrf(request, body.csrf)) return await sendHtml(reply, 403, formExpiredPage())
    const token = body.token ?? ''
    if (!/^[A-Za-z0-9_-]{1,256}$/.test(token)) return await sendHtml(reply, 410, linkExpiredPage())
    try {
      const link = await fastify.magicLinks.inspectMagicLink(token)
      if (link.purpose === 'login') return await signedIn(reply, await fastify.magicLinks.signInWithMagicLink(token, clientInfo(request)))

      const name = (body.name ?? '').trim()
      const password = body.password === undefined || body.password === '' ? undefined : body.password
      let problem: string | undefined
      if (!Value.Check(Name, name)) problem = 'Enter your name (1 to 100 characters).'
      else if (password !== undefined && (password.length < PASSWORD_MIN_LENGTH || password.length > PASSWORD_MAX_LENGTH)) {
        problem = `A password needs ${PASSWORD_MIN_LENGTH} to ${PASSWORD_MAX_LENGTH} characters (or leave it empty).`
      }
      if (problem !== undefined) {
        return await sendHtml(reply, 400, signupPage({ token, email: link.email, csrf: fastify.pageCsrf(request, reply), error: problem, name }))
      }
      return await signedIn(reply, await fastify.magicLinks.signUpWithMagicLink(token, { email: link.email, name, password }, clientInfo(request)))
    } catch (error) {
      if (error instanceof MagicLinkGoneError || error instanceof MagicLinkRejectedError) return await sendHtml(reply, 410, linkExpiredPage())
      if (error instanceof EmailTakenError) return await sendHtml(reply, 409, emailTakenPage())
      throw error
    }
  })

  fastify.get('/account', {
    schema: {
      tags,
      summary: 'Account page',
      description: 'Who is signed in (from the HttpOnly session cookies), with a Log out button. An expired access token is ' +
        'renewed with the refresh cookie; without a valid session the browser goes to the start page (303).',
      response: { 200: HtmlPage('The account page'), 303: { description: 'Not signed in: to the start page' }, ...errors({ 429: 'RATE_LIMITED', 503: 'SERVICE_UNAVAILABLE' }) }
    }
  }, async (request, reply) => {
    const session = await currentSession(request, reply)
    if (session === null) return await reply.redirect('/', 303)
    return await sendHtml(reply, 200, accountPage({ csrf: fastify.pageCsrf(request, reply), account: session.account }))
  })

  fastify.post('/account/logout', {
    attachValidation: true,
    schema: {
      tags,
      summary: 'Account page form: log out',
      description: 'Form field csrf. Revokes the session (its access and refresh tokens die at once, on every instance), ' +
        'clears the cookies and goes to the start page (303).',
      body: Type.Object({ csrf: Csrf }, { additionalProperties: false }),
      response: { 303: { description: 'Signed out: to the start page' }, 403: HtmlPage('Form expired (CSRF token missing or wrong)'), ...errors({ 429: 'RATE_LIMITED', 503: 'SERVICE_UNAVAILABLE' }) }
    }
  }, async (request, reply) => {
    const body = request.validationError === undefined ? request.body : {}
    if (!fastify.checkPageCsrf(request, body.csrf)) return await sendHtml(reply, 403, formExpiredPage())
    const session = await currentSession(request, reply)
    if (session !== null) await fastify.sessions.logout(session.claims)
    clearSessionCookies(reply)
    return await reply.redirect('/?signed-out=1', 303)
  })
}

export default pageRoutes
