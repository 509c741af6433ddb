import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import cookie from '../../plugins/external/cookie.js'
import { normalizeEmail } from '../../services/email/email-address.js'
import { MagicLinkGoneError, ValidationFailedError, withExtras } from '../../services/infrastructure/errors.js'
import { continuePage, linkExpiredPage, signupPage } from '../../views/magic-link.js'
import { clientInfo } from '../client-info.js'
import { CrossDeviceAccepted } from './cross-device.js'
import { perIpLimit, signInLimit } from '../route-options.js'
import { Email, errors, Name, OpaqueToken, Password, sendHtml, SignedIn } from '../schemas.js'

const tags = ['magic link']

const magicLinkRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  // The verify page sets the CSRF cookie for its form.
  await fastify.register(cookie)
  fastify.post('/magic-link', {
    ...signInLimit(fastify),
    schema: {
      tags,
      operationId: 'requestMagicLink',
      security: [],
      summary: 'Email a sign-up or sign-in link',
      description: 'Sends a signup link to a new address or a login link to an existing account. ' +
        'Answers 202 with the same body either way, so the response does not reveal whether an account exists. ' +
        'With `crossDevice: true` the email asks to approve this sign-in from any device, and the answer adds ' +
        '`requestId`, `deviceSecret` (keep it: it is shown once) and `matchNumber` (0 to 99: show it as two digits, the person ' +
        'types it on the approval page): see the cross-device routes. An address has at most CROSS_DEVICE_OPEN_PER_ADDRESS open ' +
        'cross-device requests (429 RATE_LIMITED beyond, with Retry-After).',
      body: Type.Object({
        email: Email,
        redirectTo: Type.Optional(Type.String({ maxLength: 2048, description: 'Where to go after sign-in; must be on REDIRECT_ALLOWLIST' })),
        crossDevice: Type.Optional(Type.Boolean({ description: 'Sign in on this device by approving from another one (number matching)' }))
      }, { additionalProperties: false }),
      response: {
        202: CrossDeviceAccepted,
        ...errors({ 400: 'VALIDATION_FAILED, REDIRECT_NOT_ALLOWED', 429: 'EMAIL_RATE_LIMITED (with Retry-After); RATE_LIMITED (crossDevice: too many open requests for the address, with Retry-After)', 503: 'EMAIL_UNAVAILABLE, SERVICE_UNAVAILABLE' })
      }
    }
  }, async (request, reply) => {
    if (request.body.crossDevice === true) {
      if (request.body.redirectTo !== undefined) throw new ValidationFailedError('redirectTo is not used with crossDevice: the tokens come back to this client')
      const ticket = await fastify.crossDevice.requestSignIn(normalizeEmail(request.body.email), clientInfo(request))
      return await reply.status(202).send({ message: 'Check your inbox on any device: if the address can receive mail, a link is on its way. Type the number shown here on the approval page.', ...ticket })
    }
    await fastify.magicLinks.requestMagicLink(normalizeEmail(request.body.email), request.body.redirectTo)
    return await reply.status(202).send({ message: 'Check your inbox: if the address can receive mail, a link is on its way.' })
  })

  fastify.get('/magic-link/verify', {
    // Mail scanners open links too; guessing a 256-bit token is hopeless anyway.
    ...perIpLimit(3 * fastify.config.RATE_LIMIT_AUTH),
    schema: {
      tags,
      operationId: 'verifyMagicLink',
      security: [],
      summary: 'Look at a link without using it',
      description: 'Never consumes the token (mail scanners follow links). Browsers (Accept: text/html) get a page: ' +
        'a signup form or a one-click Continue form, both POSTing back here. API clients get JSON.',
      querystring: Type.Object({ token: OpaqueToken }, { additionalProperties: false }),
      response: {
        200: Type.Object({
          valid: Type.Literal(true),
          purpose: Type.Union([Type.Literal('signup'), Type.Literal('login')]),
          email: Type.String(),
          redirectTo: Type.Optional(Type.String())
        }, { description: 'JSON for API clients; browsers get an HTML page' }),
        ...errors({ 400: 'VALIDATION_FAILED', 410: 'MAGIC_LINK_INVALID', 503: 'SERVICE_UNAVAILABLE' })
      }
    }
  }, async (request, reply) => {
    const wantsHtml = request.headers.accept?.includes('text/html') === true
    let link
    try {
      link = await fastify.magicLinks.inspectMagicLink(request.query.token)
    } catch (error) {
      if (wantsHtml && error instanceof MagicLinkGoneError) return await sendHtml(reply, 410, linkExpiredPage({ ttlSeconds: fastify.config.MAGIC_LINK_TTL }))
      throw error
    }
    if (!wantsHtml) return { valid: true as const, ...link }

    const csrf = fastify.pageCsrf(request, reply)
    const html = link.purpose === 'signup'
      ? signupPage({ token: request.query.token, email: link.email, csrf })
      : continuePage({ token: request.query.token, email: link.email, csrf })
    return await sendHtml(reply, 200, html)
  })

  fastify.post('/signup', {
    ...signInLimit(fastify),
    schema: {
      tags,
      operationId: 'signUp',
      security: [],
      summary: 'Create the account from a signup link and sign in',
      description: 'The token comes from the signup link (query string or body) and must have been issued for this email address.',
      querystring: Type.Object({ token: Type.Optional(OpaqueToken) }, { additionalProperties: false }),
      body: Type.Object({
        email: Email,
        name: Name,
        password: Type.Optional(Password),
        token: Type.Optional(OpaqueToken)
      }, { additionalProperties: false }),
      response: {
        201: SignedIn,
        ...errors({ 400: 'VALIDATION_FAILED', 403: 'MAGIC_LINK_INVALID, ACCOUNT_DISABLED', 409: 'EMAIL_TAKEN', 503: 'SERVICE_UNAVAILABLE' })
      }
    }
  }, async (request, reply) => {
    const { token: bodyToken, email, name, password } = request.body
    const token = bodyToken ?? request.query.token
    if (token === undefined) throw withExtras(new ValidationFailedError('token is required, in the query string or the body'), { body: { field: 'querystring.token' } })
    if (bodyToken !== undefined && request.query.token !== undefined && bodyToken !== request.query.token) {
      throw withExtras(new ValidationFailedError('token in the query string and in the body differ'), { body: { field: 'body.token' } })
    }
    const signedIn = await fastify.magicLinks.signUpWithMagicLink(token, { email: normalizeEmail(email), name: name.trim(), password }, clientInfo(request))
    return await reply.status(201).send(signedIn)
  })

  fastify.post('/magic-link/consume', {
    ...signInLimit(fastify),
    schema: {
      tags,
      operationId: 'consumeMagicLink',
      security: [],
      summary: 'Sign in with a login link',
      description: 'Consumes a login link (from an email sent to an existing account) exactly once and starts a session.',
      body: Type.Object({ token: OpaqueToken }, { additionalProperties: false }),
      response: {
        200: SignedIn,
        ...errors({ 400: 'VALIDATION_FAILED', 403: 'MAGIC_LINK_INVALID, ACCOUNT_DISABLED', 503: 'SERVICE_UNAVAILABLE' })
      }
    }
  }, async (request) => {
    return await fastify.magicLinks.signInWithMagicLink(request.body.token, clientInfo(request))
  })
}

export default magicLinkRoutes
