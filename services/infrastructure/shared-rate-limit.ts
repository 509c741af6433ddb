import type { RedisClient } from './redis-client.js'
import { defineScript } from './redis-script.js'

// KEYS: one client's counter for one window. ARGV: hits to add, the counter's lifetime (ms).
// Returns the window's total over every instance.
const addHits = defineScript<number>(`
local total = redis.call('INCRBY', KEYS[1], ARGV[1])
if total == tonumber(ARGV[1]) then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return total
`)

/**
 * Share of a client's remaining budget that one instance may hand out on its own before telling
 * Redis. Each instance can be at most this far ahead of Redis, so K instances together can let
 * through at most (K − 1) × 1% of the limit more than the limit: 9% with 10 instances.
 */
export const LOCAL_SHARE = 0.01

interface Counter {
  /** The window's total over every instance, as Redis last reported it. */
  known: number
  /** Hits counted here and not yet sent to Redis. */
  pending: number
  /** Hits sent to Redis whose answer has not come back. */
  inFlight: number
}

/**
 * A fixed-window limit per client that holds across instances without a Redis round trip on the
 * request path. Each instance counts locally and adds its hits to a per-window counter in Redis in
 * batches, in the background; Redis answers with the total over every instance. A batch is 1% of
 * what the client has left (LOCAL_SHARE), so far from the limit an instance tells Redis once every
 * few dozen requests, and as the client nears its limit the batches shrink. Within the last
 * 1/LOCAL_SHARE requests of the limit each request's hit is sent at once and the answer decides
 * it (one more Redis command: plugins/app/authenticate.ts sends it together with the revocation
 * check, so the request still waits for one round trip, not two). Once
 * over the limit, requests are refused locally with no I/O until the window ends.
 *
 * Windows are aligned on the clock (minute n is the same window on every instance). A failed batch
 * is kept and sent with the next one; a failed decisive hit rejects (the caller answers 503: the
 * limit fails closed).
 */
export function createSharedRateLimit ({ redis, max, windowMs, key, now = Date.now, maxKeys = 100_000 }: {
  redis: RedisClient
  max: number
  windowMs: number
  /** The Redis key of one client's counter for one window (windows are numbered from the epoch). */
  key: (client: string, window: number) => string
  now?: () => number
  /** Bound on memory: past it the local counts restart early (Redis still holds the totals). */
  maxKeys?: number
}) {
  let window = -1
  let counters = new Map<string, Counter>()

  /** Sends the pending hits; resolves with the window's total over every instance. */
  async function flush (client: string, counter: Counter): Promise<number> {
    const hits = counter.pending
    counter.pending = 0
    counter.inFlight += hits
    try {
      const total = await addHits(redis, [key(client, window)], [hits, windowMs * 2])
      counter.known = Math.max(counter.known, total)
      return total
    } catch (error) {
      counter.pending += hits
      throw error
    } finally {
      counter.inFlight -= hits
    }
  }

  return {
    /**
     * Counts one request of `client`. Returns 0 when allowed, or the milliseconds until the window
     * ends when refused; a Promise of the same only when the client is near its limit.
     */
    hit (client: string): number | Promise<number> {
      const time = now()
      const current = Math.floor(time / windowMs)
      if (current !== window || counters.size >= maxKeys) {
        window = current
        counters = new Map()
      }
      let counter = counters.get(client)
      if (counter === undefined) {
        counter = { known: 0, pending: 0, inFlight: 0 }
        counters.set(client, counter)
      }
      const untilReset = (window + 1) * windowMs - time
      if (counter.known + counter.inFlight + counter.pending >= max) return untilReset

      counter.pending++
      const batch = Math.floor((max - counter.known) * LOCAL_SHARE)
      if (batch <= 1) return flush(client, counter).then((total) => total > max ? untilReset : 0)
      if (counter.pending >= batch) flush(client, counter).catch(() => {}) // kept for the next batch
      return 0
    }
  }
}
