import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { EVENT_TYPES } from '../../services/events/event-types.js'
import { bearerOnly } from '../route-options.js'
import { BearerSecurity, errors } from '../schemas.js'

const tags = ['sessions']
/** Events per page. */
export const ACTIVITY_PAGE = 20

export const AuditEventSchema = Type.Object({
  id: Type.String({ description: 'Event id; also the webhook-id of its deliveries' }),
  type: Type.Union(EVENT_TYPES.map((type) => Type.Literal(type))),
  timestamp: Type.String({ format: 'date-time' }),
  userId: Type.Optional(Type.String()),
  sessionId: Type.Optional(Type.String()),
  ip: Type.Optional(Type.String()),
  userAgent: Type.Optional(Type.String()),
  data: Type.Object({}, { additionalProperties: true, description: 'Type-specific facts (never a secret, code, token or password)' })
}, { additionalProperties: false })

const activityRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.get('/activity', {
    ...bearerOnly(fastify),
    schema: {
      operationId: 'listActivity',
      tags,
      security: BearerSecurity,
      summary: 'Your recent activity',
      description: 'Your own security events, newest first, 20 a page: sign-ins (method, device, IP), sign-outs and ' +
        'revocations (reason), passkeys added or removed, account changes. Pass `next` back as `cursor` for the next page.',
      querystring: Type.Object({
        cursor: Type.Optional(Type.String({ maxLength: 200, description: 'The `next` of the previous page' }))
      }, { additionalProperties: false }),
      response: {
        200: Type.Object({
          events: Type.Array(AuditEventSchema),
          next: Type.Union([Type.String(), Type.Null()], { description: 'Cursor of the next page; null on the last' })
        }, {
          additionalProperties: false,
          description: 'A page of your events, newest first',
          examples: [{ events: [{ id: 'evt_0d5c6f1e9a2b4c7d8e9f0a1b2c3d4e5f', type: 'session.created', timestamp: '2026-12-07T12:00:00.000Z', userId: '665f1c2e8b3a4d0012345678', sessionId: '665f1c2e8b3a4d0012345679', ip: '203.0.113.7', userAgent: 'curl/8.5.0', data: { method: 'otp', device: 'an unknown device' } }], next: null }]
        }),
        ...errors({ 400: 'VALIDATION_FAILED', 401: 'TOKEN_MISSING, TOKEN_INVALID, TOKEN_EXPIRED, TOKEN_REVOKED', 503: 'SERVICE_UNAVAILABLE' })
      }
    }
  }, async (request) => {
    // The caller's own sign-in may still be pending (the outbox confirms within a second): settle theirs now.
    await fastify.outbox.settleUser(request.user.sub)
    return await fastify.auditLog.list({ userId: request.user.sub, cursor: request.query.cursor, limit: ACTIVITY_PAGE })
  })
}

export default activityRoutes
