import { randomUUID } from 'node:crypto'
import type { Clock } from '../infrastructure/clock.js'
import type { RedisClient } from '../infrastructure/redis-client.js'
import { redisKeys } from '../infrastructure/redis-keys.js'
import { defineScript } from '../infrastructure/redis-script.js'
import type { Models } from '../models/index.js'

/** MongoDB error codes meaning "this server does not implement that" (FerretDB lacks TTL indexes). */
const NOT_IMPLEMENTED = new Set([115, 238])
const INDEX_OPTIONS_CONFLICT = new Set([85, 86])
/** Events removed per sweep at most (the next sweep takes the rest). */
export const SWEEP_BATCH = 1000
const LEASE_MS = 60_000

const releaseLease = defineScript<number>(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`)

/**
 * AUDIT_RETENTION: a TTL index on the events' timestamp where the server has TTL indexes; where it
 * has not (FerretDB), a bounded periodic delete (`sweep`), done by one instance at a time under a
 * Redis lease that lapses if its holder dies. Finished webhook deliveries older than the
 * retention go with their events.
 */
export function createRetention ({ models, redis, clock, retentionSeconds }: { models: Models, redis: RedisClient, clock: Clock, retentionSeconds: number }) {
  const { AuditEvent, WebhookDelivery } = models

  return {
    /** Creates (or adjusts) the TTL index; false where the server has none. */
    async ensureTtlIndex (): Promise<boolean> {
      const create = async (): Promise<void> => {
        await AuditEvent.collection.createIndex({ timestamp: 1 }, { expireAfterSeconds: retentionSeconds, name: 'timestamp_ttl' })
      }
      try {
        await create()
        return true
      } catch (error) {
        const code = (error as { code?: number }).code ?? 0
        if (NOT_IMPLEMENTED.has(code)) return false
        if (!INDEX_OPTIONS_CONFLICT.has(code)) throw error
        // AUDIT_RETENTION changed since the index was made.
        await AuditEvent.db.db!.command({ collMod: AuditEvent.collection.collectionName, index: { name: 'timestamp_ttl', expireAfterSeconds: retentionSeconds } })
        return true
      }
    },

    /** One bounded delete of expired events, if this instance wins the lease; the number removed (null: another instance holds it). */
    async sweep (): Promise<number | null> {
      const token = randomUUID()
      const won = await redis.set(redisKeys.auditRetentionLease, token, 'PX', LEASE_MS, 'NX')
      if (won !== 'OK') return null
      try {
        const cutoff = new Date(clock.now() - retentionSeconds * 1000)
        // Published and fanned out only: an event is never removed before its deliveries exist.
        const expired = await AuditEvent.find({ timestamp: { $lt: cutoff }, pending: { $ne: true }, dispatched: true }, { _id: 1 }).limit(SWEEP_BATCH).lean()
        const removed = expired.length === 0 ? 0 : (await AuditEvent.deleteMany({ _id: { $in: expired.map((event) => event._id) } })).deletedCount
        await WebhookDelivery.deleteMany({ state: { $ne: 'pending' }, createdAt: { $lt: cutoff } })
        return removed
      } finally {
        await releaseLease(redis, [redisKeys.auditRetentionLease], [token]).catch(() => {})
      }
    }
  }
}

export type Retention = ReturnType<typeof createRetention>
