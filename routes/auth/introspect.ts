import formbody from '@fastify/formbody'
import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { ClientUnauthorizedError, isAppError, NotFoundError } from '../../services/infrastructure/errors.js'
import { hashToken, safeEqual } from '../../services/tokens/token-crypto.js'
import { errors } from '../schemas.js'

/** Answers that mean "this is not a live access token" (anything else, a dependency down included, is an error). */
const INACTIVE = new Set(['TOKEN_INVALID', 'TOKEN_EXPIRED', 'TOKEN_REVOKED', 'ACCOUNT_DISABLED'])

/**
 * POST /auth/introspect (RFC 7662): for resource servers that need instant revocation. They
 * authenticate with INTROSPECTION_SECRET (`Authorization: Bearer <secret>`, compared in constant
 * time; anything else is 401 CLIENT_UNAUTHORIZED) and send `token` as JSON or, as RFC 7662 has
 * it, as a form. The answer is the same check as a Bearer request here (signature, algorithm,
 * kid, exp, then the revocation MGET): a logged-out, revoked, expired or garbage token is
 * `{"active": false}` at once. Redis or MongoDB down is a 503, never a guess. Rate limited per IP
 * through Redis (RATE_LIMIT_INTROSPECT a minute), counted before the client is checked.
 */
const introspectRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  await fastify.register(formbody, { bodyLimit: 16 * 1024 })
  const secret = fastify.config.INTROSPECTION_SECRET
  const secretHash = secret === undefined ? null : hashToken(secret)

  fastify.post('/introspect', {
    config: { rateLimit: { max: fastify.config.RATE_LIMIT_INTROSPECT, timeWindow: 60_000 } },
    preValidation: async (request, reply) => {
      if (secretHash === null) throw new NotFoundError('Token introspection is off: INTROSPECTION_SECRET is not set')
      const header = request.headers.authorization ?? ''
      const presented = header.startsWith('Bearer ') ? header.slice(7).trim() : ''
      // Hashes are compared, so neither the length nor the content of the secret shows in the timing.
      if (!safeEqual(hashToken(presented), secretHash)) {
        reply.header('www-authenticate', 'Bearer realm="introspection"')
        throw new ClientUnauthorizedError()
      }
    },
    schema: {
      tags: ['keys'],
      operationId: 'introspectToken',
      security: [{ introspectionSecret: [] }],
      summary: 'Is this access token live? (RFC 7662)',
      description: 'For resource servers that need revocation at once rather than at `exp`. Client authentication: ' +
        '`Authorization: Bearer <INTROSPECTION_SECRET>`. Body `token` (JSON or application/x-www-form-urlencoded). ' +
        'A live token answers `active: true` with its claims; a logged-out, revoked, expired, foreign or malformed one `{"active": false}`.',
      body: Type.Object({
        token: Type.String({ minLength: 1, maxLength: 4096 }),
        token_type_hint: Type.Optional(Type.String({ maxLength: 64, description: 'Ignored: only access tokens are introspected' }))
      }, { additionalProperties: false }),
      response: {
        200: Type.Object({
          active: Type.Boolean(),
          token_type: Type.Optional(Type.Literal('Bearer')),
          sub: Type.Optional(Type.String({ description: 'User id' })),
          sid: Type.Optional(Type.String({ description: 'Session id' })),
          jti: Type.Optional(Type.String()),
          iat: Type.Optional(Type.Integer()),
          exp: Type.Optional(Type.Integer())
        }, { additionalProperties: false, description: 'The token\'s state: `active: true` with its claims, or only `active: false`' }),
        ...errors({ 400: 'VALIDATION_FAILED', 401: 'CLIENT_UNAUTHORIZED', 404: 'NOT_FOUND (INTROSPECTION_SECRET unset)', 429: 'RATE_LIMITED', 503: 'SERVICE_UNAVAILABLE' })
      }
    }
  }, async (request) => {
    try {
      const { claims } = await fastify.verifyAccessToken(request.body.token)
      return { active: true, token_type: 'Bearer' as const, sub: claims.sub, sid: claims.sid, jti: claims.jti, iat: claims.iat, exp: claims.exp }
    } catch (error) {
      if (isAppError(error) && INACTIVE.has(error.code)) return { active: false }
      throw error
    }
  })
}

export default introspectRoutes
