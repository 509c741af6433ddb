import { randomBytes, randomUUID } from 'node:crypto'
import { Webhook } from 'standardwebhooks'
import type { Clock } from '../infrastructure/clock.js'
import { withMongoBudget } from '../infrastructure/mongo-budget.js'
import { ValidationFailedError, withExtras } from '../infrastructure/errors.js'
import type { RedisClient } from '../infrastructure/redis-client.js'
import { redisKeys } from '../infrastructure/redis-keys.js'
import { defineScript } from '../infrastructure/redis-script.js'
import type { Models } from '../models/index.js'
import { open, seal } from '../tokens/token-crypto.js'
import { toEvent, type AuditLog } from './audit-log.js'
import { EVENT_TYPES, type EventType } from './event-types.js'
import { insertIdempotent } from '../models/insert.js'
import { checkEndpointUrl, safePost, WebhookUrlError, type Resolver } from './ssrf.js'

/** After attempt n fails, the next is due this much later (SPEC: about 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, then failed). */
/** MongoDB time an attempt has beyond its receiver's timeout (its reads before, its writes after). */
const ATTEMPT_MONGO_MARGIN_MS = 10_000

export const RETRY_SCHEDULE_MS = [5_000, 300_000, 1_800_000, 7_200_000, 18_000_000, 36_000_000]
/** An endpoint whose attempts have all failed for this long is disabled. */
export const DISABLE_AFTER_MS = 5 * 24 * 3_600_000
/** Attempts kept in each endpoint's delivery log. */
export const LOG_LIMIT = 1000
/** Attempts in flight to one endpoint at once, over every instance. */
export const ENDPOINT_CONCURRENCY = 4
/** A claim outlives the attempt's timeout by this much; a claimer that died frees it then. */
const CLAIM_MARGIN_MS = 20_000
const ENV_ENDPOINT_ID = 'wh_env'
const SECRET_PURPOSE = 'latchkey webhook secret'

// KEYS: the endpoint's in-flight set (member: delivery id, score: claim end), its claim owners.
// ARGV: delivery id, claim token, now, claim end, concurrency, key TTL ms.
// 1 = claimed; 0 = someone holds it; -1 = the endpoint is at its concurrency.
const claimScript = defineScript<number>(`
local expired = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[3])
for _, member in ipairs(expired) do redis.call('HDEL', KEYS[2], member) end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[3])
if redis.call('ZSCORE', KEYS[1], ARGV[1]) then return 0 end
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[5]) then return -1 end
redis.call('ZADD', KEYS[1], ARGV[4], ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[6])
redis.call('PEXPIRE', KEYS[2], ARGV[6])
return 1
`)

// KEYS: as above. ARGV: delivery id, claim token. Frees the claim only if it is still this one.
const releaseScript = defineScript<number>(`
if redis.call('HGET', KEYS[2], ARGV[1]) ~= ARGV[2] then return 0 end
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
return 1
`)

export type AttemptOutcome = 'delivered' | 'http_error' | 'timeout' | 'network_error' | 'blocked'

export interface EndpointView {
  id: string
  url: string
  events: EventType[]
  createdAt: string
  disabledAt: string | null
  source: 'env' | 'admin'
}

export interface DeliveryView {
  eventId: string
  eventType: string
  attempt: number
  status: number | null
  outcome: AttemptOutcome
  durationMs: number
  attemptedAt: string
  nextAttemptAt: string | null
}

export interface WebhookHooks {
  /** Told of each attempt's outcome (metrics). */
  onAttempt?: (outcome: AttemptOutcome, endpointId: string) => void
  /** Told when an endpoint is disabled (metrics; the event itself is recorded here). */
  onDisabled?: (endpointId: string) => void
  /** Told of each event fanned out (metrics: events recorded). */
  onPublished?: (type: string) => void
}

const encodeCursor = (at: Date, id: string): string => Buffer.from(`${at.getTime()}:${id}`).toString('base64url')
function decodeCursor (cursor: string): { at: Date, id: string } | undefined {
  const [ms, id] = Buffer.from(cursor, 'base64url').toString().split(':', 2)
  const time = Number(ms)
  if (!Number.isSafeInteger(time) || id === undefined || !/^[0-9a-f]{24}$/.test(id)) return undefined
  return { at: new Date(time), id }
}

export const newWebhookSecret = (): string => `whsec_${randomBytes(32).toString('base64')}`

/**
 * Webhooks (Standard Webhooks, at least once). Events reach endpoints in three idempotent steps
 * any instance may run at any time:
 *  1. fan-out: each published event not yet dispatched gets one delivery per matching endpoint,
 *     `_id` = `<eventId>:<endpointId>` (a crash mid-way makes no second delivery), then is marked;
 *  2. claim: a due delivery is claimed in Redis (one atomic script per endpoint: at most
 *     ENDPOINT_CONCURRENCY claims in flight per endpoint, over every instance; a claim lasts the
 *     timeout plus a margin, so a claimer that dies frees it), then re-read from MongoDB;
 *  3. attempt: signed POST (services/events/ssrf.ts), outcome written to the delivery and the
 *     endpoint's log, then the claim freed. Failures are retried on RETRY_SCHEDULE_MS, always with
 *     the event id as webhook-id; after the last the delivery is failed.
 */
export function createWebhooks ({ models, redis, clock, auditLog, rootSecret, allowPrivate, resolver, timeoutMs, hooks = {} }: {
  models: Models
  redis: RedisClient
  clock: Clock
  auditLog: Pick<AuditLog, 'record'>
  /** JWT_SECRET: endpoint secrets are sealed under a key derived from it. */
  rootSecret: string
  allowPrivate: boolean
  resolver: Resolver
  timeoutMs: number
  hooks?: WebhookHooks
}) {
  const { WebhookEndpoint, WebhookDelivery, WebhookAttempt, AuditEvent } = models
  const claimMs = timeoutMs + CLAIM_MARGIN_MS
  const inFlight = new Map<string, { abort: () => void, done: Promise<void> }>()
  let halted = false

  const purpose = (id: string): string => `${SECRET_PURPOSE} ${id}`
  const view = (endpoint: { _id: string, url: string, events?: string[] | null, createdAt: Date, disabledAt?: Date | null, source: string }): EndpointView => ({
    id: endpoint._id,
    url: endpoint.url,
    events: (endpoint.events ?? []) as EventType[],
    createdAt: endpoint.createdAt.toISOString(),
    disabledAt: endpoint.disabledAt == null ? null : endpoint.disabledAt.toISOString(),
    source: endpoint.source as 'env' | 'admin'
  })

  function validate (url: unknown, events: unknown): { url: string, events: EventType[] } {
    try {
      if (typeof url !== 'string') throw new WebhookUrlError('url must be an absolute https:// URL')
      checkEndpointUrl(url, allowPrivate)
    } catch (error) {
      throw withExtras(new ValidationFailedError((error as Error).message), { body: { field: 'url' } })
    }
    const list = events === undefined ? [] : events
    if (!Array.isArray(list) || list.some((type) => !(EVENT_TYPES as readonly string[]).includes(type as string))) {
      throw withExtras(new ValidationFailedError(`events must list event types among: ${EVENT_TYPES.join(', ')}`), { body: { field: 'events' } })
    }
    return { url, events: [...new Set(list as EventType[])] }
  }

  /** Step 1: fan-out of published events. */
  async function dispatch (): Promise<number> {
    const events = await AuditEvent.find({ dispatched: false, pending: { $ne: true } }, { _id: 1, type: 1 }).sort({ timestamp: 1 }).limit(500).lean()
    if (events.length === 0) return 0
    const endpoints = await WebhookEndpoint.find({ disabledAt: null }, { _id: 1, events: 1 }).lean()
    const now = new Date(clock.now())
    const deliveries = events.flatMap((event) => endpoints
      .filter((endpoint) => (endpoint.events ?? []).length === 0 || endpoint.events.includes(event.type))
      .map((endpoint) => ({
        _id: `${event._id}:${endpoint._id}`,
        eventId: event._id,
        eventType: event.type,
        endpointId: endpoint._id,
        state: 'pending',
        attempts: 0,
        nextAttemptAt: now,
        createdAt: now
      })))
    await insertIdempotent(WebhookDelivery, deliveries)
    await AuditEvent.updateMany({ _id: { $in: events.map((event) => event._id) } }, { $set: { dispatched: true } })
    for (const event of events) hooks.onPublished?.(event.type)
    return deliveries.length
  }

  async function release (endpointId: string, deliveryId: string, token: string): Promise<void> {
    await releaseScript(redis, [redisKeys.webhookSlots(endpointId), redisKeys.webhookClaims(endpointId)], [deliveryId, token]).catch(() => {})
  }

  /** Endpoint bookkeeping after an attempt: success clears failingSince; five days of failures disable it. */
  async function afterAttempt (endpointId: string, ok: boolean, at: Date): Promise<void> {
    if (ok) {
      await WebhookEndpoint.updateOne({ _id: endpointId, failingSince: { $ne: null } }, { $set: { failingSince: null } })
      return
    }
    await WebhookEndpoint.updateOne({ _id: endpointId, failingSince: null }, { $set: { failingSince: at } })
    const endpoint = await WebhookEndpoint.findById(endpointId, { failingSince: 1, disabledAt: 1, url: 1 }).lean()
    if (endpoint === null || endpoint.disabledAt != null || endpoint.failingSince == null) return
    if (at.getTime() - endpoint.failingSince.getTime() < DISABLE_AFTER_MS) return
    const result = await WebhookEndpoint.updateOne({ _id: endpointId, disabledAt: null }, { $set: { disabledAt: at } })
    if (result.modifiedCount === 0) return
    await WebhookDelivery.updateMany({ endpointId, state: 'pending' }, { $set: { state: 'failed', nextAttemptAt: null } })
    hooks.onDisabled?.(endpointId)
    await auditLog.record({ type: 'webhook.disabled', data: { endpointId, host: new URL(endpoint.url).host, failingSince: endpoint.failingSince.toISOString() } })
  }

  /** Steps 2 and 3 for one due delivery; false when it was not ours to attempt. */
  async function attempt (due: { _id: string, endpointId: string }): Promise<boolean> {
    const token = randomUUID()
    const keys = [redisKeys.webhookSlots(due.endpointId), redisKeys.webhookClaims(due.endpointId)]
    const now = clock.now()
    const claimed = await claimScript(redis, keys, [due._id, token, now, now + claimMs, ENDPOINT_CONCURRENCY, claimMs])
    if (claimed !== 1) return false
    let aborted = false
    let abortRequest: (() => void) | undefined
    // The attempt outlives the pass that started it: it gets a MongoDB budget of its own, long
    // enough for the receiver's whole timeout and the writes after it (the pass's budget would cut
    // off the recording of a slow answer, and the delivery would be retried without its back-off).
    const work = withMongoBudget(timeoutMs + ATTEMPT_MONGO_MARGIN_MS, async () => {
      try {
        // Re-read under the claim: another instance may have just made this attempt.
        const delivery = await WebhookDelivery.findById(due._id).lean()
        if (delivery === null || delivery.state !== 'pending' || (delivery.nextAttemptAt?.getTime() ?? Infinity) > clock.now()) return
        const [endpoint, event] = await Promise.all([WebhookEndpoint.findById(delivery.endpointId).lean(), AuditEvent.findById(delivery.eventId).lean()])
        if (endpoint === null || endpoint.disabledAt !== null || event === null) {
          await WebhookDelivery.updateOne({ _id: delivery._id, state: 'pending' }, { $set: { state: 'failed', nextAttemptAt: null } })
          return
        }
        const secret = open(rootSecret, purpose(endpoint._id), endpoint.sealedSecret)
        if (secret === null) return // JWT_SECRET changed: cannot sign; the delivery waits (logged by the plugin)
        const body = JSON.stringify(toEvent(event as Parameters<typeof toEvent>[0]))
        const sentAt = clock.now()
        const signature = new Webhook(secret).sign(event._id, new Date(sentAt), body)
        const started = performance.now()
        const post = safePost({
          url: endpoint.url,
          body,
          headers: {
            'content-type': 'application/json',
            'user-agent': 'Latchkey-Webhooks/1',
            'webhook-id': event._id,
            'webhook-timestamp': String(Math.floor(sentAt / 1000)),
            'webhook-signature': signature
          },
          allowPrivate,
          resolver,
          timeoutMs,
          onRequest: (abort) => { abortRequest = abort }
        })
        const result = await post
        if (aborted) return // the instance is shutting down or was killed: the claim lapses, another instance retries
        const durationMs = Math.round(performance.now() - started)
        const at = new Date(clock.now())
        const ok = result.kind === 'answered' && result.status !== null && result.status >= 200 && result.status < 300
        const outcome: AttemptOutcome = ok ? 'delivered' : result.kind === 'answered' ? 'http_error' : result.kind
        const number = delivery.attempts + 1
        const wait = RETRY_SCHEDULE_MS[number - 1]
        const nextAttemptAt = ok || wait === undefined ? null : new Date(at.getTime() + wait)
        await WebhookDelivery.updateOne({ _id: delivery._id, attempts: delivery.attempts }, {
          $set: { attempts: number, state: ok ? 'delivered' : nextAttemptAt === null ? 'failed' : 'pending', nextAttemptAt }
        })
        await WebhookAttempt.create({
          endpointId: endpoint._id, eventId: event._id, eventType: event.type, attempt: number, status: result.status, outcome, durationMs, attemptedAt: at, nextAttemptAt
        })
        hooks.onAttempt?.(outcome, endpoint._id)
        await afterAttempt(endpoint._id, ok, at)
      } finally {
        if (!halted) await release(due.endpointId, due._id, token)
      }
    })
    inFlight.set(due._id, { abort: () => { aborted = true; abortRequest?.() }, done: work.catch(() => {}) })
    void work.catch(() => {}).finally(() => inFlight.delete(due._id))
    return true
  }

  return {
    dispatch,

    /**
     * One worker pass: fan out, then claim and start every due delivery this instance can take
     * (attempts run in the background; `settle()` waits for them).
     */
    async runDue (limit = 100): Promise<number> {
      if (halted) return 0
      await dispatch()
      const due = await WebhookDelivery.find({ state: 'pending', nextAttemptAt: { $lte: new Date(clock.now()) } }, { _id: 1, endpointId: 1 })
        .sort({ nextAttemptAt: 1 }).limit(limit).lean()
      let started = 0
      for (const delivery of due) {
        if (halted) break
        if (inFlight.has(delivery._id)) continue
        if (await attempt(delivery)) started++
      }
      return started
    },

    /** Waits for the attempts in flight on this instance. */
    async settle (): Promise<void> {
      await Promise.all([...inFlight.values()].map(async (entry) => await entry.done))
    },

    /** Graceful stop: attempts in flight are abandoned and their claims freed (another instance retries at once). */
    async stop (): Promise<void> {
      for (const entry of inFlight.values()) entry.abort()
      await Promise.all([...inFlight.values()].map(async (entry) => await entry.done))
    },

    /** Tests: this instance dies where it stands (no write, no release, nothing more). */
    halt (): void {
      halted = true
      for (const entry of inFlight.values()) entry.abort()
    },

    pendingCount: async (): Promise<{ count: number, oldestMs: number }> => {
      const [count, oldest] = await Promise.all([
        WebhookDelivery.countDocuments({ state: 'pending' }),
        WebhookDelivery.findOne({ state: 'pending' }, { createdAt: 1 }).sort({ createdAt: 1 }).lean()
      ])
      return { count, oldestMs: oldest === null ? 0 : Math.max(0, clock.now() - oldest.createdAt.getTime()) }
    },

    /** Keeps each endpoint's log to its newest LOG_LIMIT attempts. */
    async pruneLogs (): Promise<number> {
      let removed = 0
      for (const endpoint of await WebhookEndpoint.find({}, { _id: 1 }).lean()) {
        const edge = await WebhookAttempt.find({ endpointId: endpoint._id }, { attemptedAt: 1 }).sort({ attemptedAt: -1, _id: -1 }).skip(LOG_LIMIT).limit(1).lean()
        if (edge.length === 0) continue
        removed += (await WebhookAttempt.deleteMany({ endpointId: endpoint._id, attemptedAt: { $lte: edge[0]!.attemptedAt } })).deletedCount
      }
      return removed
    },

    /** WEBHOOK_URL/WEBHOOK_SECRET: the env endpoint follows the environment (removed when unset). */
    async syncEnvEndpoint (url: string | undefined, secret: string | undefined): Promise<void> {
      if (url === undefined || secret === undefined) {
        await WebhookEndpoint.deleteOne({ _id: ENV_ENDPOINT_ID })
        return
      }
      const existing = await WebhookEndpoint.findById(ENV_ENDPOINT_ID).lean()
      const same = existing !== null && existing.url === url && open(rootSecret, purpose(ENV_ENDPOINT_ID), existing.sealedSecret) === secret
      if (same) return
      // A new URL or secret starts afresh (a disabled env endpoint is enabled again by changing either).
      await WebhookEndpoint.updateOne({ _id: ENV_ENDPOINT_ID }, {
        $set: { url, events: [], sealedSecret: seal(rootSecret, purpose(ENV_ENDPOINT_ID), secret), source: 'env', failingSince: null, disabledAt: null },
        $setOnInsert: { createdAt: new Date(clock.now()) }
      }, { upsert: true })
    },

    /** Admin API: a new endpoint; its secret is returned this once (stored sealed). Invalid URL → 400 VALIDATION_FAILED. */
    async createEndpoint (input: { url: string, events?: EventType[] }): Promise<{ id: string, url: string, events: EventType[], secret: string, createdAt: string }> {
      const { url, events } = validate(input.url, input.events)
      const id = `wh_${randomBytes(12).toString('hex')}`
      const secret = newWebhookSecret()
      const createdAt = new Date(clock.now())
      await WebhookEndpoint.create({ _id: id, url, events, sealedSecret: seal(rootSecret, purpose(id), secret), source: 'admin', createdAt })
      return { id, url, events, secret, createdAt: createdAt.toISOString() }
    },

    async listEndpoints (): Promise<EndpointView[]> {
      return (await WebhookEndpoint.find({}).sort({ createdAt: 1, _id: 1 }).lean()).map(view)
    },

    /** Removes an endpoint and its pending deliveries; false when there is none. */
    async deleteEndpoint (id: string): Promise<boolean> {
      const { deletedCount } = await WebhookEndpoint.deleteOne({ _id: id })
      if (deletedCount === 0) return false
      await Promise.all([WebhookDelivery.deleteMany({ endpointId: id }), WebhookAttempt.deleteMany({ endpointId: id })])
      return true
    },

    /** The endpoint's delivery log, newest first; null when the endpoint does not exist. */
    async listDeliveries (id: string, query: { cursor?: string, limit: number }): Promise<{ deliveries: DeliveryView[], next: string | null } | null> {
      if (await WebhookEndpoint.exists({ _id: id }) === null) return null
      const filter: Record<string, unknown> = { endpointId: id }
      const after = query.cursor === undefined ? undefined : decodeCursor(query.cursor)
      if (after !== undefined) filter.$or = [{ attemptedAt: { $lt: after.at } }, { attemptedAt: after.at, _id: { $lt: after.id } }]
      const rows = await WebhookAttempt.find(filter).sort({ attemptedAt: -1, _id: -1 }).limit(query.limit + 1).lean()
      const page = rows.slice(0, query.limit)
      const last = page.at(-1)
      return {
        deliveries: page.map((row) => ({
          eventId: row.eventId,
          eventType: row.eventType,
          attempt: row.attempt,
          status: row.status ?? null,
          outcome: row.outcome as AttemptOutcome,
          durationMs: row.durationMs,
          attemptedAt: row.attemptedAt.toISOString(),
          nextAttemptAt: row.nextAttemptAt == null ? null : row.nextAttemptAt.toISOString()
        })),
        next: rows.length > query.limit && last !== undefined ? encodeCursor(last.attemptedAt, last._id.toString()) : null
      }
    }
  }
}

export type Webhooks = ReturnType<typeof createWebhooks>
