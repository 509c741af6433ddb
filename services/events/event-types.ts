/**
 * The event catalogue (SPEC "Events: audit log and webhooks"). Every security event is one of these;
 * the audit log stores them and the webhooks deliver them.
 */
export const EVENT_TYPES = [
  'user.created', 'user.updated', 'user.deleted', 'user.disabled', 'user.enabled',
  'session.created', 'session.revoked', 'otp.locked',
  'passkey.added', 'passkey.removed', 'signing_key.rotated', 'admin.action',
  // An endpoint that failed for five days was disabled (services/events/webhooks.ts).
  'webhook.disabled'
] as const

export type EventType = typeof EVENT_TYPES[number]

/** How a session began (`session.created`'s `data.method`). */
export type SessionMethod = 'magic_link' | 'otp' | 'password' | 'passkey' | 'cross_device'

/** Why a session ended (`session.revoked`'s `data.reason`, one event per session). */
export type SessionRevokeReason = 'logout' | 'logout_all' | 'session_deleted' | 'refresh_reused' | 'account_deleted' | 'admin'

/** What a flow hands the audit log. `data` never holds a secret, code, token or password. */
export interface EventInput {
  type: EventType
  userId?: string
  sessionId?: string
  ip?: string
  userAgent?: string
  data?: Record<string, unknown>
}

/** One event as stored, returned by the API and sent to webhooks (SPEC's event shape). */
export interface AuditEvent {
  id: string
  type: EventType
  timestamp: string
  userId?: string
  sessionId?: string
  ip?: string
  userAgent?: string
  data: Record<string, unknown>
}
