import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Value } from '@sinclair/typebox/value'
import type { AuthenticationResponseJSON, RegistrationResponseJSON } from '@simplewebauthn/server'
import { NotFoundError, ReauthRequiredError } from '../../services/infrastructure/errors.js'
import { PASSKEY_SCRIPT } from '../../views/passkey-script.js'
import { AuthenticationCredential, PasskeyView, RegistrationCredential } from '../auth/passkeys.js'
import { clientInfo } from '../client-info.js'
import { signInLimit, unlimited } from '../route-options.js'
import { errors, HtmlPage, Name } from '../schemas.js'
import { Csrf, Field, tags } from './forms.js'
import { createAccountForms } from './account-forms.js'
import { createPageSession } from './page-session.js'

/** @simplewebauthn/browser's own UMD bundle (it defines window.SimpleWebAuthnBrowser), read once at boot. */
const require = createRequire(import.meta.url)
const browserEntry = require.resolve('@simplewebauthn/browser')
const browserRoot = browserEntry.slice(0, browserEntry.lastIndexOf(join('@simplewebauthn', 'browser')) + join('@simplewebauthn', 'browser').length)
const BROWSER_BUNDLE = readFileSync(join(browserRoot, 'dist', 'bundle', 'index.umd.min.js'), 'utf8')

const Done = Type.Object({ redirect: Type.String({ description: 'Where the page goes next', examples: ['/account'] }) }, { additionalProperties: false, description: 'Done: the session cookies are set; the page goes on to `redirect`' })
const jsonErrors = (extra: Record<number, string>) => errors({ 403: 'REAUTH_REQUIRED', 429: 'RATE_LIMITED', ...extra, 401: `TOKEN_REVOKED (page expired or not signed in)${extra[401] === undefined ? '' : `, ${extra[401]}`}` })

/**
 * The pages' passkey side: the two scripts (our own origin: the CSP allows no inline script), the
 * JSON calls those scripts make with the HttpOnly session cookies and the page's CSRF token (sign in,
 * add, re-authenticate), and the account page's rename and delete forms (no script needed).
 */
const passkeyPages: FastifyPluginAsyncTypebox = async (fastify) => {
  const { setSessionCookies } = createPageSession(fastify)
  // Signed-in calls and forms: the account forms' shared limit, then the CSRF token before any lookup.
  const { limited, formSession, jsonSession } = createAccountForms(fastify)

  for (const [url, body, summary] of [
    ['/assets/simplewebauthn-browser.js', BROWSER_BUNDLE, '@simplewebauthn/browser (its UMD bundle, served as is)'],
    ['/assets/passkeys.js', PASSKEY_SCRIPT, 'The pages\' passkey script']
  ] as const) {
    fastify.get(url, {
      ...unlimited,
      schema: {
        operationId: url.endsWith('passkeys.js') ? 'getPasskeyScript' : 'getWebAuthnBrowserScript',
        tags,
        security: [],
        summary,
        description: 'Static JavaScript for the built-in pages. Cache-Control: public, max-age=86400.',
        response: { 200: { description: 'The script', content: { 'text/javascript': { schema: Type.String() } } }, ...errors({ 503: 'SERVICE_UNAVAILABLE while the server shuts down' }) }
      }
    }, async (_request, reply) => await reply.type('text/javascript; charset=utf-8').header('cache-control', 'public, max-age=86400').send(body))
  }

  fastify.post('/signin/passkey', {
    ...signInLimit(fastify),
    schema: {
      operationId: 'signInPageWithPasskey',
      tags,
      security: [],
      summary: 'Start page: sign in with a passkey (script)',
      description: 'JSON {csrf, credential} from the start page\'s script. As POST /auth/passkeys/login, but the tokens go into the ' +
        'HttpOnly session cookies and the answer says where to go.',
      body: Type.Object({ csrf: Csrf, credential: AuthenticationCredential }, { additionalProperties: false }),
      response: {
        200: Done,
        ...errors({ 400: 'VALIDATION_FAILED', 401: 'PASSKEY_INVALID', 403: 'TOKEN_INVALID (form expired)', 429: 'RATE_LIMITED', 503: 'SERVICE_UNAVAILABLE' },
          { unknownCredential: Type.Optional(Type.Boolean()) })
      }
    }
  }, async (request, reply) => {
    if (!fastify.checkPageCsrf(request, request.body.csrf)) return await reply.status(403).send({ statusCode: 403, code: 'TOKEN_INVALID', error: 'Forbidden', message: 'The page has expired: reload it and try again' })
    const { sessionId: _sid, ...session } = await fastify.passkeys.signIn(request.body.credential as AuthenticationResponseJSON, clientInfo(request))
    setSessionCookies(reply, session)
    return { redirect: '/account' }
  })

  fastify.post('/account/passkeys/options', {
    ...limited,
    schema: {
      operationId: 'createPasskeyRegistrationOptionsForPage',
      tags,
      security: [],
      summary: 'Account page: options to add a passkey (script)',
      description: 'JSON {csrf}. As POST /auth/passkeys/register/options, for the session in the cookies. 403 REAUTH_REQUIRED when the sign-in is old.',
      body: Type.Object({ csrf: Csrf }, { additionalProperties: false }),
      response: { 200: Type.Unknown({ description: 'Creation options (as POST /auth/passkeys/register/options)' }), ...jsonErrors({ 503: 'SERVICE_UNAVAILABLE' }) }
    }
  }, async (request, reply) => {
    const session = await jsonSession(request, reply, request.body.csrf)
    if (!fastify.isRecentAuth(session.claims)) throw new ReauthRequiredError()
    return await fastify.passkeys.registrationOptions(session.claims.sub)
  })

  fastify.post('/account/passkeys', {
    ...limited,
    schema: {
      operationId: 'registerPasskeyForPage',
      tags,
      security: [],
      summary: 'Account page: add a passkey (script)',
      description: 'JSON {csrf, credential}. As POST /auth/passkeys/register, for the session in the cookies.',
      body: Type.Object({ csrf: Csrf, credential: RegistrationCredential }, { additionalProperties: false }),
      response: { 201: PasskeyView, ...jsonErrors({ 400: 'PASSKEY_INVALID, VALIDATION_FAILED', 503: 'SERVICE_UNAVAILABLE' }) }
    }
  }, async (request, reply) => {
    const session = await jsonSession(request, reply, request.body.csrf)
    if (!fastify.isRecentAuth(session.claims)) throw new ReauthRequiredError()
    const passkey = await fastify.passkeys.register(session.claims.sub, request.body.credential as RegistrationResponseJSON)
    await fastify.auditLog.record({ type: 'passkey.added', userId: session.claims.sub, sessionId: session.claims.sid, ...clientInfo(request), data: { passkeyId: passkey.id, name: passkey.name, deviceType: passkey.deviceType } })
    return await reply.status(201).send(passkey)
  })

  fastify.post('/account/reauthenticate/passkey', {
    ...limited,
    schema: {
      operationId: 'reauthenticatePageWithPasskey',
      tags,
      security: [],
      summary: 'Re-authentication page: confirm with a passkey (script)',
      description: 'JSON {csrf, credential}: an assertion with one of your own passkeys renews this session\'s auth_time (as ' +
        'POST /auth/reauthenticate {credential}); the cookies get the new pair.',
      body: Type.Object({ csrf: Csrf, credential: AuthenticationCredential }, { additionalProperties: false }),
      response: { 200: Done, ...jsonErrors({ 401: 'PASSKEY_INVALID', 503: 'SERVICE_UNAVAILABLE' }) }
    }
  }, async (request, reply) => {
    const session = await jsonSession(request, reply, request.body.csrf)
    await fastify.passkeys.confirmOwner(session.claims.sub, request.body.credential as AuthenticationResponseJSON)
    setSessionCookies(reply, await fastify.sessions.reauthenticate(session.claims, clientInfo(request)))
    return { redirect: '/account' }
  })

  const formResponses = (done: string) => ({
    303: { description: done },
    403: HtmlPage('Form expired (CSRF token missing or wrong)'),
    ...errors({ 429: 'RATE_LIMITED', 503: 'SERVICE_UNAVAILABLE' })
  })

  fastify.post('/account/passkeys/rename', {
    ...limited,
    attachValidation: true,
    schema: {
      tags,
      operationId: 'submitRenamePasskeyForm',
      security: [{ pageSession: [] }],
      summary: 'Account page form: rename a passkey',
      description: 'Form fields csrf, id, name. Renames one of your passkeys (as PATCH /auth/passkeys/:id) and goes back to the account page (303).',
      body: Type.Object({ csrf: Csrf, id: Field(1400), name: Field(200) }, { additionalProperties: false }),
      response: formResponses('To the account page')
    }
  }, async (request, reply) => {
    const body = request.validationError === undefined ? request.body : {}
    const session = await formSession(request, reply, body.csrf)
    if (session === null) return reply
    const name = (body.name ?? '').trim()
    if (!Value.Check(Name, name)) return await reply.redirect('/account?done=passkey-name#passkeys', 303)
    try {
      await fastify.passkeys.renamePasskey(session.claims.sub, body.id ?? '', name)
    } catch (error) {
      if (error instanceof NotFoundError) return await reply.redirect('/account?done=passkey-gone#passkeys', 303)
      throw error
    }
    return await reply.redirect('/account?done=passkey-renamed#passkeys', 303)
  })

  fastify.post('/account/passkeys/delete', {
    ...limited,
    attachValidation: true,
    schema: {
      tags,
      operationId: 'submitDeletePasskeyForm',
      security: [{ pageSession: [] }],
      summary: 'Account page form: delete a passkey',
      description: 'Form fields csrf, id. Deletes one of your passkeys (as DELETE /auth/passkeys/:id). Needs a recent sign-in: an old ' +
        'one goes to the re-authentication page first (303), then back to the account page to press Delete again.',
      body: Type.Object({ csrf: Csrf, id: Field(1400) }, { additionalProperties: false }),
      response: formResponses('To the account page, or to re-authenticate first')
    }
  }, async (request, reply) => {
    const body = request.validationError === undefined ? request.body : {}
    const session = await formSession(request, reply, body.csrf)
    if (session === null) return reply
    if (!fastify.isRecentAuth(session.claims)) return await reply.redirect('/account/reauthenticate?next=passkeys', 303)
    try {
      const passkey = await fastify.passkeys.deletePasskey(session.claims.sub, body.id ?? '')
      await fastify.auditLog.record({ type: 'passkey.removed', userId: session.claims.sub, sessionId: session.claims.sid, ...clientInfo(request), data: { passkeyId: passkey.id, name: passkey.name } })
    } catch (error) {
      if (error instanceof NotFoundError) return await reply.redirect('/account?done=passkey-gone#passkeys', 303)
      throw error
    }
    return await reply.redirect('/account?done=passkey-deleted#passkeys', 303)
  })
}

export default passkeyPages
