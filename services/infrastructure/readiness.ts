import type { Cluster, Redis } from 'ioredis'
import type { RedisClient } from './redis-client.js'

/**
 * What /ready checks, topology by topology. Each function answers null when the dependency can
 * serve every request, or one line naming what is wrong; each is bounded by its timeout.
 */

export async function bounded<T> (work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  try {
    return await Promise.race([work, new Promise<never>((_resolve, reject) => { timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms) })])
  } finally {
    clearTimeout(timer)
  }
}

export type RedisRole = 'master' | 'replica' | 'sentinel'

/** ROLE of the node a one-node client talks to: only a master takes writes. */
export async function redisRole (client: RedisClient | Redis, timeoutMs: number): Promise<RedisRole> {
  const reply = await bounded(client.call('ROLE') as Promise<unknown[]>, timeoutMs)
  const role = String(reply[0])
  return role === 'slave' ? 'replica' : role as RedisRole
}

/**
 * Whether the node a one-node client talks to runs in cluster mode (`INFO cluster` says
 * `cluster_enabled:1`). A plain redis:// URL naming one node of a Redis Cluster connects and
 * answers as a master, then every command for a slot that node does not own fails with MOVED.
 * A Sentinel has no cluster section: false.
 */
export async function redisClusterEnabled (client: RedisClient | Redis, timeoutMs: number): Promise<boolean> {
  const info = await bounded((client as Redis).info('cluster').catch(() => ''), timeoutMs)
  return /^cluster_enabled:1\b/m.test(info)
}

/** What to say when a one-node URL reaches a Redis Cluster node. */
export const clusterNodeProblem = (where: string): string =>
  `${where} is a Redis Cluster node: use redis+cluster://host:port,host:port (the cluster's seed nodes)`

const SLOTS = 16_384

const nodeName = (host: string, port: number | string): string => `${host}:${port}`

/** Slot ranges as text: "0-5460, 10923-16383". */
const rangesText = (ranges: Array<[number, number]>): string => ranges.map(([from, to]) => from === to ? `${from}` : `${from}-${to}`).join(', ')

/**
 * A Redis Cluster is ready when it says so (cluster_state:ok, every slot served) and every
 * master that owns slots answers as a master through our own connection to it. Right after a
 * master stops, the other nodes still report `ok` for up to cluster-node-timeout; the direct
 * check sees it at once.
 */
async function clusterProblem (cluster: Cluster, timeoutMs: number): Promise<string | null> {
  const info = await bounded(cluster.cluster('INFO'), timeoutMs)
  const state = /cluster_state:(\w+)/.exec(info)?.[1]
  const slotsOk = Number(/cluster_slots_ok:(\d+)/.exec(info)?.[1] ?? 0)
  if (state !== 'ok') return `Redis Cluster state is ${state ?? 'unknown'}`
  if (slotsOk < SLOTS) return `Redis Cluster serves ${slotsOk} of ${SLOTS} slots`

  const masters = new Map<string, Array<[number, number]>>()
  let covered = 0
  for (const [from, to, master] of await bounded(cluster.cluster('SLOTS'), timeoutMs)) {
    if (master === undefined) continue
    const name = nodeName(master[0], master[1])
    masters.set(name, [...(masters.get(name) ?? []), [from, to]])
    covered += to - from + 1
  }
  if (covered < SLOTS) return `Redis Cluster assigns ${covered} of ${SLOTS} slots`

  const connections = new Map(cluster.nodes('all').map((node) => [nodeName(node.options.host!, node.options.port!), node]))
  const problems = await Promise.all([...masters].map(async ([name, ranges]) => {
    const node = connections.get(name)
    const where = `master ${name} (slots ${rangesText(ranges)})`
    if (node === undefined) {
      cluster.refreshSlotsCache() // reconnect to it for the next check and the next request
      return `${where} is not connected`
    }
    const role = await redisRole(node, timeoutMs).catch(() => null)
    if (role === null) return `${where} does not answer`
    return role === 'master' ? null : `${where} answers as a ${role}`
  }))
  return problems.find((problem) => problem !== null) ?? null
}

/**
 * Redis is ready when the client can write: on a cluster, see clusterProblem; otherwise the node
 * (the one REDIS_URL names, or the master the Sentinels named) must be a master, not a replica
 * (READONLY to every write), not a Sentinel (which keeps no data) and not one node of a Redis
 * Cluster (MOVED for every slot it does not own). ROLE and INFO go out together, under one timeout.
 */
export async function redisProblem (client: RedisClient, timeoutMs: number): Promise<string | null> {
  try {
    if (client.isCluster) return await clusterProblem(client as Cluster, timeoutMs)
    const [role, clusterEnabled] = await bounded(Promise.all([redisRole(client, timeoutMs), redisClusterEnabled(client, timeoutMs)]), timeoutMs)
    if (clusterEnabled) {
      const { host, port, sentinels } = (client as Redis).options
      return clusterNodeProblem(sentinels == null ? `Redis at ${nodeName(host ?? '127.0.0.1', port ?? 6379)}` : 'The master the Sentinels name')
    }
    if (role === 'replica') return 'Redis answers as a read-only replica'
    if (role === 'sentinel') return 'REDIS_URL points at a Sentinel, not a data node'
    return null
  } catch (error) {
    return `Redis does not answer (${(error as Error).message})`
  }
}

/** The part of a MongoDB `Db` that the check needs. */
export interface MongoCommander {
  command: (command: Record<string, unknown>, options?: { readPreference?: 'primary' }) => Promise<Record<string, unknown>>
}

/**
 * MongoDB is ready when a writable primary answers `hello` (on a replica set, server selection
 * finds the primary; during an election there is none and this fails within the timeout).
 */
export async function mongoProblem (db: MongoCommander | undefined, timeoutMs: number): Promise<string | null> {
  if (db === undefined) return 'MongoDB is not connected'
  try {
    const hello = await bounded(db.command({ hello: 1 }, { readPreference: 'primary' }), timeoutMs)
    return hello.isWritablePrimary === true ? null : 'MongoDB has no writable primary'
  } catch (error) {
    return `MongoDB primary does not answer (${(error as Error).message})`
  }
}
