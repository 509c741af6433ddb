import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { isRevocationRecorded } from '../../services/sessions/revocation.js'
import { accountPage, formExpiredPage } from '../../views/pages.js'
import { errors, HtmlPage, sendHtml } from '../schemas.js'
import { Csrf, tags } from './forms.js'
import { createPageSession } from './page-session.js'

/** The account page (who you are) and its Log out form. */
const accountRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  const { clearSessionCookies, currentSession } = createPageSession(fastify)

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
    return await sendHtml(reply, 200, accountPage({ csrf: fastify.pageCsrf(request, reply, session.claims.sid), account: session.account }))
  })

  fastify.post('/account/logout', {
    // Signing out must work while Redis refuses writes (the Redis-backed limit would answer 503
    // first), as Bearer logout does; the form is bound to the session and CSRF-checked.
    config: { rateLimit: false },
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
    // The form is bound to the session it was shown to: find that session first.
    const session = await currentSession(request, reply)
    if (!fastify.checkPageCsrf(request, body.csrf, session?.claims.sid)) return await sendHtml(reply, 403, formExpiredPage())
    if (session !== null) {
      try {
        await fastify.sessions.logout(session.claims)
      } catch (error) {
        // Recorded in the journal but not yet in Redis: the revocation completes by itself within
        // one check period, so the browser forgets its tokens now (the answer is still a 503).
        if (isRevocationRecorded(error)) clearSessionCookies(reply)
        throw error
      }
    }
    clearSessionCookies(reply)
    return await reply.redirect('/?signed-out=1', 303)
  })
}

export default accountRoutes
