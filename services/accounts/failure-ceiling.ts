import type { RedisClient } from '../infrastructure/redis-client.js'
import { withExtras } from '../infrastructure/errors.js'
import { redisKeys } from '../infrastructure/redis-keys.js'
import { defineScript } from '../infrastructure/redis-script.js'
import type { Clock } from '../infrastructure/clock.js'

/** Failures before any back-off: a person mistyping a few times never waits. */
export const FREE_FAILURES = 5
/** Longest back-off between two guesses while under the ceiling. */
export const MAX_BACKOFF_MS = 15 * 60 * 1000
/** How long failures are remembered; reaching the ceiling refuses checks for this long. */
export const MEMORY_MS = 24 * 60 * 60 * 1000

// KEYS: counter hash. ARGV: now, ceiling, free, max back-off, memory.
// Records one failure and returns the instant the next check is allowed (0 = at once).
const recordFailureScript = defineScript<number>(`
local failures = redis.call('HINCRBY', KEYS[1], 'n', 1)
local now = tonumber(ARGV[1])
local untilMs = 0
if failures >= tonumber(ARGV[2]) then
  untilMs = now + tonumber(ARGV[5])
elseif failures > tonumber(ARGV[3]) then
  untilMs = now + math.min(1000 * 2 ^ (failures - tonumber(ARGV[3]) - 1), tonumber(ARGV[4]))
end
redis.call('HSET', KEYS[1], 'until', untilMs)
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return untilMs
`)

/**
 * The per-account failure ceiling of NIST SP 800-63B §5.2.2, across one-time codes and passwords:
 * consecutive failures per address get an exponential back-off (after FREE_FAILURES, doubling from
 * 1 s up to 15 minutes), and at the ceiling (100 by default) checks are refused until a day after
 * the last failure. Never permanent: the memory expires, and any successful sign-in (a magic link
 * still works, being unguessable) clears it. Keyed by address whether or not an account exists,
 * so the answer does not reveal which addresses are registered.
 */
export function createFailureCeiling ({ redis, ceiling, clock }: { redis: RedisClient, ceiling: number, clock: Clock }) {
  return {
    /** Throws `refusal` (with Retry-After) while the address is backing off or at the ceiling. */
    async assertMayVerify<E extends Error> (addressKey: string, refusal: () => E): Promise<void> {
      const untilMs = Number(await redis.hget(redisKeys.verifyFailures(addressKey), 'until') ?? 0)
      const wait = untilMs - clock.now()
      if (wait > 0) throw withExtras(refusal(), { retryAfter: Math.ceil(wait / 1000) })
    },
    async recordFailure (addressKey: string): Promise<void> {
      await recordFailureScript(redis, [redisKeys.verifyFailures(addressKey)], [clock.now(), ceiling, FREE_FAILURES, MAX_BACKOFF_MS, MEMORY_MS])
    },
    async recordSuccess (addressKey: string): Promise<void> {
      await redis.del(redisKeys.verifyFailures(addressKey))
    }
  }
}

export type FailureCeiling = ReturnType<typeof createFailureCeiling>
