import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { EVENT_TYPES } from '../../services/events/event-types.js'
import { errors, ObjectIdString } from '../schemas.js'
import { adminErrors, adminOnly, AdminSecurity, adminTags as tags, Cursor, Limit, pageSize } from './schemas.js'

const AuditEvent = Type.Object({
  id: Type.String({ examples: ['evt_3f2a9c1d4b5e6f708192a3b4c5d6e7f8'] }),
  type: Type.String({ enum: [...EVENT_TYPES], examples: ['user.disabled'] }),
  timestamp: Type.String({ format: 'date-time', examples: ['2026-11-23T09:30:00.000Z'] }),
  userId: Type.Optional(Type.String({ examples: ['665f1c2e8b3a4d0012345678'] })),
  sessionId: Type.Optional(Type.String()),
  ip: Type.Optional(Type.String({ examples: ['203.0.113.7'] })),
  userAgent: Type.Optional(Type.String()),
  data: Type.Record(Type.String(), Type.Unknown(), { description: 'What the event adds (never a secret, code, token or key)', examples: [{ by: 'admin', keyFingerprint: '9f86d081' }] })
}, { additionalProperties: false })

/** The audit log, newest first (SPEC "Admin API"). */
const adminAuditRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.get('/audit-events', {
    ...adminOnly(fastify),
    schema: {
      operationId: 'listAuditEvents',
      tags,
      security: AdminSecurity,
      summary: 'The audit log',
      description: 'Security events, newest first, optionally of one user and/or of one type; `next` continues the list. ' +
        'Every admin call is there too, as an `admin.action` naming the key\'s fingerprint.',
      querystring: Type.Object({
        userId: Type.Optional(ObjectIdString),
        type: Type.Optional(Type.String({ enum: [...EVENT_TYPES], description: 'An event type', examples: ['user.disabled'] })),
        cursor: Type.Optional(Cursor),
        limit: Type.Optional(Limit)
      }, { additionalProperties: false }),
      response: {
        200: Type.Object({
          events: Type.Array(AuditEvent),
          next: Type.Union([Type.String(), Type.Null()], { description: 'Cursor of the next page; null on the last one', examples: [null] })
        }, { additionalProperties: false, description: 'A page of events' }),
        ...errors({ 400: 'VALIDATION_FAILED', ...adminErrors })
      }
    }
  }, async (request) => {
    const { userId, type, cursor, limit } = request.query
    return await fastify.auditLog.list({ userId, type: type as (typeof EVENT_TYPES)[number] | undefined, cursor, limit: pageSize(limit) })
  })
}

export default adminAuditRoutes
