import { createHash } from 'node:crypto'
import type { Model } from 'mongoose'
import type { Clock } from '../infrastructure/clock.js'
import type { Models } from '../models/index.js'
import { insertIdempotent } from '../models/insert.js'
import type { RevocationFields } from '../models/revocation.js'
import { toEvent, type Requirement } from './audit-log.js'
import type { AuditEvent, EventType, SessionRevokeReason } from './event-types.js'

/**
 * How long after a prepared event was written its action may still commit. Past it, an event whose
 * action left no trace is dropped. A sign-in's whole MongoDB time is bounded by MONGODB_TIMEOUT
 * (2 s by default, a few at most); a write the driver gave up on is applied by the server at once
 * or never, so a minute is ample.
 */
export const PENDING_WINDOW_MS = 60_000
const BATCH = 500

/** `session.revoked`'s reason for each revocation kind (a kind added later, e.g. by the admin API, reads as admin). */
const REASONS: Record<string, SessionRevokeReason> = {
  logout: 'logout',
  'logout-all': 'logout_all',
  session: 'session_deleted',
  reuse: 'refresh_reused',
  'account-deleted': 'account_deleted',
  admin: 'admin'
}

/** The id of an event derived from a journal entry: the same every time it is derived. */
export const derivedEventId = (entryId: string, part: string): string =>
  `evt_${createHash('sha256').update(`${entryId}:${part}`).digest('hex').slice(0, 32)}`

export interface ReconcileReport {
  /** Prepared events whose action was found: now published. */
  confirmed: number
  /** Prepared events whose action never committed: removed. */
  dropped: number
  /** Events derived from revocation journal entries. */
  derived: number
}

/**
 * Makes sure every committed action has its event, and no other action has one (FerretDB has no
 * transactions, so an action and its event cannot be written together). Two mechanisms, both
 * idempotent, run by any instance at any time (docs/events.md has the argument):
 *
 * 1. Prepared events (sign-ins, sign-ups): written pending BEFORE the action, naming the documents
 *    the action writes (`requires`). Confirmed when they all exist; dropped when they still do not
 *    PENDING_WINDOW_MS later.
 * 2. Revocations (logout, logout-all, session deletion, refresh reuse, account deletion) already
 *    begin with their own durable record, the revocation journal (services/sessions/revocation.ts),
 *    whose entry is completed by the data-loss watch whatever happens. Their events are derived
 *    from the completed entries, one `session.revoked` per session the entry revoked (plus
 *    `user.deleted`), under ids computed from the entry, so deriving twice changes nothing.
 */
export function createOutbox ({ models, clock, pendingWindowMs = PENDING_WINDOW_MS, onConfirmed }: {
  models: Models
  clock: Clock
  pendingWindowMs?: number
  /** Told of the sign-in events just confirmed (the new-device email); its failure does not undo them. */
  onConfirmed?: (events: Array<Pick<AuditEvent, 'type' | 'userId' | 'sessionId' | 'ip' | 'userAgent' | 'timestamp' | 'data'>>) => Promise<unknown>
}) {
  const { AuditEvent, Revocation, Session, User } = models
  const byName = models as unknown as Record<string, Model<any>>

  /** Which of the required documents exist (a deleted session or account still counts if its end was recorded). */
  async function existing (requirements: Requirement[]): Promise<Set<string>> {
    const found = new Set<string>()
    const byModel = new Map<string, Set<string>>()
    for (const { model, id } of requirements) {
      if (!byModel.has(model)) byModel.set(model, new Set())
      byModel.get(model)!.add(id)
    }
    await Promise.all([...byModel].map(async ([model, ids]) => {
      const target = byName[model]
      if (target === undefined) return
      const docs = await target.find({ _id: { $in: [...ids] } }, { _id: 1 }).lean() as Array<{ _id: unknown }>
      for (const doc of docs) found.add(`${model}:${String(doc._id)}`)
      // Account deletion removes the sessions and the user: their recorded end proves they existed.
      const missing = [...ids].filter((id) => !found.has(`${model}:${id}`))
      if (missing.length === 0) return
      if (model === 'Session') {
        const ended = await AuditEvent.find({ type: 'session.revoked', sessionId: { $in: missing }, pending: { $ne: true } }, { sessionId: 1 }).lean()
        for (const event of ended) found.add(`Session:${event.sessionId!}`)
      } else if (model === 'User') {
        const ended = await AuditEvent.find({ type: 'user.deleted', userId: { $in: missing }, pending: { $ne: true } }, { userId: 1 }).lean()
        for (const event of ended) found.add(`User:${event.userId!}`)
      }
    }))
    return found
  }

  async function settlePending (filter: Record<string, unknown> = {}): Promise<{ confirmed: number, dropped: number }> {
    const pending = await AuditEvent.find({ ...filter, pending: true }).sort({ timestamp: 1 }).limit(BATCH).lean()
    if (pending.length === 0) return { confirmed: 0, dropped: 0 }
    const requirementsOf = (event: typeof pending[number]): Requirement[] => (event.requires ?? []) as Requirement[]
    const found = await existing(pending.flatMap(requirementsOf))
    const cutoff = clock.now() - pendingWindowMs
    const confirmed: string[] = []
    const dropped: string[] = []
    const newUsers: Array<{ eventId: string, userId: string }> = []
    for (const event of pending) {
      if (requirementsOf(event).every(({ model, id }) => found.has(`${model}:${id}`))) {
        if (event.type === 'user.created' && event.userId != null) newUsers.push({ eventId: event._id, userId: event.userId })
        else confirmed.push(event._id)
      } else if (event.timestamp.getTime() < cutoff) {
        dropped.push(event._id)
      }
    }
    // user.created carries the account as it was made (its address and name), read from the account itself.
    if (newUsers.length > 0) {
      const users = await User.find({ _id: { $in: newUsers.map((entry) => entry.userId) } }, { email: 1, name: 1 }).lean()
      const byId = new Map(users.map((user) => [user._id.toString(), user]))
      await Promise.all(newUsers.map(async ({ eventId, userId }) => {
        const user = byId.get(userId)
        await AuditEvent.updateOne({ _id: eventId, pending: true },
          { $set: { pending: false, ...(user === undefined ? {} : { data: { email: user.email, name: user.name } }) }, $unset: { requires: 1 } })
      }))
    }
    if (confirmed.length > 0) await AuditEvent.updateMany({ _id: { $in: confirmed }, pending: true }, { $set: { pending: false }, $unset: { requires: 1 } })
    if (dropped.length > 0) await AuditEvent.deleteMany({ _id: { $in: dropped }, pending: true })
    if (onConfirmed !== undefined && confirmed.length > 0) {
      const ids = new Set(confirmed)
      await onConfirmed(pending.filter((event) => ids.has(event._id) && event.type === 'session.created').map((event) => toEvent(event))).catch(() => {})
    }
    return { confirmed: confirmed.length + newUsers.length, dropped: dropped.length }
  }

  /** Events of completed journal entries that have none yet. */
  async function deriveRevocations (): Promise<number> {
    const entries = await Revocation.find({ eventsAt: null, mirroredAt: { $ne: null } }).sort({ at: 1 }).limit(BATCH).lean() as RevocationFields[]
    if (entries.length === 0) return 0
    // A session counts as revoked by an entry when the entry set its revokedAt (a second logout of
    // a dead session revokes nothing). Account deletion removes the sessions: its list is what died.
    const sessionIds = entries.filter((entry) => entry.kind !== 'account-deleted').flatMap((entry) => entry.sessionIds)
    const sessions = sessionIds.length === 0 ? [] : await Session.find({ _id: { $in: sessionIds } }, { revokedAt: 1 }).lean()
    const revokedAt = new Map(sessions.map((session) => [session._id.toString(), session.revokedAt?.getTime()]))
    const events: Array<Record<string, unknown>> = []
    for (const entry of entries) {
      const entryId = entry._id.toString()
      const userId = entry.userId.toString()
      const base = { timestamp: entry.at, userId, pending: false, dispatched: false }
      const reason = REASONS[entry.kind] ?? 'admin'
      for (const id of entry.sessionIds.map(String)) {
        if (entry.kind !== 'account-deleted' && revokedAt.get(id) !== entry.at.getTime()) continue
        events.push({ ...base, _id: derivedEventId(entryId, id), type: 'session.revoked' satisfies EventType, sessionId: id, data: { reason } })
      }
      if (entry.kind === 'account-deleted') events.push({ ...base, _id: derivedEventId(entryId, 'user'), type: 'user.deleted' satisfies EventType, data: {} })
    }
    await insertIdempotent(AuditEvent, events)
    await Revocation.updateMany({ _id: { $in: entries.map((entry) => entry._id) }, eventsAt: null }, { $set: { eventsAt: new Date(clock.now()) } })
    return events.length
  }

  return {
    deriveRevocations,

    /** One pass of both mechanisms. */
    async reconcile (): Promise<ReconcileReport> {
      // Revocations first: a session deleted with its account is then proven by its session.revoked.
      const derived = await deriveRevocations()
      const { confirmed, dropped } = await settlePending()
      return { confirmed, dropped, derived }
    },

    /** Settles one user's prepared events now (their activity page should show their own sign-in). */
    async settleUser (userId: string): Promise<void> {
      await settlePending({ userId })
    }
  }
}

export type Outbox = ReturnType<typeof createOutbox>
