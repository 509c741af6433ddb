import calculateSlot from 'cluster-key-slot'
import type { RedisClient } from './redis-client.js'
import { redisKeys } from './redis-keys.js'

/** One place where Redis keeps data: the single node, or one master of a Redis Cluster. */
export interface RedisShard {
  /** Stable name: `redis` for one node, the master's host:port in a cluster. */
  id: string
  /** Its marker key, in a slot the shard owns (services/sessions/revocation.ts). */
  markerKey: string
}

/** A CLUSTER SLOTS row: first slot, last slot, then the master [host, port, id, ...] and its replicas. */
export type ClusterSlotsRow = [number, number, [string, number, ...unknown[]], ...unknown[]]

const SLOT_TAG_SEARCH_LIMIT = 1_000_000

/**
 * The smallest decimal tag whose slot falls in one of `ranges`. Deterministic, so every instance
 * picks the same marker for a master as long as the master keeps its slots.
 */
export function slotTagWithin (ranges: Array<[number, number]>): string {
  for (let n = 0; n < SLOT_TAG_SEARCH_LIMIT; n++) {
    const slot = calculateSlot(String(n))
    if (ranges.some(([first, last]) => slot >= first && slot <= last)) return String(n)
  }
  throw new Error('no slot tag found for the shard') // unreachable for any non-empty range
}

/** The shards of a cluster from its CLUSTER SLOTS answer: each master with a marker in its own slots. */
export function shardsFromClusterSlots (rows: ClusterSlotsRow[]): RedisShard[] {
  const ranges = new Map<string, Array<[number, number]>>()
  for (const [first, last, [host, port]] of rows) {
    const id = `${host}:${port}`
    ranges.set(id, [...(ranges.get(id) ?? []), [first, last]])
  }
  return [...ranges.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([id, owned]) => ({ id, markerKey: redisKeys.shardMarker(slotTagWithin(owned)) }))
}

/** The shards behind a client: one for a single node (or Sentinel-managed master), one per cluster master. */
export async function listRedisShards (redis: RedisClient): Promise<RedisShard[]> {
  if (!redis.isCluster) return [{ id: 'redis', markerKey: redisKeys.shardMarker() }]
  const rows = await redis.cluster('SLOTS') as unknown as ClusterSlotsRow[]
  return shardsFromClusterSlots(rows)
}
