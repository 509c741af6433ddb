import type { Cluster, Redis } from 'ioredis'
import type { Clock } from './clock.js'
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

/**
 * The node's `maxmemory-policy`, from `INFO memory` (managed services often disable CONFIG);
 * null when the node does not report it.
 */
export async function redisEvictionPolicy (client: RedisClient | Redis, timeoutMs: number): Promise<string | null> {
  const info = await bounded((client as Redis).info('memory'), timeoutMs)
  return /^maxmemory_policy:(\S+)/m.exec(info)?.[1] ?? null
}

/**
 * Anything but `noeviction` lets Redis drop keys under memory pressure: the `volatile-*` policies
 * (a managed service's usual default) drop exactly the keys with a TTL, revocation marks among
 * them, while the data-loss marker (no TTL) survives, so the loss would go unnoticed.
 */
export const evictionProblem = (where: string, policy: string | null): string | null =>
  policy === null || policy === 'noeviction' ? null : `${where} has maxmemory-policy ${policy}: it may evict revocation marks; set it to noeviction`

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
    const [role, policy] = await Promise.all([redisRole(node, timeoutMs).catch(() => null), redisEvictionPolicy(node, timeoutMs).catch(() => null)])
    if (role === null) return `${where} does not answer`
    return role === 'master' ? evictionProblem(where, policy) : `${where} answers as a ${role}`
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
    const [role, clusterEnabled, policy] = await bounded(Promise.all([redisRole(client, timeoutMs), redisClusterEnabled(client, timeoutMs), redisEvictionPolicy(client, timeoutMs).catch(() => null)]), timeoutMs)
    if (clusterEnabled) {
      const { host, port, sentinels } = (client as Redis).options
      return clusterNodeProblem(sentinels == null ? `Redis at ${nodeName(host ?? '127.0.0.1', port ?? 6379)}` : 'The master the Sentinels name')
    }
    if (role === 'replica') return 'Redis answers as a read-only replica'
    if (role === 'sentinel') return 'REDIS_URL points at a Sentinel, not a data node'
    return evictionProblem('Redis', policy)
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

/** What /ready answers: each dependency's state, and the detail of what is wrong (for the log only). */
export interface Readiness {
  /** 'ok' or 'failed' per dependency: redis, mongodb (and signingKey for EdDSA / ES256). */
  checks: Record<string, 'ok' | 'failed'>
  /** One line per failed dependency, with hosts, ports and driver messages: for the log, never the response. */
  problems: Record<string, string>
}

/** The name /ready gives each dependency in its message. */
export const dependencyNames: Record<string, string> = { redis: 'Redis', mongodb: 'MongoDB', signingKey: 'signing key' }

/** At most one probe of the dependencies per this long, however many requests /ready gets. */
export const READINESS_PROBE_INTERVAL_MS = 1_000

/**
 * The readiness probe with its rate bound: the dependencies are probed at most once per
 * READINESS_PROBE_INTERVAL_MS; requests in between (or while a probe runs) share the last
 * result, so a flood of /ready requests costs Redis and MongoDB one probe a second.
 * `local` checks (no I/O, e.g. the signing key) are read fresh on every call.
 */
export function createReadinessProbe ({ probe, local = () => ({}), clock, onChange }: {
  /** The I/O checks: null per dependency when ready, else the detailed problem. */
  probe: () => Promise<Record<string, string | null>>
  local?: () => Record<string, string | null>
  clock: Clock
  /** Called when the set of problems changes (to log the details). */
  onChange?: (problems: Record<string, string>) => void
}) {
  let last: { at: number, result: Record<string, string | null> } | null = null
  let running: Promise<Record<string, string | null>> | null = null
  let reported = '{}'

  async function probed (): Promise<Record<string, string | null>> {
    const now = clock.now()
    if (last !== null && now - last.at < READINESS_PROBE_INTERVAL_MS && now >= last.at) return last.result
    running ??= (async () => {
      try {
        const result = await probe()
        last = { at: now, result }
        return result
      } finally {
        running = null
      }
    })()
    return await running
  }

  return {
    async check (): Promise<Readiness> {
      const results = { ...await probed(), ...local() }
      const checks: Record<string, 'ok' | 'failed'> = {}
      const problems: Record<string, string> = {}
      for (const [name, problem] of Object.entries(results)) {
        checks[name] = problem === null ? 'ok' : 'failed'
        if (problem !== null) problems[name] = problem
      }
      const summary = JSON.stringify(problems)
      if (summary !== reported) onChange?.(problems)
      reported = summary
      return { checks, problems }
    }
  }
}
