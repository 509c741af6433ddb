import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { isValidEmail, normalizeEmail } from '../../services/email/email-address.js'
import { checkInboxPage, formExpiredPage, startPage } from '../../views/pages.js'
import { passkeySignIn } from '../../views/passkeys.js'
import { signInLimit } from '../route-options.js'
import { errors, HtmlPage, sendHtml } from '../schemas.js'
import { createCodeLockMemo } from './code-lock.js'
import { Csrf, emailFormRefusals, emailNotSent, Field, tags } from './forms.js'

const FAREWELLS = { 1: 'You are signed out.', everywhere: 'You are signed out on every device.', deleted: 'Your account has been deleted.' } as const

/** The start page: one email field, "Email me a link" or "Email me a code". */
const startRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  const codeLock = createCodeLockMemo(fastify)

  fastify.get('/', {
    attachValidation: true, // tracking parameters on a link to the start page are ignored, not a 400
    schema: {
      tags,
      operationId: 'showStartPage',
      security: [],
      summary: 'Start page',
      description: 'An email field and two buttons: "Email me a link" or "Email me a code". Works without JavaScript.',
      querystring: Type.Object({
        'signed-out': Type.Optional(Type.Union([Type.Literal('1'), Type.Literal('everywhere'), Type.Literal('deleted')], { description: 'Says goodbye: signed out here, everywhere, or the account deleted' })),
        email: Type.Optional(Type.String({ maxLength: 254, description: 'Prefills the email field' }))
      }, { additionalProperties: false }),
      response: { 200: HtmlPage('The start page'), ...errors({ 429: 'RATE_LIMITED', 503: 'SERVICE_UNAVAILABLE' }) }
    }
  }, async (request, reply) => {
    const query = request.validationError === undefined ? request.query : {}
    const farewell = query['signed-out']
    const info = farewell === undefined ? undefined : FAREWELLS[farewell]
    return await sendHtml(reply, 200, startPage({ csrf: fastify.pageCsrf(request, reply), info, email: query.email, passkeys: passkeySignIn }))
  })

  fastify.post('/', {
    ...signInLimit(fastify),
    attachValidation: true,
    schema: {
      tags,
      operationId: 'submitStartForm',
      security: [],
      summary: 'Start page form: email a link or a code',
      description: 'Form fields csrf, email, method (link or code). A link shows a "check your inbox" page; a code leads ' +
        'to the code page (303). The answer is the same whether or not the address has an account.',
      body: Type.Object({ csrf: Csrf, email: Field(512), method: Type.Optional(Type.Union([Type.Literal('link'), Type.Literal('code')])) }, { additionalProperties: false }),
      response: {
        200: HtmlPage('Check your inbox (link)'),
        303: { description: 'To the code page (code)' },
        400: HtmlPage('The start page again, saying what is wrong with the form'),
        ...emailFormRefusals
      }
    }
  }, async (request, reply) => {
    const body = request.validationError === undefined ? request.body : {}
    const typed = body.email ?? ''
    if (!fastify.checkPageCsrf(request, body.csrf)) return await sendHtml(reply, 403, formExpiredPage({ email: isValidEmail(typed) ? normalizeEmail(typed) : undefined }))
    const again = (status: number, error: string, invalidEmail = false) =>
      sendHtml(reply, status, startPage({ csrf: fastify.pageCsrf(request, reply), email: typed, error, invalidEmail, passkeys: passkeySignIn }))
    if (body.method === undefined) return await again(400, 'Choose "Email me a link" or "Email me a code".')
    if (!isValidEmail(typed)) return await again(400, 'Enter one email address, like ada@example.com.', true)
    const email = normalizeEmail(typed)
    try {
      if (body.method === 'link') {
        await fastify.magicLinks.requestMagicLink(email)
        return await sendHtml(reply, 200, checkInboxPage({ email, ttlSeconds: fastify.config.MAGIC_LINK_TTL }))
      }
      await fastify.otp.requestCode(email)
      codeLock.forget(reply) // a new code is not locked
      return await reply.redirect(`/code?email=${encodeURIComponent(email)}`, 303)
    } catch (error) {
      return await emailNotSent(reply, error, again)
    }
  })
}

export default startRoutes
