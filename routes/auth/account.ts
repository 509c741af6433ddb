import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { BearerSecurity, errors, PublicUser } from '../schemas.js'

const tags = ['account']

const accountRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.get('/me', {
    onRequest: [fastify.authenticate],
    schema: {
      tags,
      security: BearerSecurity,
      summary: 'The signed-in user',
      description: 'Served from the Redis user cache: one Redis round trip, no MongoDB query on a hit.',
      response: {
        200: PublicUser,
        ...errors({ 401: 'TOKEN_MISSING, TOKEN_INVALID, TOKEN_EXPIRED, TOKEN_REVOKED', 503: 'SERVICE_UNAVAILABLE' })
      }
    }
  }, async (request) => request.account!)
}

export default accountRoutes
