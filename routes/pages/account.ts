import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Value } from '@sinclair/typebox/value'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { NotFoundError } from '../../services/infrastructure/errors.js'
import { isRevocationRecorded } from '../../services/sessions/revocation.js'
import { accountPage, deleteAccountPage, formExpiredPage } from '../../views/pages.js'
import { errors, HtmlPage, Name, sendHtml } from '../schemas.js'
import { unlimited } from '../route-options.js'
import { Csrf, Field, tags } from './forms.js'
import { createPageSession, type PageSession } from './page-session.js'

/** What the account page says after one of its forms did its work (Post/Redirect/Get). */
const DONE = {
  renamed: 'Your name is saved.',
  revoked: 'That session is signed out: its tokens no longer work.',
  gone: 'That session had already ended.'
} as const
type Done = keyof typeof DONE

const pageErrors = errors({ 429: 'RATE_LIMITED', 503: 'SERVICE_UNAVAILABLE' })
const formResponses = (done: string) => ({
  303: { description: done },
  403: HtmlPage('Form expired (CSRF token missing or wrong)'),
  ...pageErrors
})

/**
 * The account page: who you are, your name (rename), where you are signed in (sign one session
 * out, or all of them), and deleting the account behind a confirmation page. What the Bearer API
 * offers (GET /auth/sessions, DELETE /auth/sessions/:id, POST /auth/logout-all, PATCH and DELETE
 * /auth/me), as forms: every one POSTs with the CSRF token, and wherever this browser's session
 * ends its cookies are cleared.
 */
// Forms that end sessions skip the Redis-backed rate limit: signing out must work while Redis
// refuses writes (the limit would answer 503 first), as Bearer logout does. Each needs a live
// session and a CSRF token bound to it.
const accountRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  const { clearSessionCookies, currentSession } = createPageSession(fastify)

  async function showAccount (request: FastifyRequest, reply: FastifyReply, session: PageSession, status: number, extra: { info?: string, nameError?: string, name?: string } = {}) {
    const sessions = await fastify.sessions.listSessions(session.claims.sub, session.claims.sid)
    await fastify.outbox.settleUser(session.claims.sub)
    const { events: activity } = await fastify.auditLog.list({ userId: session.claims.sub, limit: 10 })
    const html = accountPage({ csrf: fastify.pageCsrf(request, reply, session.claims.sid), account: session.account, sessions, now: fastify.clock.now(), activity, ...extra })
    return await sendHtml(reply, status, html)
  }

  /**
   * The start of every form: who is signed in, then the CSRF check (a form is bound to the session
   * it was shown to). Null when the answer is already sent (the 403 form-expired page, or to the
   * start page when nobody is signed in).
   */
  async function formSession (request: FastifyRequest, reply: FastifyReply, csrf: string | undefined): Promise<PageSession | null> {
    const session = await currentSession(request, reply)
    if (!fastify.checkPageCsrf(request, csrf, session?.claims.sid)) {
      await sendHtml(reply, 403, formExpiredPage())
      return null
    }
    if (session === null) await reply.redirect('/', 303)
    return session
  }

  /**
   * Ends this browser's session with `revoke`: its cookies go, and the start page says goodbye.
   * When the revocation reached the journal but not Redis, it completes by itself within one check
   * period, so the browser forgets its tokens at once even though the answer is a 503.
   */
  async function ended (reply: FastifyReply, how: '1' | 'everywhere' | 'deleted', revoke: () => Promise<unknown> = async () => {}) {
    try {
      await revoke()
    } catch (error) {
      if (isRevocationRecorded(error)) clearSessionCookies(reply)
      throw error
    }
    clearSessionCookies(reply)
    return await reply.redirect(`/?signed-out=${how}`, 303)
  }

  fastify.get('/account', {
    attachValidation: true, // an unknown or stale query parameter is ignored, not a 400
    schema: {
      tags,
      summary: 'Account page',
      description: 'Who is signed in (from the HttpOnly session cookies): name (with a rename form), email, member since; the live ' +
        'sessions (device, IP, last used, this one marked) with a button to sign each out; Log out, Log out everywhere, and a ' +
        'link to delete the account. An expired access token is renewed with the refresh cookie; without a valid session the ' +
        'browser goes to the start page (303).',
      querystring: Type.Object({
        done: Type.Optional(Type.Union(Object.keys(DONE).map((key) => Type.Literal(key)), { description: 'What the last form did' }))
      }, { additionalProperties: false }),
      response: { 200: HtmlPage('The account page'), 303: { description: 'Not signed in: to the start page' }, ...pageErrors }
    }
  }, async (request, reply) => {
    const session = await currentSession(request, reply)
    if (session === null) return await reply.redirect('/', 303)
    const done = request.validationError === undefined ? request.query.done as Done | undefined : undefined
    return await showAccount(request, reply, session, 200, { info: done === undefined ? undefined : DONE[done] })
  })

  fastify.post('/account/logout', {
    ...unlimited,
    attachValidation: true,
    schema: {
      tags,
      summary: 'Account page form: log out',
      description: 'Form field csrf. Revokes the session (its access and refresh tokens die at once, on every instance), ' +
        'clears the cookies and goes to the start page (303).',
      body: Type.Object({ csrf: Csrf }, { additionalProperties: false }),
      response: formResponses('Signed out: to the start page')
    }
  }, async (request, reply) => {
    const body = request.validationError === undefined ? request.body : {}
    // The form is bound to the session it was shown to: find that session first.
    const session = await currentSession(request, reply)
    if (!fastify.checkPageCsrf(request, body.csrf, session?.claims.sid)) return await sendHtml(reply, 403, formExpiredPage())
    return await ended(reply, '1', async () => { if (session !== null) await fastify.sessions.logout(session.claims) })
  })

  fastify.post('/account/logout-all', {
    ...unlimited,
    attachValidation: true,
    schema: {
      tags,
      summary: 'Account page form: log out everywhere',
      description: 'Form field csrf. Every session and every access token of the user dies (as POST /auth/logout-all); this ' +
        "browser's cookies are cleared and it goes to the start page (303).",
      body: Type.Object({ csrf: Csrf }, { additionalProperties: false }),
      response: formResponses('Signed out everywhere: to the start page')
    }
  }, async (request, reply) => {
    const body = request.validationError === undefined ? request.body : {}
    const session = await formSession(request, reply, body.csrf)
    if (session === null) return reply
    return await ended(reply, 'everywhere', async () => await fastify.sessions.logoutEverywhere(session.claims.sub))
  })

  fastify.post('/account/sessions/revoke', {
    ...unlimited,
    attachValidation: true,
    schema: {
      tags,
      summary: 'Account page form: sign one session out',
      description: 'Form fields csrf, session (an id from the list). Revokes that session of yours (as DELETE /auth/sessions/:id): ' +
        'its tokens die at once. Back to the account page (303); if it was this browser\'s own session, the cookies are cleared ' +
        'and the browser goes to the start page. An id that is not one of your live sessions changes nothing.',
      body: Type.Object({ csrf: Csrf, session: Field(64) }, { additionalProperties: false }),
      response: formResponses('To the account page (or the start page when this session was the one signed out)')
    }
  }, async (request, reply) => {
    const body = request.validationError === undefined ? request.body : {}
    const session = await formSession(request, reply, body.csrf)
    if (session === null) return reply
    const id = body.session ?? ''
    const revoke = async () => await fastify.sessions.revokeOwnSession(session.claims.sub, id)
    try {
      if (id === session.claims.sid) return await ended(reply, '1', revoke)
      await revoke()
    } catch (error) {
      if (error instanceof NotFoundError) return await reply.redirect('/account?done=gone', 303)
      throw error
    }
    return await reply.redirect('/account?done=revoked', 303)
  })

  fastify.post('/account/name', {
    attachValidation: true,
    schema: {
      tags,
      summary: 'Account page form: change your name',
      description: 'Form fields csrf, name (1 to 100 characters). Renames the user (as PATCH /auth/me) and goes back to the account ' +
        'page (303); an invalid name shows the account page again with the message, the name field focused.',
      body: Type.Object({ csrf: Csrf, name: Field(200) }, { additionalProperties: false }),
      response: { ...formResponses('Saved: to the account page'), 400: HtmlPage('The account page again, saying what is wrong with the name') }
    }
  }, async (request, reply) => {
    const body = request.validationError === undefined ? request.body : {}
    const session = await formSession(request, reply, body.csrf)
    if (session === null) return reply
    const name = (body.name ?? '').trim()
    if (!Value.Check(Name, name)) {
      return await showAccount(request, reply, session, 400, { nameError: 'Enter a name of 1 to 100 characters, without control characters.', name: body.name ?? '' })
    }
    if (await fastify.accounts.renameUser(session.claims.sub, name) === null) return await ended(reply, 'deleted')
    return await reply.redirect('/account?done=renamed', 303)
  })

  fastify.get('/account/delete', {
    schema: {
      tags,
      summary: 'Account page: confirm deleting the account',
      description: 'The confirmation step: says what will be deleted, with a Delete button (POST) and a way back. Deletes nothing.',
      response: { 200: HtmlPage('The confirmation page'), 303: { description: 'Not signed in: to the start page' }, ...pageErrors }
    }
  }, async (request, reply) => {
    const session = await currentSession(request, reply)
    if (session === null) return await reply.redirect('/', 303)
    const sessions = await fastify.sessions.listSessions(session.claims.sub, session.claims.sid)
    return await sendHtml(reply, 200, deleteAccountPage({ csrf: fastify.pageCsrf(request, reply, session.claims.sid), account: session.account, sessionCount: sessions.length }))
  })

  fastify.post('/account/delete', {
    ...unlimited,
    attachValidation: true,
    schema: {
      tags,
      summary: 'Confirmation page form: delete the account',
      description: 'Form fields csrf, confirm (must be "delete": the form of the confirmation page). Deletes the account, its ' +
        'sessions and todos (as DELETE /auth/me): every token dies at once. The cookies are cleared and the browser goes to the ' +
        'start page (303). Without confirm, back to the confirmation page.',
      body: Type.Object({ csrf: Csrf, confirm: Field(16) }, { additionalProperties: false }),
      response: formResponses('Deleted: to the start page (or to the confirmation page without confirm)')
    }
  }, async (request, reply) => {
    const body = request.validationError === undefined ? request.body : {}
    const session = await formSession(request, reply, body.csrf)
    if (session === null) return reply
    if (body.confirm !== 'delete') return await reply.redirect('/account/delete', 303)
    return await ended(reply, 'deleted', async () => await fastify.accounts.deleteAccount(session.claims.sub))
  })
}

export default accountRoutes
