import fastifyRedis from '@fastify/redis'
import fp from 'fastify-plugin'
import { Redis } from 'ioredis'
import type { Config } from '../../services/infrastructure/config.js'

/** Where a URL points, without credentials: safe to log. */
export const describeUrl = (url: string): string => {
  const { protocol, host, pathname } = new URL(url)
  return `${protocol}//${host}${pathname === '/' ? '' : pathname}`
}

/**
 * ioredis tuned to fail closed and fast (SPEC invariant 4): no offline queue (a command while
 * disconnected fails at once instead of waiting, which the defaults turned into 73 s), every
 * command bounded by REDIS_TIMEOUT, no silent re-sending of commands after a reconnect, and
 * reconnection forever with a short back-off so the service recovers by itself.
 * Auto-pipelining batches concurrent commands into one write per tick.
 */
export function createRedisClient (config: Pick<Config, 'REDIS_URL' | 'REDIS_TIMEOUT'>): Redis {
  return new Redis(config.REDIS_URL, {
    enableOfflineQueue: false,
    commandTimeout: config.REDIS_TIMEOUT,
    connectTimeout: Math.max(1_000, config.REDIS_TIMEOUT * 2),
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    enableAutoPipelining: true,
    retryStrategy: (attempt) => Math.min(attempt * 100, 1_000),
    lazyConnect: true
  })
}

/** Connects, or fails with one clear line after `timeoutMs` (the service needs Redis to start). */
export async function connectRedis (client: Redis, url: string, timeoutMs = 5_000): Promise<void> {
  let timer: NodeJS.Timeout | undefined
  const give = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`Redis at ${describeUrl(url)} did not answer within ${timeoutMs} ms`)), timeoutMs)
  })
  const ready = new Promise<void>((resolve) => client.once('ready', () => resolve()))
  client.connect().catch(() => {}) // failures are retried by retryStrategy until `give` fires
  try {
    await Promise.race([ready, give])
  } catch (error) {
    client.disconnect()
    throw error
  } finally {
    clearTimeout(timer)
  }
}

export default fp(async function redisPlugin (fastify) {
  const client = createRedisClient(fastify.config)
  let lastError = ''
  client.on('error', (error: Error) => {
    // ioredis emits one error per failed reconnect; log each distinct cause once.
    if (error.message !== lastError) fastify.log.warn({ err: { message: error.message } }, 'redis connection error')
    lastError = error.message
  })
  client.on('ready', () => { lastError = '' })
  await connectRedis(client, fastify.config.REDIS_URL)
  await fastify.register(fastifyRedis, { client, closeClient: false })
  // Our own close: QUIT when connected, otherwise drop the socket and stop reconnecting, so a
  // shutdown during a Redis outage neither fails nor keeps the process alive.
  fastify.addHook('onClose', async () => {
    if (client.status === 'ready') await client.quit().catch(() => client.disconnect())
    else client.disconnect()
  })
}, { name: 'redis', dependencies: ['config'] })
