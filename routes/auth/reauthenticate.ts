import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { ValidationFailedError } from '../../services/infrastructure/errors.js'
import { clientInfo } from '../client-info.js'
import { bearerOnly } from '../route-options.js'
import { Accepted, BearerSecurity, errors, TokenPair } from '../schemas.js'
import { Code } from './otp.js'
import { AuthenticationCredential } from './passkeys.js'
import type { AuthenticationResponseJSON } from '@simplewebauthn/server'

const tags = ['account']
const bearerErrors = { 401: 'TOKEN_MISSING, TOKEN_INVALID, TOKEN_EXPIRED, TOKEN_REVOKED', 503: 'SERVICE_UNAVAILABLE' }

export const Reauthenticated = Type.Object(TokenPair, {
  additionalProperties: false,
  description: 'The same session with a fresh auth_time: a new access token and a new refresh token (the previous refresh token is dead)'
})

/**
 * Re-authentication (SPEC "Recent sign-in"): the person proves who they are again, by an emailed code
 * (or a passkey, routes/auth/passkeys.ts adds it), and the SAME session gets a fresh auth_time. No new
 * session is created: the session list, its id and its refresh lineage stay as they were.
 */
const reauthenticateRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.post('/reauthenticate/code', {
    ...bearerOnly(fastify),
    schema: {
      operationId: 'requestReauthenticationCode',
      tags,
      security: BearerSecurity,
      summary: 'Email a code to re-authenticate',
      description: 'Emails the signed-in person a six-digit code for POST /auth/reauthenticate. The code shares the one-time-code ' +
        'rules: OTP_TTL, OTP_MAX_ATTEMPTS, the per-address hourly budget, the email cooldown and hourly cap (a new code replaces the previous one).',
      response: {
        202: Accepted,
        ...errors({ ...bearerErrors, 429: 'EMAIL_RATE_LIMITED (with Retry-After)', 503: 'EMAIL_UNAVAILABLE, SERVICE_UNAVAILABLE' })
      }
    }
  }, async (request, reply) => {
    await fastify.otp.requestCode(request.account!.email)
    return await reply.status(202).send({ message: 'A code is on its way to your email address.' })
  })

  fastify.post('/reauthenticate', {
    ...bearerOnly(fastify),
    schema: {
      operationId: 'reauthenticateSession',
      tags,
      security: BearerSecurity,
      summary: 'Re-authenticate: a fresh auth_time for this session',
      description: 'Send `{code}` (from POST /auth/reauthenticate/code) or `{credential}` (a passkey assertion against fresh options ' +
        'from POST /auth/passkeys/login/options, made with one of your own passkeys). Answers a new token pair for the SAME session ' +
        'whose auth_time is now; the previous refresh token stops working. Needed before adding or deleting a passkey and deleting ' +
        'the account once the sign-in is older than RECENT_AUTH_WINDOW.',
      body: Type.Object({ code: Type.Optional(Code), credential: Type.Optional(AuthenticationCredential) }, { additionalProperties: false, examples: [{ code: '042917' }] }),
      response: {
        200: Reauthenticated,
        ...errors({
          400: 'VALIDATION_FAILED',
          401: 'OTP_INVALID (with attemptsRemaining), OTP_EXPIRED, PASSKEY_INVALID, TOKEN_MISSING, TOKEN_INVALID, TOKEN_EXPIRED, TOKEN_REVOKED',
          429: 'OTP_LOCKED, RATE_LIMITED',
          503: 'SERVICE_UNAVAILABLE'
        })
      }
    }
  }, async (request) => {
    const claims = request.user
    const { code, credential } = request.body
    if ((code === undefined) === (credential === undefined)) throw new ValidationFailedError('send either code or credential')
    if (credential !== undefined) {
      await fastify.passkeys.confirmOwner(claims.sub, credential as AuthenticationResponseJSON)
      return await fastify.sessions.reauthenticate(claims, clientInfo(request))
    }
    return await fastify.otp.confirmCode(request.account!.email, code!, clientInfo(request), async () => await fastify.sessions.reauthenticate(claims, clientInfo(request)))
  })
}

export default reauthenticateRoutes
