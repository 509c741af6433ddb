import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { sendAccount } from '../../plugins/app/authenticate.js'
import { TokenRevokedError } from '../../services/infrastructure/errors.js'
import { bearerOnly } from '../route-options.js'
import { BearerSecurity, errors, Name, PublicUser } from '../schemas.js'

const tags = ['account']
const bearerErrors = { 401: 'TOKEN_MISSING, TOKEN_INVALID, TOKEN_EXPIRED, TOKEN_REVOKED, ACCOUNT_DISABLED', 503: 'SERVICE_UNAVAILABLE' }

const accountRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.get('/me', {
    ...bearerOnly(fastify),
    schema: {
      tags,
      operationId: 'getAccount',
      security: BearerSecurity,
      summary: 'The signed-in user',
      description: 'Served from the Redis user cache: one Redis round trip, no MongoDB query on a hit.',
      response: { 200: PublicUser, ...errors(bearerErrors) }
    }
  }, sendAccount)

  fastify.patch('/me', {
    ...bearerOnly(fastify),
    schema: {
      tags,
      operationId: 'updateAccount',
      security: BearerSecurity,
      summary: 'Change your name',
      description: 'Renames the signed-in user; the email address cannot be changed here.',
      body: Type.Object({ name: Name }, { additionalProperties: false }),
      response: { 200: PublicUser, ...errors({ 400: 'VALIDATION_FAILED', ...bearerErrors }) }
    }
  }, async (request) => {
    const user = await fastify.accounts.renameUser(request.user.sub, request.body.name.trim())
    if (user === null) throw new TokenRevokedError()
    return user
  })

  fastify.delete('/me', {
    ...bearerOnly(fastify),
    schema: {
      tags,
      operationId: 'deleteAccount',
      security: BearerSecurity,
      summary: 'Delete your account',
      description: 'The account, its sessions, passkeys and todos are gone; every token of the user is refused at once. Needs a recent ' +
        'sign-in (auth_time within RECENT_AUTH_WINDOW; otherwise 403 REAUTH_REQUIRED: POST /auth/reauthenticate first).',
      response: { 204: Type.Null({ description: 'Deleted' }), ...errors({ ...bearerErrors, 403: 'REAUTH_REQUIRED' }) }
    },
    preHandler: [fastify.requireRecentAuth]
  }, async (request, reply) => {
    await fastify.accounts.deleteAccount(request.user.sub)
    return await reply.status(204).send(null)
  })
}

export default accountRoutes
