import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { normalizeEmail } from '../../services/email/email-address.js'
import { MESSAGE_KEYWORD } from '../../services/infrastructure/validation-messages.js'
import { clientInfo } from '../client-info.js'
import { signInLimit } from '../route-options.js'
import { Accepted, Email, errors, Name, SignedIn } from '../schemas.js'

const tags = ['one-time code']

/** Exactly six ASCII digits, as a JSON string: no numbers (leading zeros), spaces or other scripts' digits. */
export const Code = Type.String({
  pattern: '^[0-9]{6}$',
  description: 'The six digits from the email',
  examples: ['042917'],
  [MESSAGE_KEYWORD]: 'must be the six digits from the email, as a string like "042917"'
})

const otpRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.post('/otp', {
    ...signInLimit(fastify),
    schema: {
      tags,
      operationId: 'requestCode',
      security: [],
      summary: 'Email a six-digit sign-in code',
      description: 'Emails a code that signs in an existing account or signs up a new address. A new code replaces the ' +
        'previous one. Answers 202 with the same body whether or not an account exists. Shares the per-address email ' +
        'cooldown and hourly cap with magic links.',
      body: Type.Object({ email: Email }, { additionalProperties: false }),
      response: {
        202: Accepted,
        ...errors({ 400: 'VALIDATION_FAILED', 429: 'EMAIL_RATE_LIMITED, RATE_LIMITED (with Retry-After)', 503: 'EMAIL_UNAVAILABLE, SERVICE_UNAVAILABLE' })
      }
    }
  }, async (request, reply) => {
    await fastify.otp.requestCode(normalizeEmail(request.body.email))
    return await reply.status(202).send({ message: 'Check your inbox: if the address can receive mail, a code is on its way.' })
  })

  fastify.post('/otp/verify', {
    ...signInLimit(fastify),
    preHandler: [fastify.limitPerAddress],
    schema: {
      tags,
      operationId: 'verifyCode',
      security: [],
      summary: 'Sign in (or sign up) with the emailed code',
      description: 'Right code → tokens; `created` tells whether the account was just made (with `name`, or the ' +
        'address\'s local part). Each code allows OTP_MAX_ATTEMPTS guesses and each address OTP_ADDRESS_BUDGET wrong ' +
        'guesses per hour across resends.',
      body: Type.Object({ email: Email, code: Code, name: Type.Optional(Name) }, { additionalProperties: false }),
      response: {
        200: Type.Object({ ...SignedIn.properties, created: Type.Boolean({ description: 'True when this call created the account', examples: [true] }) }, {
          description: 'Signed in (or signed up: created is true): the user and a token pair'
        }),
        ...errors({
          400: 'VALIDATION_FAILED',
          401: 'OTP_INVALID (with attemptsRemaining), OTP_EXPIRED',
          403: 'ACCOUNT_DISABLED (the account was disabled by an administrator)',
          429: 'OTP_LOCKED (last attempt used; or the address\'s budget spent or backing off, with Retry-After), RATE_LIMITED',
          503: 'SERVICE_UNAVAILABLE'
        })
      }
    }
  }, async (request) => {
    const { email, code, name } = request.body
    return await fastify.otp.verifyCode(normalizeEmail(email), code, { name: name?.trim() }, clientInfo(request))
  })
}

export default otpRoutes
