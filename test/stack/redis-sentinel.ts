import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import { pollUntil } from '../poll.js'
import { freePort, waitForPort } from './ports.js'
import { startProcess, type ManagedProcess } from './process.js'

const MASTER_NAME = 'latchkey'

/** One data node of the Sentinel setup. */
export interface SentinelDataNode {
  port: number
  /** A plain client to this node alone. */
  admin: Redis
  stop: () => Promise<void>
}

/**
 * A throwaway Sentinel setup on random ports, never the shared 6379: a master, one replica of it
 * and one `redis-server --sentinel` watching the master as `latchkey` (quorum 1, so the one
 * Sentinel can fail over alone). Nothing is kept on disk. `failover()` runs SENTINEL FAILOVER and
 * waits until the replica is the master and the Sentinel names it.
 */
export async function startRedisSentinel ({ downAfterMs = 1_000 }: { downAfterMs?: number } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'latchkey-sentinel-'))
  const [masterPort, replicaPort, sentinelPort] = [await freePort(), await freePort(), await freePort()] as [number, number, number]
  const processes: ManagedProcess[] = []

  const adminFor = (port: number): Redis => {
    const admin = new Redis(port, '127.0.0.1', { lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => 100 })
    admin.on('error', () => {})
    return admin
  }
  const dataNode = async (port: number, extra: string[]): Promise<SentinelDataNode> => {
    const server = startProcess('redis-server', [
      '--port', String(port), '--bind', '127.0.0.1', '--protected-mode', 'no',
      '--save', '', '--appendonly', 'no', '--dir', dir, '--loglevel', 'warning', ...extra
    ])
    processes.push(server)
    await waitForPort(port)
    return { port, admin: adminFor(port), stop: async () => { await server.stop() } }
  }

  const master = await dataNode(masterPort, [])
  const replica = await dataNode(replicaPort, ['--replicaof', '127.0.0.1', String(masterPort)])
  // The Sentinel learns about replicas from the master's INFO: start it once the replica is linked.
  await pollUntil(async () => await master.admin.info('replication').catch(() => ''), (info) => /slave0:.*state=online/.test(info), { timeoutMs: 10_000 })

  const configFile = join(dir, 'sentinel.conf')
  writeFileSync(configFile, [
    `port ${sentinelPort}`, 'bind 127.0.0.1', 'protected-mode no', `dir ${dir}`,
    `sentinel monitor ${MASTER_NAME} 127.0.0.1 ${masterPort} 1`,
    `sentinel down-after-milliseconds ${MASTER_NAME} ${downAfterMs}`,
    `sentinel failover-timeout ${MASTER_NAME} 10000`,
    `sentinel parallel-syncs ${MASTER_NAME} 1`
  ].join('\n') + '\n')
  const sentinelProcess = startProcess('redis-server', [configFile, '--sentinel'])
  processes.push(sentinelProcess)
  try {
    await waitForPort(sentinelPort)
  } catch (error) {
    throw new Error(`sentinel did not start: ${sentinelProcess.output()}`, { cause: error })
  }
  const sentinel = adminFor(sentinelPort)

  const setup = {
    url: `redis+sentinel://127.0.0.1:${sentinelPort}/${MASTER_NAME}`,
    masterName: MASTER_NAME,
    sentinelPort,
    sentinel,
    /** The data nodes; which one is master changes with failover(). */
    nodes: [master, replica],
    /** The port the Sentinel names as master. */
    async masterPort (): Promise<number> {
      const [, port] = await sentinel.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', MASTER_NAME) as [string, string]
      return Number(port)
    },
    /** The data node the Sentinel names as master, and the other one. */
    async roles (): Promise<{ master: SentinelDataNode, replica: SentinelDataNode }> {
      const port = await setup.masterPort()
      return { master: setup.nodes.find((node) => node.port === port)!, replica: setup.nodes.find((node) => node.port !== port)! }
    },
    /** Waits until the Sentinel lists the replica as usable for a failover. */
    async waitForReplica (timeoutMs = 15_000): Promise<void> {
      const usable = await pollUntil(
        async () => await sentinel.call('SENTINEL', 'REPLICAS', MASTER_NAME).catch(() => []) as string[][],
        (replicas) => replicas.some((fields) => { const flags = fields[fields.indexOf('flags') + 1] ?? ''; return flags === 'slave' }),
        { timeoutMs, intervalMs: 100 })
      if (usable.length === 0) throw new Error('the Sentinel never listed the replica')
    },
    /**
     * SENTINEL FAILOVER: the replica is promoted; resolves once the Sentinel names it and it
     * answers ROLE master. The old master is turned into a replica by the Sentinel a few seconds later.
     */
    async failover (timeoutMs = 20_000): Promise<{ from: number, to: number }> {
      await setup.waitForReplica()
      const { master: from, replica: to } = await setup.roles()
      await sentinel.call('SENTINEL', 'FAILOVER', MASTER_NAME)
      const done = await pollUntil(async () => {
        const named = await setup.masterPort().catch(() => 0)
        const role = await to.admin.call('ROLE').catch(() => ['?']) as string[]
        return named === to.port && role[0] === 'master'
      }, (ok) => ok, { timeoutMs, intervalMs: 50 })
      if (!done) throw new Error('SENTINEL FAILOVER did not complete')
      return { from: from.port, to: to.port }
    },
    async close (): Promise<void> {
      sentinel.disconnect()
      for (const node of setup.nodes) node.admin.disconnect()
      await Promise.all(processes.map(async (process) => await process.stop()))
      rmSync(dir, { recursive: true, force: true })
    }
  }
  await setup.waitForReplica()
  return setup
}

export type RedisSentinel = Awaited<ReturnType<typeof startRedisSentinel>>
