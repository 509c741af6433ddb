import fastifyRedis from '@fastify/redis'
import fp from 'fastify-plugin'
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis'
import { describeRedisUrl, parseRedisUrl, type Config } from '../../services/infrastructure/config.js'
import type { RedisClient } from '../../services/infrastructure/redis-client.js'
import { clusterNodeProblem, evictionProblem, redisClusterEnabled, redisEvictionPolicy, redisRole } from '../../services/infrastructure/readiness.js'

/** Where a Redis URL points, without credentials: safe to log. */
export const describeUrl = describeRedisUrl

/** Reconnect forever, at most a second apart, so the service recovers by itself. */
const reconnectDelay = (attempt: number): number => Math.min(attempt * 100, 1_000)

/**
 * Delay before ioredis's Cluster client retries a command after a node was lost, the cluster said
 * CLUSTERDOWN or TRYAGAIN. With `clusterRetries` below, a command gives up within about
 * REDIS_TIMEOUT instead of 16 × 100 ms.
 */
const CLUSTER_RETRY_DELAY_MS = 100

/**
 * ioredis tuned to fail closed and fast (SPEC invariant 4), whatever the topology: no offline
 * queue (a command while disconnected fails at once instead of waiting, which the defaults turned
 * into 73 s), every command bounded by REDIS_TIMEOUT, no silent re-sending of commands after a
 * reconnect, and reconnection forever with a short back-off so the service recovers by itself.
 * Auto-pipelining batches concurrent commands into one write per tick (one node; see below for a cluster).
 *
 * REDIS_URL picks the topology (services/infrastructure/config.ts, parseRedisUrl):
 * - redis:// / rediss://: one node;
 * - redis+cluster://: a Redis Cluster from its seed nodes. Redirections (MOVED/ASK) are followed,
 *   at most `clusterRetries` times, and so are lost nodes, CLUSTERDOWN and TRYAGAIN, 100 ms
 *   apart: a command never waits much past REDIS_TIMEOUT;
 * - redis+sentinel://: the master the Sentinels name. The client subscribes to the Sentinels'
 *   +switch-master and reconnects to the new master at once; a READONLY reply (it is still on a
 *   demoted master) also makes it reconnect through the Sentinels.
 */
export function createRedisClient (config: Pick<Config, 'REDIS_URL' | 'REDIS_TIMEOUT'>): RedisClient {
  const target = parseRedisUrl(config.REDIS_URL)
  const perNode = {
    commandTimeout: config.REDIS_TIMEOUT,
    connectTimeout: Math.max(1_000, config.REDIS_TIMEOUT * 2),
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false
  } satisfies RedisOptions
  const oneNode = {
    ...perNode,
    enableOfflineQueue: false,
    enableAutoPipelining: true,
    retryStrategy: reconnectDelay,
    lazyConnect: true
  } satisfies RedisOptions

  if (target.topology === 'single') return new Redis(config.REDIS_URL, oneNode)

  if (target.topology === 'sentinel') {
    const tls = target.tls ? {} : undefined
    return new Redis({
      ...oneNode,
      sentinels: target.sentinels,
      name: target.masterName,
      role: 'master',
      db: target.db,
      username: target.username,
      password: target.password,
      sentinelUsername: target.sentinelUsername,
      sentinelPassword: target.sentinelPassword,
      sentinelCommandTimeout: config.REDIS_TIMEOUT,
      sentinelRetryStrategy: reconnectDelay,
      sentinelReconnectStrategy: reconnectDelay,
      failoverDetector: true,
      reconnectOnError: (error) => error.message.startsWith('READONLY'),
      tls,
      sentinelTLS: tls,
      enableTLSForSentinelMode: target.tls
    })
  }

  const options: ClusterOptions = {
    enableOfflineQueue: false,
    enableReadyCheck: true,
    // Off on a cluster: ioredis does not follow MOVED/ASK for a write inside an auto-pipeline (it
    // answers the raw redirection), which turned a slot moving or a master going away into 500s.
    enableAutoPipelining: false,
    lazyConnect: true,
    scaleReads: 'master',
    maxRedirections: clusterRetries(config.REDIS_TIMEOUT),
    retryDelayOnMoved: 0,
    retryDelayOnFailover: CLUSTER_RETRY_DELAY_MS,
    retryDelayOnClusterDown: CLUSTER_RETRY_DELAY_MS,
    retryDelayOnTryAgain: CLUSTER_RETRY_DELAY_MS,
    slotsRefreshTimeout: Math.max(1_000, config.REDIS_TIMEOUT * 2),
    clusterRetryStrategy: reconnectDelay,
    redisOptions: {
      ...perNode,
      username: target.username,
      password: target.password,
      ...(target.tls && { tls: {} })
    },
    // TLS certificates name hosts, so keep the seed names instead of resolving them to addresses.
    ...(target.tls && { dnsLookup: (address, callback) => callback(null, address) })
  }
  return new Cluster(target.nodes, options)
}

/** How many times a cluster command may be redirected or retried: about REDIS_TIMEOUT of retries, at least 3. */
export const clusterRetries = (timeoutMs: number): number => Math.max(3, Math.ceil(timeoutMs / CLUSTER_RETRY_DELAY_MS))

/** Connects, or fails with one clear line after `timeoutMs` (the service needs Redis to start). */
export async function connectRedis (client: RedisClient, url: string, timeoutMs = 5_000): Promise<void> {
  let timer: NodeJS.Timeout | undefined
  const give = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`Redis at ${describeUrl(url)} did not answer within ${timeoutMs} ms`)), timeoutMs)
  })
  const ready = new Promise<void>((resolve) => client.once('ready', () => resolve()))
  client.connect().catch(() => {}) // failures are retried by the retry strategies until `give` fires
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
  const { REDIS_URL, REDIS_TIMEOUT } = fastify.config
  const client = createRedisClient(fastify.config)
  let lastError = ''
  const logOnce = (error: Error, message: string) => {
    // ioredis emits one error per failed reconnect; log each distinct cause once.
    if (error.message !== lastError) fastify.log.warn({ err: { message: error.message } }, message)
    lastError = error.message
  }
  client.on('error', (error: Error) => { logOnce(error, 'redis connection error') })
  client.on('node error', (error: Error) => { logOnce(error, 'redis cluster node error') })
  client.on('ready', () => { lastError = '' })
  await connectRedis(client, REDIS_URL)

  // A one-node URL that reaches a Sentinel (or a replica, or one node of a Redis Cluster) connects
  // fine and then fails every request (or, on a cluster node, each one for a slot it does not own
  // with MOVED): say so at boot.
  const role = await redisRole(client, REDIS_TIMEOUT).catch(() => null)
  if (role === 'sentinel') {
    client.disconnect()
    throw new Error(`Redis at ${describeUrl(REDIS_URL)} is a Sentinel, not a data node: use redis+sentinel://host:port/<master>`)
  }
  if (role === 'replica') fastify.log.warn(`Redis at ${describeUrl(REDIS_URL)} is a read-only replica; /ready answers 503 until it is a master`)
  if (!client.isCluster && await redisClusterEnabled(client, REDIS_TIMEOUT).catch(() => false)) {
    fastify.log.warn(`${clusterNodeProblem(`Redis at ${describeUrl(REDIS_URL)}`)}; /ready answers 503 and requests for slots other nodes own fail`)
  }

  // Eviction would drop revocation marks (they carry TTLs) while the data-loss marker survives:
  // warn at boot; /ready answers 503 for as long as it lasts.
  const nodes = client.isCluster ? (client as Cluster).nodes('master') : [client as Redis]
  const policies = await Promise.all(nodes.map(async (node) => await redisEvictionPolicy(node, REDIS_TIMEOUT).catch(() => null)))
  const evicting = policies.find((policy) => evictionProblem('Redis', policy) !== null)
  if (evicting !== undefined) {
    fastify.log.warn(`${evictionProblem(`Redis at ${describeUrl(REDIS_URL)}`, evicting)}; /ready answers 503 until it is noeviction`)
  }

  await fastify.register(fastifyRedis, { client: client as Redis, closeClient: false })
  // Our own close: QUIT when connected, then drop the socket and stop reconnecting, so a shutdown
  // during a Redis outage neither fails nor keeps the process alive. disconnect() also closes the
  // Sentinel connections that watch for a failover (QUIT alone leaves them reconnecting).
  fastify.addHook('onClose', async () => {
    if (client.status === 'ready') await client.quit().catch(() => {})
    client.disconnect()
  })
}, { name: 'redis', dependencies: ['config'] })
