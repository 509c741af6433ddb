import { randomBytes } from 'node:crypto'
import type { Clock } from '../infrastructure/clock.js'
import { mongoSignal } from '../infrastructure/mongo-budget.js'
import { insertOne } from '../models/insert.js'
import { isDuplicateOnly } from '../models/insert.js'
import type { Models } from '../models/index.js'
import type { AuditEvent, EventInput, EventType } from './event-types.js'

/** A document whose existence proves that a prepared event's action committed. */
export interface Requirement {
  /** A model of services/models (Session, User, ...). */
  model: string
  id: string
}

/** An event written before its action: pending until the outbox finds its requirements. */
export interface PreparedEvent extends EventInput {
  id?: string
  requires: Requirement[]
}

export interface EventQuery {
  userId?: string
  type?: EventType
  /** The `next` of the previous page. */
  cursor?: string
  limit: number
}

let sequence = 0
/**
 * `evt_` and 32 hex digits: the time (ms, 12 digits), a per-process sequence (4) and randomness
 * (16), so events written in one millisecond by one process page in the order they were made.
 */
export function newEventId (now = Date.now()): string {
  sequence = (sequence + 1) & 0xffff
  return `evt_${now.toString(16).padStart(12, '0').slice(-12)}${sequence.toString(16).padStart(4, '0')}${randomBytes(8).toString('hex')}`
}

const mongoOptions = (): Record<string, unknown> => {
  const signal = mongoSignal()
  return signal === undefined ? {} : { signal }
}

/** Opaque cursor: the last event's timestamp and id (ties on one millisecond stay ordered). */
function encodeCursor (event: { timestamp: Date, _id: string }): string {
  return Buffer.from(`${event.timestamp.getTime()}:${event._id}`).toString('base64url')
}

function decodeCursor (cursor: string): { timestamp: Date, id: string } | undefined {
  const [ms, id] = Buffer.from(cursor, 'base64url').toString().split(':', 2)
  const time = Number(ms)
  if (!Number.isSafeInteger(time) || id === undefined || id === '') return undefined
  return { timestamp: new Date(time), id }
}

export function toEvent (document: { _id: string, type: string, timestamp: Date, userId?: string | null, sessionId?: string | null, ip?: string | null, userAgent?: string | null, data?: unknown }): AuditEvent {
  const event: AuditEvent = { id: document._id, type: document.type as EventType, timestamp: document.timestamp.toISOString(), data: (document.data ?? {}) as Record<string, unknown> }
  if (document.userId != null) event.userId = document.userId
  if (document.sessionId != null) event.sessionId = document.sessionId
  if (document.ip != null) event.ip = document.ip
  if (document.userAgent != null) event.userAgent = document.userAgent
  return event
}

/**
 * The audit log: records events in MongoDB and reads them back page by page, newest first.
 * This is the storage the events, admin and passkey flows share.
 */
export function createAuditLog ({ models, clock }: { models: Models, clock: Clock }) {
  return {
    /** A fresh event id (`evt_…`), for flows that must know it before the event is written. */
    newEventId (): string {
      return newEventId(clock.now())
    },

    /**
     * Records an event whose action already committed (after-commit: a crash between the action
     * and this call loses the event; flows that must not lose it use `prepare`).
     */
    async record (input: EventInput, id?: string): Promise<AuditEvent> {
      const document = await insertOne(models.AuditEvent, {
        _id: id ?? newEventId(clock.now()),
        type: input.type,
        timestamp: new Date(clock.now()),
        userId: input.userId,
        sessionId: input.sessionId,
        ip: input.ip,
        userAgent: input.userAgent,
        data: input.data ?? {}
      })
      return toEvent(document.toObject())
    },

    /**
     * Writes events BEFORE their action, as pending, in one MongoDB write. The outbox
     * (services/events/outbox.ts) publishes each once every document it `requires` exists, and
     * drops it if they still do not once the action can no longer commit. So a crash anywhere
     * leaves an event exactly when its action committed.
     */
    async prepare (events: PreparedEvent[]): Promise<void> {
      const now = clock.now()
      // Events prepared together are a millisecond apart, in the order given (user.created before
      // its session.created, whatever their ids).
      await models.AuditEvent.insertMany(events.map((event, i) => ({
        _id: event.id ?? newEventId(now + i),
        type: event.type,
        timestamp: new Date(now + i),
        userId: event.userId,
        sessionId: event.sessionId,
        ip: event.ip,
        userAgent: event.userAgent,
        data: event.data ?? {},
        pending: true,
        requires: event.requires
      })), { ...mongoOptions(), ordered: false }).catch((error: unknown) => {
        // An event prepared under a fixed id (user.created of a retried sign-up) is there already.
        if (!isDuplicateOnly(error)) throw error
      })
    },

    async list (query: EventQuery): Promise<{ events: AuditEvent[], next: string | null }> {
      const filter: Record<string, unknown> = { pending: { $ne: true } }
      if (query.userId !== undefined) filter.userId = query.userId
      if (query.type !== undefined) filter.type = query.type
      const after = query.cursor === undefined ? undefined : decodeCursor(query.cursor)
      if (after !== undefined) {
        filter.$or = [
          { timestamp: { $lt: after.timestamp } },
          { timestamp: after.timestamp, _id: { $lt: after.id } }
        ]
      }
      const documents = await models.AuditEvent.find(filter).sort({ timestamp: -1, _id: -1 }).limit(query.limit + 1).lean()
      const page = documents.slice(0, query.limit)
      const last = page.at(-1)
      return {
        events: page.map((document) => toEvent(document as Parameters<typeof toEvent>[0])),
        next: documents.length > query.limit && last !== undefined ? encodeCursor(last as { timestamp: Date, _id: string }) : null
      }
    }
  }
}

export type AuditLog = ReturnType<typeof createAuditLog>
