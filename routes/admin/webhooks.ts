import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { EVENT_TYPES, type EventType } from '../../services/events/event-types.js'
import { NotFoundError } from '../../services/infrastructure/errors.js'
import { errors } from '../schemas.js'
import { adminErrors, adminOnly, AdminSecurity, adminTags as tags, Cursor, Limit, pageSize } from './schemas.js'

const EventTypeName = Type.String({ enum: [...EVENT_TYPES], examples: ['user.disabled'] })
const EndpointId = Type.String({ pattern: '^wh_[a-z0-9]{1,40}$', description: 'Webhook endpoint id', examples: ['wh_5f0c2a9e4b7d1c3a8e6f2b10'] })
const IdParams = Type.Object({ id: EndpointId }, { additionalProperties: false })
const Events = Type.Array(EventTypeName, { maxItems: EVENT_TYPES.length, description: 'Event types sent to it; empty: every type', examples: [['user.disabled', 'session.revoked']] })
const Time = Type.String({ format: 'date-time', examples: ['2026-11-23T09:30:00.000Z'] })
const notFound = { 404: 'NOT_FOUND (no endpoint with this id)' }

const Endpoint = Type.Object({
  id: EndpointId,
  url: Type.String({ examples: ['https://hooks.example.com/latchkey'] }),
  events: Events,
  createdAt: Time,
  disabledAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()], { description: 'Set when it was disabled after failing for too long', examples: [null] }),
  source: Type.String({ enum: ['env', 'admin'], description: 'env: WEBHOOK_URL; admin: made through this API', examples: ['admin'] })
}, { additionalProperties: false })

const Delivery = Type.Object({
  eventId: Type.String({ examples: ['evt_3f2a9c1d4b5e6f708192a3b4c5d6e7f8'] }),
  eventType: Type.String({ examples: ['user.disabled'] }),
  attempt: Type.Integer({ minimum: 1, examples: [1] }),
  status: Type.Union([Type.Integer(), Type.Null()], { description: 'The HTTP status the receiver answered (null: no answer)', examples: [200] }),
  outcome: Type.String({ enum: ['delivered', 'http_error', 'timeout', 'network_error', 'blocked'], examples: ['delivered'] }),
  durationMs: Type.Number({ minimum: 0, examples: [84] }),
  attemptedAt: Time,
  nextAttemptAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()], { description: 'When it is tried again (null: not again)', examples: [null] })
}, { additionalProperties: false })

/**
 * Webhook endpoints (SPEC "Admin API"), over the events service's `fastify.webhooks`
 * (services/events/webhooks.ts). Registered only where that service exists.
 */
const adminWebhookRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  if (!fastify.hasDecorator('webhooks')) return

  fastify.get('/webhooks', {
    ...adminOnly(fastify),
    schema: {
      operationId: 'listWebhookEndpoints',
      tags,
      security: AdminSecurity,
      summary: 'The webhook endpoints',
      description: 'Every endpoint, the one from WEBHOOK_URL included, oldest first. Secrets are never shown again.',
      response: {
        200: Type.Object({ endpoints: Type.Array(Endpoint) }, { additionalProperties: false, description: 'The endpoints' }),
        ...errors(adminErrors)
      }
    }
  }, async () => ({ endpoints: await fastify.webhooks.listEndpoints() }))

  fastify.post('/webhooks', {
    ...adminOnly(fastify),
    schema: {
      operationId: 'createWebhookEndpoint',
      tags,
      security: AdminSecurity,
      summary: 'Add a webhook endpoint',
      description: 'Events are POSTed to `url` signed as Standard Webhooks with the `secret` answered here, which is shown this once ' +
        '(stored sealed). `url` must be https:// and must not resolve to a private, loopback or metadata address.',
      body: Type.Object({
        url: Type.String({ minLength: 1, maxLength: 2048, description: 'An https:// URL', examples: ['https://hooks.example.com/latchkey'] }),
        events: Type.Optional(Events)
      }, { additionalProperties: false }),
      response: {
        201: Type.Object({
          id: EndpointId,
          url: Type.String({ examples: ['https://hooks.example.com/latchkey'] }),
          events: Events,
          secret: Type.String({ description: 'The signing secret (whsec_…): shown this once', examples: ['whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw'] }),
          createdAt: Time
        }, { additionalProperties: false, description: 'Created: keep the secret, it is not shown again' }),
        ...errors({ 400: 'VALIDATION_FAILED (not an https:// URL, a private address, an unknown event type)', ...adminErrors })
      }
    }
  }, async (request, reply) => {
    const created = await fastify.webhooks.createEndpoint({ url: request.body.url, ...(request.body.events !== undefined && { events: request.body.events as EventType[] }) })
    return await reply.status(201).send(created)
  })

  fastify.delete('/webhooks/:id', {
    ...adminOnly(fastify),
    schema: {
      operationId: 'deleteWebhookEndpoint',
      tags,
      security: AdminSecurity,
      summary: 'Remove a webhook endpoint',
      description: 'Nothing more is sent to it; its pending deliveries and its delivery log go with it.',
      params: IdParams,
      response: { 204: Type.Null({ description: 'Removed' }), ...errors({ 400: 'VALIDATION_FAILED', ...notFound, ...adminErrors }) }
    }
  }, async (request, reply) => {
    if (!await fastify.webhooks.deleteEndpoint(request.params.id)) throw new NotFoundError('Webhook endpoint not found')
    return await reply.status(204).send(null)
  })

  fastify.get('/webhooks/:id/deliveries', {
    ...adminOnly(fastify),
    schema: {
      operationId: 'listWebhookDeliveries',
      tags,
      security: AdminSecurity,
      summary: "An endpoint's delivery attempts",
      description: 'Each attempt with the status the receiver answered and when, newest first; `next` continues the list.',
      params: IdParams,
      querystring: Type.Object({ cursor: Type.Optional(Cursor), limit: Type.Optional(Limit) }, { additionalProperties: false }),
      response: {
        200: Type.Object({
          deliveries: Type.Array(Delivery),
          next: Type.Union([Type.String(), Type.Null()], { description: 'Cursor of the next page; null on the last one', examples: [null] })
        }, { additionalProperties: false, description: 'A page of attempts' }),
        ...errors({ 400: 'VALIDATION_FAILED', ...notFound, ...adminErrors })
      }
    }
  }, async (request) => {
    const page = await fastify.webhooks.listDeliveries(request.params.id, { cursor: request.query.cursor, limit: pageSize(request.query.limit) })
    if (page === null) throw new NotFoundError('Webhook endpoint not found')
    return page
  })
}

export default adminWebhookRoutes
