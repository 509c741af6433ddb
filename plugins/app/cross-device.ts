import fp from 'fastify-plugin'
import { duplicateClient, type RedisClient } from '../../services/infrastructure/redis-client.js'
import { redisKeys } from '../../services/infrastructure/redis-keys.js'
import { userCreatingEvent } from '../../services/events/session-events.js'
import { createCrossDeviceService } from '../../services/links/cross-device.js'
import { createCrossDeviceEvents, type CrossDeviceEventsOptions } from '../../services/links/cross-device-events.js'
import { createWaitCeilings } from '../../services/links/cross-device-waits.js'

declare module 'fastify' {
  interface FastifyInstance {
    crossDevice: ReturnType<typeof createCrossDeviceService>
    crossDeviceEvents: ReturnType<typeof createCrossDeviceEvents>
    /** The per-IP and per-instance ceilings on open waits (CROSS_DEVICE_WAITS_PER_IP, CROSS_DEVICE_WAITS_PER_INSTANCE). */
    crossDeviceWaits: ReturnType<typeof createWaitCeilings>
  }
}

export interface CrossDeviceOptions {
  /** Intervals of the waits (tests shorten or lengthen them); see services/links/cross-device-events.ts. */
  crossDevice?: CrossDeviceEventsOptions
}

/**
 * Cross-device sign-in: the service, and this instance's one pub/sub subscriber connection (a
 * `duplicate()` of the Redis client, so it has the same fail-fast options and reconnects forever).
 * On close, every open SSE stream and long-poll is ended first (preClose), so a graceful shutdown
 * never waits on them (only on a check already running, which may be claiming a session, so its
 * tokens are delivered), then the subscriber is closed.
 */
export default fp(async function crossDevicePlugin (fastify, opts: CrossDeviceOptions) {
  const { config, clock, metrics } = fastify
  const redis: RedisClient = fastify.redis

  const subscriber = duplicateClient(redis)
  let lastError = ''
  const events = createCrossDeviceEvents({
    subscriber,
    channel: redisKeys.crossDeviceChannel,
    now: clock.now,
    ...opts.crossDevice,
    onError: (error) => {
      if (error.message !== lastError) fastify.log.warn({ err: { message: error.message } }, 'cross-device subscriber error')
      lastError = error.message
    }
  })
  // The main client is connected by now, so this is quick; if it is not, the instance starts
  // anyway and answers 503 to new waits until the subscriber is up.
  if (!await events.start(Math.max(1_000, config.REDIS_TIMEOUT * 4))) fastify.log.warn('cross-device subscriber not ready yet; waits answer 503 until it is')

  const service = createCrossDeviceService({
    redis,
    users: fastify.users,
    sessions: fastify.sessions,
    mailer: fastify.mailer,
    throttle: fastify.emailThrottle,
    failureCeiling: fastify.failureCeiling,
    addressKey: fastify.addressKey,
    appUrl: config.APP_URL,
    ttlSeconds: config.MAGIC_LINK_TTL,
    openPerAddress: config.CROSS_DEVICE_OPEN_PER_ADDRESS,
    clock,
    metrics,
    userCreating: userCreatingEvent(fastify.auditLog)
  })

  fastify.decorate('crossDevice', service)
  fastify.decorate('crossDeviceEvents', events)
  const waits = createWaitCeilings({ perClient: config.CROSS_DEVICE_WAITS_PER_IP, perInstance: config.CROSS_DEVICE_WAITS_PER_INSTANCE })
  fastify.decorate('crossDeviceWaits', waits)
  metrics.gauge('latchkey_cross_device_waits', () => waits.open)
  // A wait whose check is running (maybe claiming a session) ends once it returns, with its tokens.
  fastify.addHook('preClose', async () => { await events.shutdown() })
  fastify.addHook('onClose', async () => { await events.close() })
}, { name: 'cross-device', dependencies: ['config', 'redis', 'mailer', 'services'] })
