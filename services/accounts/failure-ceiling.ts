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

/**
 * Lua for other scripts that check the ceiling inside their own atomic step (services/codes/otp.ts):
 * `ceilingWait(key, now)` is the wait in ms while the address is backing off (0 otherwise), and
 * `ceilingCount(key, now, ceiling, free, maxBackoff, memory)` counts one failure and sets the wait
 * before the next check. The arguments are what `scriptArgs()` returns.
 */
export const CEILING_LUA = `
local function ceilingWait (key, now)
  local untilMs = tonumber(redis.call('HGET', key, 'until') or '0')
  if untilMs > now then return untilMs - now end
  return 0
end
local function ceilingCount (key, now, ceiling, free, maxBackoff, memory)
  local failures = redis.call('HINCRBY', key, 'n', 1)
  local untilMs = 0
  if failures >= ceiling then
    untilMs = now + memory
  elseif failures > free then
    untilMs = now + math.min(1000 * 2 ^ (failures - free - 1), maxBackoff)
  end
  redis.call('HSET', key, 'until', untilMs)
  redis.call('PEXPIRE', key, memory)
end
`

// KEYS: counter hash. ARGV: now, ceiling, free, max back-off, memory.
// Check and reserve in one atomic step. While the address is backing off, refuses: returns the
// wait in ms and counts nothing. Otherwise counts this check as a failure at once (a success
// clears the hash) and sets the wait before the next one, so checks arriving in parallel cannot
// all pass before any of them was counted: past the free failures, one check per back-off.
const reserveScript = defineScript<number>(`${CEILING_LUA}
local now = tonumber(ARGV[1])
local wait = ceilingWait(KEYS[1], now)
if wait > 0 then return wait end
ceilingCount(KEYS[1], now, tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]))
return 0
`)

/**
 * The per-account failure ceiling of NIST SP 800-63B §5.2.2, across one-time codes and passwords:
 * consecutive failures per address get an exponential back-off (after FREE_FAILURES, doubling from
 * 1 s up to 15 minutes), and at the ceiling (100 by default) checks are refused until a day after
 * the last failure. Never permanent: the memory expires, and any successful sign-in (a magic link
 * still works, being unguessable) clears it. Keyed by address whether or not an account exists,
 * so the answer does not reveal which addresses are registered.
 *
 * A check is reserved before it is evaluated (counted as a failure until it succeeds), so the
 * back-off holds against parallel guesses too.
 */
export function createFailureCeiling ({ redis, ceiling, clock }: { redis: RedisClient, ceiling: number, clock: Clock }) {
  /** The ARGV of CEILING_LUA's functions at this moment: now, ceiling, free, max back-off, memory. */
  const scriptArgs = (): number[] => [clock.now(), ceiling, FREE_FAILURES, MAX_BACKOFF_MS, MEMORY_MS]

  return {
    /** The counter's key (for scripts that check the ceiling in their own atomic step, as the codes do). */
    key: (addressKey: string): string => redisKeys.verifyFailures(addressKey),
    scriptArgs,
    /**
     * Reserves one check (it counts as a failure until recordSuccess), or throws `refusal` with
     * Retry-After while the address is backing off or at the ceiling.
     */
    async reserveCheckOrRefuse<E extends Error> (addressKey: string, refusal: () => E): Promise<void> {
      const wait = await reserveScript(redis, [redisKeys.verifyFailures(addressKey)], scriptArgs())
      if (wait > 0) throw withExtras(refusal(), { retryAfter: Math.ceil(wait / 1000) })
    },
    async recordSuccess (addressKey: string): Promise<void> {
      await redis.del(redisKeys.verifyFailures(addressKey))
    }
  }
}

export type FailureCeiling = ReturnType<typeof createFailureCeiling>
