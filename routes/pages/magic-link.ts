import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Value } from '@sinclair/typebox/value'
import { isValidEmail, normalizeEmail } from '../../services/email/email-address.js'
import { EmailTakenError, MagicLinkGoneError, MagicLinkRejectedError } from '../../services/infrastructure/errors.js'
import { PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH } from '../../services/accounts/passwords.js'
import { linkExpiredPage, signupPage } from '../../views/magic-link.js'
import { emailTakenPage, formExpiredPage } from '../../views/pages.js'
import { clientInfo } from '../client-info.js'
import { signInLimit } from '../route-options.js'
import { errors, HtmlPage, Name, sendHtml } from '../schemas.js'
import { Csrf, Field, tags } from './forms.js'
import { createPageSession } from './page-session.js'

/**
 * The forms of the page a magic link opens (GET /auth/magic-link/verify, in routes/auth) post here:
 * the token is consumed only by this POST, never by the GET a mail scanner makes.
 */
const magicLinkFormRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  const { signedIn } = createPageSession(fastify)

  fastify.post('/auth/magic-link/verify', {
    ...signInLimit(fastify),
    attachValidation: true,
    schema: {
      tags,
      operationId: 'submitMagicLinkForm',
      security: [],
      summary: 'Magic-link page form: create the account or continue signing in',
      description: 'The forms of GET /auth/magic-link/verify post here (csrf, token, and for a signup link name and optional ' +
        'password; email only prefills the "request a new link" page should the link have died meanwhile). The token is consumed ' +
        'only here. On success the session cookies are set and the browser goes to /account (303).',
      body: Type.Object({ csrf: Csrf, token: Field(256), email: Field(512), name: Field(200), password: Field(256) }, { additionalProperties: false }),
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
    // The address the page showed: only for the "request a new link" link of a dead link's page.
    const shownEmail = body.email !== undefined && isValidEmail(body.email) ? normalizeEmail(body.email) : undefined
    const expired = async () => await sendHtml(reply, 410, linkExpiredPage({ ttlSeconds: fastify.config.MAGIC_LINK_TTL, email: shownEmail }))
    if (!fastify.checkPageCsrf(request, body.csrf)) return await sendHtml(reply, 403, formExpiredPage({ email: shownEmail }))
    const token = body.token ?? ''
    if (!/^[A-Za-z0-9_-]{1,256}$/.test(token)) return await expired()
    let linkEmail: string | undefined
    try {
      const link = await fastify.magicLinks.inspectMagicLink(token)
      linkEmail = link.email
      if (link.purpose === 'login') return await signedIn(reply, await fastify.magicLinks.signInWithMagicLink(token, clientInfo(request)))

      const name = (body.name ?? '').trim()
      const password = body.password === undefined || body.password === '' ? undefined : body.password
      let problem: { error: string, errorField: 'name' | 'password' } | undefined
      if (!Value.Check(Name, name)) problem = { error: 'Enter your name (1 to 100 characters).', errorField: 'name' }
      else if (password !== undefined && (password.length < PASSWORD_MIN_LENGTH || password.length > PASSWORD_MAX_LENGTH)) {
        problem = { error: `A password needs ${PASSWORD_MIN_LENGTH} to ${PASSWORD_MAX_LENGTH} characters (or leave it empty).`, errorField: 'password' }
      }
      if (problem !== undefined) {
        return await sendHtml(reply, 400, signupPage({ token, email: link.email, csrf: fastify.pageCsrf(request, reply), ...problem, name }))
      }
      return await signedIn(reply, await fastify.magicLinks.signUpWithMagicLink(token, { email: link.email, name, password }, clientInfo(request)))
    } catch (error) {
      if (error instanceof MagicLinkGoneError || error instanceof MagicLinkRejectedError) return await expired()
      if (error instanceof EmailTakenError) return await sendHtml(reply, 409, emailTakenPage({ email: linkEmail ?? shownEmail ?? '' }))
      throw error
    }
  })
}

export default magicLinkFormRoutes
