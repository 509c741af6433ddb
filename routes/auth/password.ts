import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { normalizeEmail } from '../../services/email/email-address.js'
import { clientInfo } from '../client-info.js'
import { signInLimit } from '../route-options.js'
import { Email, errors, SignedIn } from '../schemas.js'

const passwordRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.post('/login', {
    ...signInLimit(fastify),
    preHandler: [fastify.limitPerAddress],
    schema: {
      tags: ['password'],
      operationId: 'logInWithPassword',
      security: [],
      summary: 'Sign in with email and password',
      description: 'For accounts that set a password at signup. Any failure is 401 INVALID_CREDENTIALS, with the same body ' +
        'and similar time for an unknown address and a wrong password.',
      body: Type.Object({
        email: Email,
        // Any length is checked against the hash (up to a bound), so the rules for new passwords do not leak here.
        password: Type.String({ minLength: 1, maxLength: 1024 })
      }, { additionalProperties: false }),
      response: {
        200: SignedIn,
        ...errors({ 400: 'VALIDATION_FAILED', 401: 'INVALID_CREDENTIALS', 403: 'ACCOUNT_DISABLED (the account was disabled by an administrator)', 503: 'SERVICE_UNAVAILABLE' })
      }
    }
  }, async (request) => await fastify.accounts.signInWithPassword(normalizeEmail(request.body.email), request.body.password, clientInfo(request)))
}

export default passwordRoutes
