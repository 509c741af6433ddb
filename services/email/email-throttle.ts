import type { RedisClient } from '../infrastructure/redis-client.js'
import { EmailRateLimitedError, withExtras } from '../infrastructure/errors.js'
import { redisKeys } from '../infrastructure/redis-keys.js'
import { defineScript } from '../infrastructure/redis-script.js'

// KEYS: cooldown, hourly counter. ARGV: cooldown seconds, hourly limit.
// Returns 0 when a slot was taken, else the milliseconds until one frees up.
const takeSlot = defineScript<number>(`
local cooling = redis.call('PTTL', KEYS[1])
if cooling > 0 then return cooling end
local sent = tonumber(redis.call('GET', KEYS[2]) or '0')
if sent >= tonumber(ARGV[2]) then
  local left = redis.call('PTTL', KEYS[2])
  if left > 0 then return left end
  redis.call('EXPIRE', KEYS[2], 3600)
  return 3600000
end
if tonumber(ARGV[1]) > 0 then redis.call('SET', KEYS[1], '1', 'EX', ARGV[1]) end
redis.call('INCR', KEYS[2])
redis.call('EXPIRE', KEYS[2], 3600, 'NX')
return 0
`)

// Gives a slot back after a failed send, so an SMTP outage does not eat the address's budget.
const returnSlot = defineScript<number>(`
redis.call('DEL', KEYS[1])
if tonumber(redis.call('GET', KEYS[2]) or '0') > 0 then redis.call('DECR', KEYS[2]) end
return 1
`)

// KEYS: cooldown, hourly counter. ARGV: hourly limit. Read-only: the milliseconds until
// takeSlot would give a slot (0 = now).
const slotWait = defineScript<number>(`
local cooling = redis.call('PTTL', KEYS[1])
if cooling > 0 then return cooling end
if tonumber(redis.call('GET', KEYS[2]) or '0') < tonumber(ARGV[1]) then return 0 end
local left = redis.call('PTTL', KEYS[2])
if left > 0 then return left end
return 3600000
`)

/**
 * One mailbox, one budget: magic links and codes share the per-address cooldown
 * (EMAIL_COOLDOWN) and hourly cap (EMAIL_HOURLY_LIMIT). Both checks and the increment happen in
 * one script, so parallel requests cannot slip past the limit.
 */
export function createEmailThrottle ({ redis, cooldownSeconds, hourlyLimit }: { redis: RedisClient, cooldownSeconds: number, hourlyLimit: number }) {
  const keysOf = (addressKey: string) => [redisKeys.mailCooldown(addressKey), redisKeys.mailHourly(addressKey)]
  return {
    /** Takes one email slot for the address or throws EMAIL_RATE_LIMITED with Retry-After. */
    async takeEmailSlot (addressKey: string): Promise<void> {
      const waitMs = await takeSlot(redis, keysOf(addressKey), [cooldownSeconds, hourlyLimit])
      if (waitMs > 0) throw withExtras(new EmailRateLimitedError(), { retryAfter: Math.ceil(waitMs / 1000) })
    },
    /** Seconds until the address may be emailed again (0 = now), without taking anything. */
    async emailSlotWait (addressKey: string): Promise<number> {
      return Math.ceil(await slotWait(redis, keysOf(addressKey), [hourlyLimit]) / 1000)
    },
    async returnEmailSlot (addressKey: string): Promise<void> {
      await returnSlot(redis, keysOf(addressKey))
    }
  }
}

export type EmailThrottle = ReturnType<typeof createEmailThrottle>
