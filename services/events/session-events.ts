import { describeDevice } from '../links/cross-device-describe.js'
import type { SessionStarting } from '../sessions/sessions.js'
import type { AuditLog, PreparedEvent } from './audit-log.js'
import type { SessionMethod } from './event-types.js'

/** The session's stored method in the catalogue's spelling (`magic-link` → `magic_link`). */
export const sessionMethod = (method: string): SessionMethod => method.replaceAll('-', '_') as SessionMethod

/**
 * The events of a starting session, written before it (one MongoDB write, with `user.created` for
 * a sign-up): pending until the session (and for a sign-up the account) exists.
 */
export function sessionStartingEvents (auditLog: Pick<AuditLog, 'prepare'>): SessionStarting {
  return async ({ sessionId, userId, method, client, newUser }) => {
    const requires = [{ model: 'Session', id: sessionId }, { model: 'User', id: userId }]
    const events: PreparedEvent[] = []
    if (newUser) events.push({ type: 'user.created', userId, ip: client.ip, userAgent: client.userAgent?.slice(0, 256), requires: [{ model: 'User', id: userId }] })
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
