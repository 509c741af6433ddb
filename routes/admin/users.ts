import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { clientInfo } from '../client-info.js'
import { Email, errors, ObjectIdString } from '../schemas.js'
import { adminErrors, adminOnly, AdminSecurity, adminTags as tags, AdminUserDetail, AdminUserSummary, Cursor, Limit, pageSize } from './schemas.js'

const IdParams = Type.Object({ id: ObjectIdString }, { additionalProperties: false })
const notFound = { 404: 'NOT_FOUND (no user with this id)' }

/** Finding users, disabling and enabling them, signing them out, deleting them (SPEC "Admin API"). */
const adminUserRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  const actor = (request: Parameters<typeof clientInfo>[0]) => ({
    via: 'api' as const, keyFingerprint: request.adminKey?.fingerprint, ...clientInfo(request)
  })

  fastify.get('/users', {
    ...adminOnly(fastify),
    schema: {
      operationId: 'listUsers',
      tags,
      security: AdminSecurity,
      summary: 'Find users',
      description: 'By exact address (`email`, any case), by the start of the address (`q`, matched literally: no patterns), or all; ' +
        'ordered by address. `next` continues the list and stays valid while users are added.',
      querystring: Type.Object({
        email: Type.Optional(Email),
        q: Type.Optional(Type.String({ minLength: 1, maxLength: 254, description: 'The start of the address, any case', examples: ['ada@'] })),
        cursor: Type.Optional(Cursor),
        limit: Type.Optional(Limit)
      }, { additionalProperties: false }),
      response: {
        200: Type.Object({
          users: Type.Array(AdminUserSummary),
          next: Type.Union([Type.String(), Type.Null()], { description: 'Cursor of the next page; null on the last one', examples: [null] })
        }, { additionalProperties: false, description: 'A page of users' }),
        ...errors({ 400: 'VALIDATION_FAILED', ...adminErrors })
      }
    }
  }, async (request) => {
    const { email, q, cursor, limit } = request.query
    return await fastify.userAdmin.listUsers({ email, q, cursor, limit: pageSize(limit) })
  })

  fastify.get('/users/:id', {
    ...adminOnly(fastify),
    schema: {
      operationId: 'getUser',
      tags,
      security: AdminSecurity,
      summary: 'One user, with its state',
      description: 'The account, whether it is disabled, its live sessions and passkeys, and when it last signed in.',
      params: IdParams,
      response: { 200: AdminUserDetail, ...errors({ 400: 'VALIDATION_FAILED', ...notFound, ...adminErrors }) }
    }
  }, async (request) => await fastify.userAdmin.getUser(request.params.id))

  fastify.post('/users/:id/disable', {
    ...adminOnly(fastify),
    // The body is optional: a POST without one disables without a reason.
    preValidation: async (request) => { request.body ??= {} },
    schema: {
      operationId: 'disableUser',
      tags,
      security: AdminSecurity,
      summary: 'Disable an account',
      description: 'From the next request on, on every instance: each of its access tokens is 401 ACCOUNT_DISABLED, refresh is 401, ' +
        'and a sign-in that proves the mailbox, the password or a passkey is 403 ACCOUNT_DISABLED (requests for links and codes ' +
        'still answer 202, as for anyone). Every session ends; enabling again does not bring them back. Recorded as `user.disabled`.',
      params: IdParams,
      body: Type.Object({
        reason: Type.Optional(Type.String({ minLength: 1, maxLength: 500, description: 'A note for other administrators (never shown to the user)', examples: ['chargeback fraud, ticket 4521'] }))
      }, { additionalProperties: false, description: 'Optional: an empty body, or none, disables without a reason' }),
      response: { 200: AdminUserDetail, ...errors({ 400: 'VALIDATION_FAILED', ...notFound, ...adminErrors }) }
    }
  }, async (request) => await fastify.userAdmin.disableUser(request.params.id, request.body.reason, actor(request)))

  fastify.post('/users/:id/enable', {
    ...adminOnly(fastify),
    schema: {
      operationId: 'enableUser',
      tags,
      security: AdminSecurity,
      summary: 'Enable an account again',
      description: 'Sign-ins work again from the next request on; the sessions that disabling ended stay ended. Recorded as `user.enabled`.',
      params: IdParams,
      response: { 200: AdminUserDetail, ...errors({ 400: 'VALIDATION_FAILED', ...notFound, ...adminErrors }) }
    }
  }, async (request) => await fastify.userAdmin.enableUser(request.params.id, actor(request)))

  fastify.delete('/users/:id/sessions', {
    ...adminOnly(fastify),
    schema: {
      operationId: 'signOutUser',
      tags,
      security: AdminSecurity,
      summary: 'Sign a user out everywhere',
      description: 'Exactly as the user\'s own POST /auth/logout-all: every session and access token dies on the next request, on every instance.',
      params: IdParams,
      response: { 204: Type.Null({ description: 'Signed out everywhere' }), ...errors({ 400: 'VALIDATION_FAILED', ...notFound, ...adminErrors }) }
    }
  }, async (request, reply) => {
    await fastify.userAdmin.signOutEverywhere(request.params.id)
    return await reply.status(204).send(null)
  })

  fastify.delete('/users/:id', {
    ...adminOnly(fastify),
    schema: {
      operationId: 'deleteUser',
      tags,
      security: AdminSecurity,
      summary: 'Delete a user',
      description: 'Exactly as the user\'s own DELETE /auth/me: the account, its sessions and its todos are gone; every token is refused at once.',
      params: IdParams,
      response: { 204: Type.Null({ description: 'Deleted' }), ...errors({ 400: 'VALIDATION_FAILED', ...notFound, ...adminErrors }) }
    }
  }, async (request, reply) => {
    await fastify.userAdmin.deleteUser(request.params.id)
    return await reply.status(204).send(null)
  })
}

export default adminUserRoutes
