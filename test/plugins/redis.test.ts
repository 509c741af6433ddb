import Fastify from 'fastify'
import t from 'tap'
import configPlugin from '../../plugins/app/config.js'
import { Cluster, Redis } from 'ioredis'
import redisPlugin, { clusterRetries, connectRedis, createRedisClient } from '../../plugins/external/redis.js'
import { pollUntil } from '../poll.js'
import { freePort } from '../stack/ports.js'
import { startRedisServer } from '../stack/redis-server.js'
import { loadConfig } from '../../services/infrastructure/config.js'
import { duplicateClient } from '../../services/infrastructure/redis-client.js'

const server = await startRedisServer()
t.teardown(async () => { await server.close() })

const settle = async () => await new Promise((resolve) => setTimeout(resolve, 300))

const configFor = (url: string) => loadConfig({ JWT_SECRET: 'x'.repeat(32), SMTP_URL: 'smtp://127.0.0.1:1', REDIS_URL: url, REDIS_TIMEOUT: '300', LOG_LEVEL: 'silent' })

async function bare (url: string) {
  const app = Fastify()
  await app.register(configPlugin, { config: configFor(url) })
  await app.register(redisPlugin)
  await app.ready()
  return app
}

t.test('decorates fastify.redis with a working client and closes it', async (t) => {
  const app = await bare(server.url)
  t.equal(await app.redis.ping(), 'PONG')
  await app.close()
  await settle()
  t.equal(app.redis.status, 'end')
})

t.test('fails fast while Redis is down, times out while it hangs, recovers by itself', async (t) => {
  const app = await bare(server.url)
  t.teardown(async () => { await app.close() })

  await server.stop()
  // This rejection comes only from a client without an offline queue (one with a queue would wait).
  await t.rejects(app.redis.get('k'), /Stream isn't writeable and enableOfflineQueue options is false/, 'rejected at once: no offline queue')

  await server.start()
  await pollUntil(async () => app.redis.status, (status) => status === 'ready', { intervalMs: 50 })
  t.equal(await app.redis.ping(), 'PONG', 'reconnected without help')

  server.pause()
  const started = Date.now()
  await t.rejects(app.redis.get('k'), /Command timed out/, 'a hanging server is cut off by REDIS_TIMEOUT (the error says so)')
  const waited = Date.now() - started
  // A lower bound holds on a busy machine (timers never fire early); the upper one is generous.
  t.ok(waited >= 250 && waited < 5_000, `it waited for the timeout, and not much longer (${waited} ms, REDIS_TIMEOUT 300 ms)`)
  server.resume()
})

t.test('closing while Redis is down neither fails nor hangs', async (t) => {
  const app = await bare(server.url)
  await server.stop()
  const started = Date.now()
  await app.close()
  t.ok(Date.now() - started < 5_000, `closed without waiting for Redis (${Date.now() - started} ms)`)
  let connects = 0
  app.redis.on('connect', () => connects++)
  await server.start()
  await settle()
  t.equal(connects, 0, 'and never reconnects, even once Redis is back')
  t.not(app.redis.status, 'ready')
})

t.test('an unreachable Redis at boot is one clear error, without credentials', async (t) => {
  const port = await freePort()
  const url = `redis://user:s3cret@127.0.0.1:${port}`
  const client = createRedisClient(configFor(url))
  const error = await connectRedis(client, url, 500).then(() => null, (e: Error) => e)
  t.match(error?.message, `Redis at redis://127.0.0.1:${port} did not answer within 500 ms`)
  t.notOk(error?.message.includes('s3cret'))
  let retries = 0
  client.on('reconnecting', () => retries++)
  await settle()
  t.equal(retries, 0, 'the client gave up retrying')
})

t.test('REDIS_URL picks the client: one node, a Cluster, or a master through Sentinels, all failing fast', async (t) => {
  const single = createRedisClient(configFor('redis://127.0.0.1:6390/2'))
  t.ok(single instanceof Redis && !single.isCluster)
  t.match(single.options, { host: '127.0.0.1', port: 6390, db: 2, enableOfflineQueue: false, commandTimeout: 300, maxRetriesPerRequest: 0, autoResendUnfulfilledCommands: false })

  const cluster = createRedisClient(configFor('redis+cluster://app:pw@127.0.0.1:7000,127.0.0.1:7001'))
  t.ok(cluster instanceof Cluster)
  const { options } = cluster as Cluster
  t.match(options, {
    enableOfflineQueue: false,
    maxRedirections: clusterRetries(300),
    retryDelayOnFailover: 100,
    retryDelayOnClusterDown: 100,
    retryDelayOnTryAgain: 100,
    enableAutoPipelining: false,
    redisOptions: { commandTimeout: 300, maxRetriesPerRequest: 0, autoResendUnfulfilledCommands: false, username: 'app', password: 'pw' }
  })
  t.ok(options.maxRedirections! * options.retryDelayOnFailover! <= 500, 'retries stop within about REDIS_TIMEOUT')
  t.equal(clusterRetries(500), 5)
  t.equal(clusterRetries(50), 3, 'at least three (a MOVED during a resharding needs one or two)')

  const sentinel = createRedisClient(configFor('redis+sentinel://:pw@127.0.0.1:26390,127.0.0.1:26391/main/1'))
  t.ok(sentinel instanceof Redis)
  t.match((sentinel as Redis).options, {
    sentinels: [{ host: '127.0.0.1', port: 26390 }, { host: '127.0.0.1', port: 26391 }],
    name: 'main',
    role: 'master',
    db: 1,
    password: 'pw',
    failoverDetector: true,
    enableOfflineQueue: false,
    commandTimeout: 300,
    sentinelCommandTimeout: 300
  })
  t.equal((sentinel as Redis).options.reconnectOnError?.(new Error("READONLY You can't write against a read only replica.")), true, 'a demoted master makes it reconnect through the Sentinels')
  t.equal((sentinel as Redis).options.reconnectOnError?.(new Error('WRONGTYPE')), false)
  for (const client of [single, cluster, sentinel]) client.disconnect()
})

t.test('a subscriber connection (duplicateClient) does not subscribe again by itself after a reconnect: its owner does, on ready', async (t) => {
  // ioredis's own re-subscription is sent without handling its failure: with the offline queue off,
  // a Redis dropping again at that moment left an unhandled rejection that stopped the process.
  const main = createRedisClient(configFor(server.url))
  const subscriber = duplicateClient(main)
  subscriber.on('error', () => {})
  t.teardown(() => { subscriber.disconnect(); main.disconnect() })
  await server.admin.connect().catch(() => {})
  const subscribed = async (): Promise<number> => ((await server.admin.pubsub('NUMSUB', 'lk:test:resubscribe')) as [string, number])[1]

  await subscriber.connect()
  await subscriber.subscribe('lk:test:resubscribe')
  t.equal(await subscribed(), 1)
  let readyAgain = false
  subscriber.once('close', () => { subscriber.once('ready', () => { readyAgain = true }) })
  await server.admin.call('CLIENT', 'KILL', 'TYPE', 'pubsub')
  t.ok(await pollUntil(async () => readyAgain, (ready) => ready, { timeoutMs: 5_000 }), 'reconnected')
  await settle()
  t.equal(await subscribed(), 0, 'not subscribed again by ioredis')
  await subscriber.subscribe('lk:test:resubscribe')
  t.equal(await subscribed(), 1, 'the owner subscribes again')
})
