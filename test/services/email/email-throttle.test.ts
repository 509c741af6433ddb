import { Redis } from 'ioredis'
import t from 'tap'
import { createEmailThrottle } from '../../../services/email/email-throttle.js'
import { EmailRateLimitedError } from '../../../services/infrastructure/errors.js'
import { startRedisServer } from '../../stack/redis-server.js'

const server = await startRedisServer()
const redis = new Redis(server.url)
t.teardown(async () => { redis.disconnect(); await server.close() })

t.test('emailSlotWait says what takeEmailSlot would wait, and takes nothing', async (t) => {
  const throttle = createEmailThrottle({ redis, cooldownSeconds: 60, hourlyLimit: 5 })
  t.equal(await throttle.emailSlotWait('a1'), 0, 'a fresh address may be emailed now')
  t.equal(await throttle.emailSlotWait('a1'), 0, 'looking twice changes nothing')
  await throttle.takeEmailSlot('a1')
  const wait = await throttle.emailSlotWait('a1')
  t.ok(wait > 0 && wait <= 60, `inside the cooldown: ${wait} s`)
  const refused = await throttle.takeEmailSlot('a1').catch((error: unknown) => error)
  t.type(refused, EmailRateLimitedError)
  const retryAfter = (refused as { retryAfter: number }).retryAfter
  t.ok(retryAfter === wait || retryAfter === wait - 1, `the wait the refusal carries (${retryAfter} s; a second may tick between the two)`)
})

t.test('the hourly cap: the wait is the rest of the hour', async (t) => {
  const throttle = createEmailThrottle({ redis, cooldownSeconds: 0, hourlyLimit: 2 })
  await throttle.takeEmailSlot('b1')
  t.equal(await throttle.emailSlotWait('b1'), 0, 'one of two sent: no wait')
  await throttle.takeEmailSlot('b1')
  const wait = await throttle.emailSlotWait('b1')
  t.ok(wait > 3500 && wait <= 3600, `two of two sent: ${wait} s`)
  await t.rejects(throttle.takeEmailSlot('b1'), EmailRateLimitedError)
})
