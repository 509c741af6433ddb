import { Schema, type Connection, type InferSchemaType } from 'mongoose'
import { EVENT_TYPES } from '../events/event-types.js'

/**
 * One security event (SPEC "Events"). MongoDB is the record of events (Redis can lose data).
 * `_id` is the event id, which is also the webhook-id of every delivery of it. Indexes serve a
 * user's history (newest first) and a type over time; `timestamp` serves retention.
 */
const auditEventSchema = new Schema({
  _id: { type: String, required: true },
  type: { type: String, enum: EVENT_TYPES, required: true },
  timestamp: { type: Date, required: true },
  userId: { type: String },
  sessionId: { type: String },
  ip: { type: String, maxlength: 64 },
  userAgent: { type: String, maxlength: 256 },
  data: { type: Schema.Types.Mixed, default: {} },
  /**
   * Written before its action (services/events/outbox.ts): true until the outbox has seen the
   * action's own write (`requires`), then false; dropped if that never appears. Pending events are
   * neither listed nor delivered.
   */
  pending: { type: Boolean, default: false },
  /** Documents whose existence proves the action committed: [{ model, id }]. */
  requires: { type: Schema.Types.Mixed },
  /** False until its webhook deliveries exist (services/events/webhooks.ts). */
  dispatched: { type: Boolean, default: false }
}, { versionKey: false, strict: 'throw', read: 'primary', minimize: false })

auditEventSchema.index({ userId: 1, timestamp: -1, _id: -1 })
auditEventSchema.index({ type: 1, timestamp: -1, _id: -1 })
auditEventSchema.index({ timestamp: -1, _id: -1 })
auditEventSchema.index({ pending: 1, timestamp: 1 })
auditEventSchema.index({ dispatched: 1, timestamp: 1 })

export type AuditEventFields = InferSchemaType<typeof auditEventSchema>

export const createAuditEventModel = (connection: Connection) => connection.model('AuditEvent', auditEventSchema)
export type AuditEventModel = ReturnType<typeof createAuditEventModel>
