import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Value } from '@sinclair/typebox/value'
import { waitText } from '../../views/format.js'
import { isValidEmail, normalizeEmail } from '../../services/email/email-address.js'
import { OtpExpiredError, OtpInvalidError, OtpLockedError, RateLimitedError, type ErrorExtras } from '../../services/infrastructure/errors.js'
import { codeLockedPage, codePage, formExpiredPage } from '../../views/pages.js'
import { clientInfo } from '../client-info.js'
import { signInLimit } from '../route-options.js'
import { errors, HtmlPage, Name, sendHtml } from '../schemas.js'
import { createCodeLockMemo } from './code-lock.js'
import { Csrf, Field, tags } from './forms.js'
import { createPageSession } from './page-session.js'

/** The code page: the six digits from the email (and a name, used only when the code creates the account). */
const codeRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  const { signedIn } = createPageSession(fastify)
  const codeLock = createCodeLockMemo(fastify)
  const ttlSeconds = fastify.config.OTP_TTL

  fastify.get('/code', {
    attachValidation: true,
    schema: {
      tags,
      operationId: 'showCodePage',
      security: [],
      summary: 'Code page',
      description: 'A form for the 6-digit code emailed to `email` (and a name, used only by new accounts). Sends nothing by itself.',
      querystring: Type.Object({ email: Type.String({ maxLength: 512 }) }, { additionalProperties: false }),
      response: { 200: HtmlPage('The code page'), 303: { description: 'To the start page when the address is missing or malformed' }, ...errors({ 429: 'RATE_LIMITED', 503: 'SERVICE_UNAVAILABLE' }) }
    }
  }, async (request, reply) => {
    if (request.validationError !== undefined || !isValidEmail(request.query.email)) return await reply.redirect('/', 303)
    return await sendHtml(reply, 200, codePage({ csrf: fastify.pageCsrf(request, reply), email: normalizeEmail(request.query.email), ttlSeconds }))
  })

  fastify.post('/code', {
    ...signInLimit(fastify),
    attachValidation: true,
    schema: {
      tags,
      operationId: 'submitCodeForm',
      security: [],
      summary: 'Code page form: sign in with the code',
      description: 'Form fields csrf, email, code, name (optional; used when the code creates the account). On success the session ' +
        'cookies are set and the browser goes to /account (303). A wrong code shows the code page again with the attempts left; ' +
        'a lock shows the lock page (no code form): the real wait, and buttons to send a new code or a link.',
      body: Type.Object({ csrf: Csrf, email: Field(512), code: Field(32), name: Field(200) }, { additionalProperties: false }),
      response: {
        303: { description: 'Signed in: to /account, with the session cookies' },
        400: HtmlPage('The code page again: the code must be six digits'),
        401: HtmlPage('OTP_INVALID (attempts left) or OTP_EXPIRED: the code page with the message'),
        403: HtmlPage('Form expired (CSRF token missing or wrong)'),
        429: HtmlPage('OTP_LOCKED: the lock page (with Retry-After when the address must wait); RATE_LIMITED: the code page with the wait'),
        ...errors({ 503: 'SERVICE_UNAVAILABLE, EMAIL_UNAVAILABLE' })
      }
    }
  }, async (request, reply) => {
    const body = request.validationError === undefined ? request.body : {}
    const email = body.email !== undefined && isValidEmail(body.email) ? normalizeEmail(body.email) : undefined
    if (!fastify.checkPageCsrf(request, body.csrf)) return await sendHtml(reply, 403, formExpiredPage({ email }))
    if (email === undefined) return await reply.redirect('/', 303)
    const name = (body.name ?? '').trim()
    const again = (status: number, error: string, errorField: 'code' | 'name' = 'code') =>
      sendHtml(reply, status, codePage({ csrf: fastify.pageCsrf(request, reply), email, ttlSeconds, error, errorField, name }))
    const locked = async (lock: Parameters<typeof codeLockedPage>[0]['lock']) =>
      await sendHtml(reply, 429, codeLockedPage({ csrf: fastify.pageCsrf(request, reply), email, lock }))
    const code = (body.code ?? '').trim()
    if (!/^[0-9]{6}$/.test(code)) return await again(400, 'The code is the six digits from the email.')
    if (name !== '' && !Value.Check(Name, name)) return await again(400, 'Names are 1 to 100 characters, without control characters.', 'name')
    try {
      await fastify.limitPerAddress(request, reply)
      const session = await fastify.otp.verifyCode(email, code, name === '' ? {} : { name }, clientInfo(request))
      codeLock.forget(reply)
      return await signedIn(reply, session)
    } catch (error) {
      const extras = error as ErrorExtras
      if (error instanceof OtpInvalidError) {
        const left = extras.body?.attemptsRemaining
        return await again(401, `That code is not correct.${typeof left === 'number' ? ` ${left} attempt${left === 1 ? '' : 's'} left.` : ''}`)
      }
      // The code's last attempt deleted it: remember that here, so a try on an old copy of the form says so.
      const codeLocked = (error instanceof OtpLockedError && extras.retryAfter === undefined) || (error instanceof OtpExpiredError && codeLock.locked(request, email))
      if (codeLocked) {
        codeLock.remember(reply, email)
        return await locked({ kind: 'code', sendWait: await fastify.emailThrottle.emailSlotWait(fastify.addressKey(email)) })
      }
      if (error instanceof OtpExpiredError) return await again(401, 'There is no live code for this address: it has expired or was already used. Request a new one.')
      if (error instanceof OtpLockedError || error instanceof RateLimitedError) {
        const wait = extras.retryAfter ?? 1
        reply.header('retry-after', String(wait))
        if (error instanceof OtpLockedError) return await locked({ kind: 'address', wait })
        return await again(429, `Too many tries for this address. Try again in ${waitText(wait)}.`)
      }
      throw error
    }
  })
}

export default codeRoutes
