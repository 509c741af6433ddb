import { describeDevice } from '../links/cross-device-describe.js'
import type { ClientInfo, SessionStarting } from '../sessions/sessions.js'
import { derivedEventId } from './outbox.js'
import type { AuditLog, PreparedEvent } from './audit-log.js'
import type { SessionMethod } from './event-types.js'

/** The session's stored method in the catalogue's spelling (`magic-link` → `magic_link`). */
export const sessionMethod = (method: string): SessionMethod => method.replaceAll('-', '_') as SessionMethod

/** user.created, pending until the account exists, under an id of the account's (a retried sign-up prepares it once). */
const userCreated = (userId: string, client: ClientInfo = {}): PreparedEvent => ({
  id: derivedEventId(userId, 'user.created'),
  type: 'user.created',
  userId,
  ip: client.ip?.slice(0, 64),
  userAgent: client.userAgent?.slice(0, 256),
  requires: [{ model: 'User', id: userId }]
})

/** For flows that create the account apart from a session (a cross-device sign-up, approved on another device). */
export function userCreatingEvent (auditLog: Pick<AuditLog, 'prepare'>): (userId: string) => Promise<void> {
  return async (userId) => { await auditLog.prepare([userCreated(userId)]) }
}

/**
 * The events of a starting session, written before it (one MongoDB write, with `user.created` for
 * a sign-up): pending until the session (and for a sign-up the account) exists.
 */
export function sessionStartingEvents (auditLog: Pick<AuditLog, 'prepare'>): SessionStarting {
  return async ({ sessionId, userId, method, client, newUser }) => {
    const requires = [{ model: 'Session', id: sessionId }, { model: 'User', id: userId }]
    const events: PreparedEvent[] = []
    if (newUser) events.push(userCreated(userId, client))
    events.push({
      type: 'session.created',
      userId,
      sessionId,
      ip: client.ip?.slice(0, 64),
      userAgent: client.userAgent?.slice(0, 256),
      data: { method: sessionMethod(method), device: describeDevice(client.userAgent) },
      requires
    })
    await auditLog.prepare(events)
  }
}
