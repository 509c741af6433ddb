import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Value } from '@sinclair/typebox/value'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { NotFoundError } from '../../services/infrastructure/errors.js'
import { isRevocationRecorded } from '../../services/sessions/revocation.js'
import { accountPage, deleteAccountPage } from '../../views/pages.js'
import { passkeysSection } from '../../views/passkeys.js'
import { errors, HtmlPage, Name, sendHtml } from '../schemas.js'
import { createAccountForms } from './account-forms.js'
import { Csrf, Field, tags } from './forms.js'
import { createPageSession, type PageSession } from './page-session.js'

/** What the account page says after one of its forms did its work (Post/Redirect/Get). */
const DONE = {
  renamed: 'Your name is saved.',
  revoked: 'That session is signed out: its tokens no longer work.',
  gone: 'That session had already ended.',
  'passkey-added': 'Your passkey is added: next time, sign in with it.',
  'passkey-renamed': 'The passkey is renamed.',
  'passkey-deleted': 'The passkey is deleted: it no longer signs you in.',
  'passkey-gone': 'That passkey was already deleted.',
  'passkey-name': 'A passkey name is 1 to 100 characters, without control characters.'
} as const
type Done = keyof typeof DONE

const pageErrors = errors({ 429: 'RATE_LIMITED', 503: 'SERVICE_UNAVAILABLE' })
const formResponses = (done: string) => ({
  303: { description: done },
  403: HtmlPage('Form expired (CSRF token missing or wrong)'),
  ...errors({ 429: 'RATE_LIMITED (the account forms share RATE_LIMIT_REFRESH a minute per IP, with Retry-After)', 503: 'SERVICE_UNAVAILABLE' })
})

/**
 * The account page: who you are, your name (rename), where you are signed in (sign one session
 * out, or all of them), and deleting the account behind a confirmation page. What the Bearer API
 * offers (GET /auth/sessions, DELETE /auth/sessions/:id, POST /auth/logout-all, PATCH and DELETE
 * /auth/me), as forms: every one POSTs with the CSRF token, and wherever this browser's session
 * ends its cookies are cleared.
 */
//
// Every form starts with the shared guard of routes/pages/account-forms.ts: one per-IP limit in
// Redis, then the CSRF token checked before any lookup.
const accountRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  const { clearSessionCookies, currentSession } = createPageSession(fastify)
  const { limited, limitedSignOut, checkedSession, formSession } = createAccountForms(fastify)

  async function showAccount (request: FastifyRequest, reply: FastifyReply, session: PageSession, status: number, extra: { info?: string, nameError?: string, name?: string } = {}) {
    const recentActivity = async () => {
      await fastify.outbox.settleUser(session.claims.sub) // a sign-in made a moment ago shows up
      return (await fastify.auditLog.list({ userId: session.claims.sub, limit: 10 })).events
    }
    const [sessions, passkeys, activity] = await Promise.all([
      fastify.sessions.listSessions(session.claims.sub, session.claims.sid), fastify.passkeys.listPasskeys(session.claims.sub), recentActivity()
    ])
    const csrf = fastify.pageCsrf(request, reply, session.claims.sid)
    const html = accountPage({ csrf, account: session.account, sessions, now: fastify.clock.now(), passkeys: passkeysSection({ passkeys, csrf, now: fastify.clock.now() }), activity, ...extra })
    return await sendHtml(reply, status, html)
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
      operationId: 'showAccountPage',
      security: [{ pageSession: [] }],
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
    ...limitedSignOut,
    attachValidation: true,
    schema: {
      tags,
      operationId: 'submitLogOutForm',
      security: [{ pageSession: [] }],
      summary: 'Account page form: log out',
      description: 'Form field csrf. Revokes the session (its access and refresh tokens die at once, on every instance), ' +
        'clears the cookies and goes to the start page (303).',
      body: Type.Object({ csrf: Csrf }, { additionalProperties: false }),
      response: formResponses('Signed out: to the start page')
    }
  }, async (request, reply) => {
    const body = request.validationError === undefined ? request.body : {}
    const session = await checkedSession(request, reply, body.csrf)
    if (session === undefined) return reply
    return await ended(reply, '1', async () => { if (session !== null) await fastify.sessions.logout(session.claims) })
  })

  fastify.post('/account/logout-all', {
    ...limitedSignOut,
    attachValidation: true,
    schema: {
      tags,
      operationId: 'submitLogOutEverywhereForm',
      security: [{ pageSession: [] }],
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
    ...limitedSignOut,
    attachValidation: true,
    schema: {
      tags,
      operationId: 'submitRevokeSessionForm',
      security: [{ pageSession: [] }],
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
    ...limited,
    attachValidation: true,
    schema: {
      tags,
      operationId: 'submitNameForm',
      security: [{ pageSession: [] }],
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
      operationId: 'showDeleteAccountPage',
      security: [{ pageSession: [] }],
      summary: 'Account page: confirm deleting the account',
      description: 'The confirmation step: says what will be deleted, with a Delete button (POST) and a way back. Deletes nothing.',
      response: { 200: HtmlPage('The confirmation page'), 303: { description: 'Not signed in: to the start page' }, ...pageErrors }
    }
  }, async (request, reply) => {
    const session = await currentSession(request, reply)
    if (session === null) return await reply.redirect('/', 303)
    // Deleting needs a recent sign-in (SPEC "Recent sign-in"): confirm first, then come back here.
    if (!fastify.isRecentAuth(session.claims)) return await reply.redirect('/account/reauthenticate?next=delete', 303)
    const sessions = await fastify.sessions.listSessions(session.claims.sub, session.claims.sid)
    return await sendHtml(reply, 200, deleteAccountPage({ csrf: fastify.pageCsrf(request, reply, session.claims.sid), account: session.account, sessionCount: sessions.length }))
  })

  fastify.post('/account/delete', {
    ...limitedSignOut,
    attachValidation: true,
    schema: {
      tags,
      operationId: 'submitDeleteAccountForm',
      security: [{ pageSession: [] }],
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
    if (!fastify.isRecentAuth(session.claims)) return await reply.redirect('/account/reauthenticate?next=delete', 303)
    return await ended(reply, 'deleted', async () => await fastify.accounts.deleteAccount(session.claims.sub))
  })
}

export default accountRoutes
