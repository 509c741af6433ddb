import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { clientInfo } from '../client-info.js'
import { bearerOnly, perIpLimit } from '../route-options.js'
import { BearerSecurity, errors, ObjectIdString, TokenPair } from '../schemas.js'

const tags = ['sessions']
const bearerErrors = { 401: 'TOKEN_MISSING, TOKEN_INVALID, TOKEN_EXPIRED, TOKEN_REVOKED, ACCOUNT_DISABLED', 503: 'SERVICE_UNAVAILABLE' }

const sessionRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.post('/refresh', {
    ...perIpLimit(fastify.config.RATE_LIMIT_REFRESH),
    schema: {
      tags,
      operationId: 'refreshTokens',
      security: [],
      summary: 'Trade a refresh token for a new pair',
      description: 'Rotates on every use: the old refresh token dies. Presenting a rotated token again within ' +
        'REFRESH_REUSE_GRACE returns the same new pair (two tabs refreshing at once); after it, the whole session is revoked.',
      // Any string: one that is not a live refresh token (an access JWT, say) is a 401, not a 400.
      body: Type.Object({ refreshToken: Type.String({ description: 'The refresh token from sign-in or the last refresh' }) }, { additionalProperties: false }),
      response: {
        200: Type.Object(TokenPair, { description: 'A new pair; the refresh token sent is dead from now on' }),
        ...errors({ 400: 'VALIDATION_FAILED (not a JSON string)', 401: 'REFRESH_INVALID, REFRESH_REUSED', 503: 'SERVICE_UNAVAILABLE' })
      }
    }
  }, async (request) => await fastify.sessions.refreshSession(request.body.refreshToken, clientInfo(request)))

  fastify.post('/logout', {
    ...bearerOnly(fastify),
    schema: {
      tags,
      operationId: 'logOut',
      security: BearerSecurity,
      summary: 'Log out this session',
      description: 'The access token is refused from the next request on, on every instance; the session and its refresh token die.',
      response: { 204: Type.Null({ description: 'Logged out' }), ...errors(bearerErrors) }
    }
  }, async (request, reply) => {
    await fastify.sessions.logout(request.user)
    return await reply.status(204).send(null)
  })

  fastify.post('/logout-all', {
    ...bearerOnly(fastify),
    schema: {
      tags,
      operationId: 'logOutEverywhere',
      security: BearerSecurity,
      summary: 'Log out everywhere',
      description: 'Every session and every access token of the user dies.',
      response: { 204: Type.Null({ description: 'Logged out everywhere' }), ...errors(bearerErrors) }
    }
  }, async (request, reply) => {
    await fastify.sessions.logoutEverywhere(request.user.sub)
    return await reply.status(204).send(null)
  })

  fastify.get('/sessions', {
    ...bearerOnly(fastify),
    schema: {
      tags,
      operationId: 'listSessions',
      security: BearerSecurity,
      summary: "The user's live sessions",
      description: 'Sessions that are neither revoked nor ended, most recently used first; `current` marks the one this token belongs to.',
      response: {
        200: Type.Array(Type.Object({
          id: Type.String({ examples: ['665f1c2e8b3a4d0012345679'] }),
          createdAt: Type.String({ format: 'date-time', examples: ['2026-11-23T09:30:00.000Z'] }),
          lastUsedAt: Type.String({ format: 'date-time', examples: ['2026-11-23T09:45:00.000Z'] }),
          userAgent: Type.Union([Type.String(), Type.Null()], { examples: ['curl/8.5.0'] }),
          ip: Type.Union([Type.String(), Type.Null()], { examples: ['203.0.113.7'] }),
          current: Type.Boolean({ description: 'The session of the token making this request', examples: [true] })
        }), { description: 'Your live sessions, most recently used first' }),
        ...errors(bearerErrors)
      }
    }
  }, async (request) => await fastify.sessions.listSessions(request.user.sub, request.user.sid))

  fastify.delete('/sessions/:id', {
    ...bearerOnly(fastify),
    schema: {
      tags,
      operationId: 'revokeSession',
      security: BearerSecurity,
      summary: 'Revoke one of your sessions',
      description: 'Revokes one of your own sessions (its tokens die at once). Any other id, including another user\'s session, is a 404.',
      params: Type.Object({ id: ObjectIdString }, { additionalProperties: false }),
      response: { 204: Type.Null({ description: 'Revoked' }), ...errors({ 400: 'VALIDATION_FAILED', 404: 'NOT_FOUND (not one of your live sessions)', ...bearerErrors }) }
    }
  }, async (request, reply) => {
    await fastify.sessions.revokeOwnSession(request.user.sub, request.params.id)
    return await reply.status(204).send(null)
  })
}

export default sessionRoutes
