import { Schema, type Connection, type InferSchemaType } from 'mongoose'

/**
 * A webhook endpoint (services/events/webhooks.ts). `source: 'env'` is the one WEBHOOK_URL gives
 * (kept in step with the environment at boot); `admin` ones come from the admin API. The secret is
 * kept sealed (AES-256-GCM under a key derived from JWT_SECRET, bound to the endpoint id): it must
 * be readable to sign, and a dump of MongoDB alone does not let anyone forge a delivery.
 */
const webhookEndpointSchema = new Schema({
  _id: { type: String, required: true },
  url: { type: String, required: true, maxlength: 2048 },
  /** Event types delivered; empty = all. */
  events: { type: [String], default: [] },
  sealedSecret: { type: String, required: true },
  source: { type: String, enum: ['env', 'admin'], required: true },
  createdAt: { type: Date, required: true },
  /** First failed attempt since the last success; five days of it disables the endpoint. */
  failingSince: { type: Date, default: null },
  disabledAt: { type: Date, default: null }
}, { versionKey: false, strict: 'throw', collection: 'webhook_endpoints', read: 'primary' })

/**
 * One event to one endpoint. `_id` is `<eventId>:<endpointId>`, so fanning an event out twice
 * (a crash between fan-out and its mark) makes no second delivery. `attempts` counts the attempts
 * that reached an outcome; the next one is due at `nextAttemptAt`.
 */
const webhookDeliverySchema = new Schema({
  _id: { type: String, required: true },
  eventId: { type: String, required: true },
  eventType: { type: String, required: true },
  endpointId: { type: String, required: true },
  state: { type: String, enum: ['pending', 'delivered', 'failed'], required: true },
  attempts: { type: Number, default: 0 },
  nextAttemptAt: { type: Date, default: null },
  createdAt: { type: Date, required: true }
}, { versionKey: false, strict: 'throw', collection: 'webhook_deliveries', read: 'primary' })

webhookDeliverySchema.index({ state: 1, nextAttemptAt: 1 })
webhookDeliverySchema.index({ endpointId: 1, createdAt: -1 })

/** The delivery log: one row per attempt, per endpoint, bounded (the newest WEBHOOK_LOG_LIMIT kept). */
const webhookAttemptSchema = new Schema({
  endpointId: { type: String, required: true },
  eventId: { type: String, required: true },
  eventType: { type: String, required: true },
  attempt: { type: Number, required: true },
  /** HTTP status, or null when no answer came (timeout, refused, blocked). */
  status: { type: Number, default: null },
  outcome: { type: String, enum: ['delivered', 'http_error', 'timeout', 'network_error', 'blocked'], required: true },
  durationMs: { type: Number, required: true },
  attemptedAt: { type: Date, required: true },
  /** When the next attempt is due; null when delivered or given up. */
  nextAttemptAt: { type: Date, default: null }
}, { versionKey: false, strict: 'throw', collection: 'webhook_attempts' })

webhookAttemptSchema.index({ endpointId: 1, attemptedAt: -1, _id: -1 })

export type WebhookEndpointFields = InferSchemaType<typeof webhookEndpointSchema> & { _id: string }
export type WebhookDeliveryFields = InferSchemaType<typeof webhookDeliverySchema> & { _id: string }

export const createWebhookEndpointModel = (connection: Connection) => connection.model('WebhookEndpoint', webhookEndpointSchema)
export const createWebhookDeliveryModel = (connection: Connection) => connection.model('WebhookDelivery', webhookDeliverySchema)
export const createWebhookAttemptModel = (connection: Connection) => connection.model('WebhookAttempt', webhookAttemptSchema)
