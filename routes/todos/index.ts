import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { bearerOnly } from '../route-options.js'
import { MESSAGE_KEYWORD } from '../../services/infrastructure/validation-messages.js'
import { BearerSecurity, errors, ObjectIdString } from '../schemas.js'

const Todo = Type.Object({
  id: Type.String({ examples: ['665f1c2e8b3a4d001234567a'] }),
  title: Type.String({ examples: ['Buy milk'] }),
  done: Type.Boolean({ examples: [false] }),
  createdAt: Type.String({ format: 'date-time', examples: ['2026-11-23T09:30:00.000Z'] }),
  updatedAt: Type.String({ format: 'date-time', examples: ['2026-11-23T09:30:00.000Z'] })
}, { description: 'The todo' })
const Title = Type.String({
  minLength: 1,
  maxLength: 200,
  pattern: String.raw`\S`,
  examples: ['Buy milk'],
  [MESSAGE_KEYWORD]: 'must contain some text, not only spaces'
})
const Params = Type.Object({ id: ObjectIdString }, { additionalProperties: false })
const bearerErrors = { 401: 'TOKEN_MISSING, TOKEN_INVALID, TOKEN_EXPIRED, TOKEN_REVOKED, ACCOUNT_DISABLED', 503: 'SERVICE_UNAVAILABLE' }
const tags = ['todos']

/** The demo protected resource: each user sees and changes only their own todos. */
const todoRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  // '' (not '/'): the collection is /todos, as the docs and metrics name it; /todos/ is a 404 like any other trailing slash.
  fastify.get('', {
    ...bearerOnly(fastify),
    schema: {
      tags,
      operationId: 'listTodos',
      security: BearerSecurity,
      summary: 'Your todos',
      description: 'All todos of the signed-in user, oldest first.',
      response: { 200: Type.Array(Todo, { description: 'Your todos, oldest first' }), ...errors(bearerErrors) }
    }
  }, async (request) => await fastify.todos.listTodos(request.user.sub))

  fastify.post('', {
    ...bearerOnly(fastify),
    schema: {
      tags,
      operationId: 'createTodo',
      security: BearerSecurity,
      summary: 'Add a todo',
      description: 'Creates a todo owned by the signed-in user.',
      body: Type.Object({ title: Title }, { additionalProperties: false }),
      response: { 201: { ...Todo, description: 'The new todo' }, ...errors({ 400: 'VALIDATION_FAILED', ...bearerErrors }) }
    }
  }, async (request, reply) => await reply.status(201).send(await fastify.todos.createTodo(request.user.sub, request.body.title)))

  fastify.patch('/:id', {
    ...bearerOnly(fastify),
    schema: {
      tags,
      operationId: 'updateTodo',
      security: BearerSecurity,
      summary: 'Change a todo',
      description: 'Changes the title or done flag of one of your todos; another user\'s todo is a 404.',
      params: Params,
      body: Type.Object({ title: Type.Optional(Title), done: Type.Optional(Type.Boolean()) }, { additionalProperties: false, minProperties: 1 }),
      response: { 200: { ...Todo, description: 'The todo as it is now' }, ...errors({ 400: 'VALIDATION_FAILED', 404: 'NOT_FOUND (missing or not yours)', ...bearerErrors }) }
    }
  }, async (request) => await fastify.todos.updateTodo(request.user.sub, request.params.id, request.body))

  fastify.delete('/:id', {
    ...bearerOnly(fastify),
    schema: {
      tags,
      operationId: 'deleteTodo',
      security: BearerSecurity,
      summary: 'Delete a todo',
      description: 'Deletes one of your todos; another user\'s todo is a 404.',
      params: Params,
      response: { 204: Type.Null({ description: 'Deleted' }), ...errors({ 400: 'VALIDATION_FAILED', 404: 'NOT_FOUND (missing or not yours)', ...bearerErrors }) }
    }
  }, async (request, reply) => {
    await fastify.todos.deleteTodo(request.user.sub, request.params.id)
    return await reply.status(204).send(null)
  })
}

export default todoRoutes
