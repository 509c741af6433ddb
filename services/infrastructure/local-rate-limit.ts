/**
 * A per-instance fixed-window counter: no I/O, a Map lookup per request. Used for the per-IP limit
 * on Bearer routes, which must stay at one Redis round trip (SPEC invariant 10); the auth
 * endpoints use the Redis-backed limits shared by all instances.
 */
export function createLocalRateLimit ({ max, windowMs, now = Date.now, maxKeys = 100_000 }: {
  max: number
  windowMs: number
  now?: () => number
  /** Bound on memory: past it the window restarts early (counting is then lenient, never unbounded). */
  maxKeys?: number
}) {
  let windowStart = 0
  const counts = new Map<string, number>()

  return {
    /** Counts one request for `key`; returns 0 when allowed, else the milliseconds until the window resets. */
    hit (key: string): number {
      const time = now()
      if (time - windowStart >= windowMs || counts.size >= maxKeys) {
        counts.clear()
        windowStart = time
      }
      const count = (counts.get(key) ?? 0) + 1
      counts.set(key, count)
      return count > max ? windowStart + windowMs - time : 0
    }
  }
}
