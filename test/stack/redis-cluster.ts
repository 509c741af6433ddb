import { execFile } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { Redis } from 'ioredis'
import { pollUntil } from '../poll.js'
import { freePort, waitForPort } from './ports.js'
import { startProcess, type ManagedProcess } from './process.js'

const run = promisify(execFile)

/** One master of the test cluster: its port, an admin client, and stop/start of its process. */
export interface ClusterNode {
  port: number
  /** A plain (non-cluster) client to this node alone, for INFO, CLUSTER INFO and the like. */
  admin: Redis
  /** Stops the process (SIGTERM). Without persistence it comes back empty; nodes.conf keeps its slots. */
  stop: () => Promise<void>
  start: () => Promise<void>
  pause: () => void
  resume: () => void
}

/**
 * A throwaway Redis Cluster of `masters` masters and no replicas on random ports, never the
 * shared 6379: `redis-server --cluster-enabled yes` for each, then `redis-cli --cluster create`.
 * Nothing is kept on disk but each node's nodes.conf, so a stopped master restarts empty with its
 * slots (the shard-loss case). `nodeTimeoutMs` is cluster-node-timeout: how long the others wait
 * before marking a stopped master failed (then, without replicas, the cluster state is `fail`).
 */
export async function startRedisCluster ({ masters = 3, nodeTimeoutMs = 2_000 }: { masters?: number, nodeTimeoutMs?: number } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'latchkey-cluster-'))
  const ports: number[] = []
  for (let i = 0; i < masters; i++) {
    let port = await freePort()
    // Each node also listens on port + 10000 (the cluster bus); keep both free and distinct.
    while (port > 55_000 || ports.includes(port)) port = await freePort()
    ports.push(port)
  }

  const nodes: ClusterNode[] = ports.map((port) => {
    let server: ManagedProcess | undefined
    const admin = new Redis(port, '127.0.0.1', { lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => 100 })
    admin.on('error', () => {})
    return {
      port,
      admin,
      async start () {
        server = startProcess('redis-server', [
          '--port', String(port), '--bind', '127.0.0.1', '--protected-mode', 'no',
          '--cluster-enabled', 'yes', '--cluster-config-file', `nodes-${port}.conf`,
          '--cluster-node-timeout', String(nodeTimeoutMs),
          '--save', '', '--appendonly', 'no', '--dir', dir, '--loglevel', 'warning'
        ])
        try {
          await waitForPort(port)
        } catch (error) {
          throw new Error(`cluster node ${port} did not start: ${server.output()}`, { cause: error })
        }
      },
      async stop () { await server?.stop() },
      pause () { server?.child.kill('SIGSTOP') },
      resume () { server?.child.kill('SIGCONT') }
    }
  })
  await Promise.all(nodes.map(async (node) => await node.start()))
  await run('redis-cli', ['--cluster', 'create', ...ports.map((port) => `127.0.0.1:${port}`), '--cluster-replicas', '0', '--cluster-yes'])

  const cluster = {
    url: `redis+cluster://${ports.map((port) => `127.0.0.1:${port}`).join(',')}`,
    ports,
    nodes,
    /** cluster_state as each node reports it. */
    async states (): Promise<string[]> {
      return await Promise.all(nodes.map(async (node) => {
        const info = await node.admin.cluster('INFO').catch(() => '')
        return /cluster_state:(\w+)/.exec(info)?.[1] ?? 'unreachable'
      }))
    },
    /** Waits until every running node reports `state` (default: ok); stopped nodes are left out. */
    async waitForState (state = 'ok', timeoutMs = 20_000): Promise<void> {
      const reached = (states: string[]) => states.some((s) => s === state) && states.every((s) => s === state || s === 'unreachable')
      const seen = await pollUntil(async () => await cluster.states(), reached, { timeoutMs, intervalMs: 100 })
      if (!reached(seen)) throw new Error(`cluster did not reach ${state}: ${seen.join(', ')}`)
    },
    /** The master that owns `key`'s slot. */
    async nodeFor (key: string): Promise<ClusterNode> {
      const slot = await nodes[0]!.admin.cluster('KEYSLOT', key)
      for (const [from, to, master] of await nodes[0]!.admin.cluster('SLOTS')) {
        if (slot >= from && slot <= to) return nodes.find((node) => node.port === master?.[1])!
      }
      throw new Error(`no node owns slot ${slot}`)
    },
    async close (): Promise<void> {
      await Promise.all(nodes.map(async (node) => { node.admin.disconnect(); await node.stop() }))
      rmSync(dir, { recursive: true, force: true })
    }
  }
  await cluster.waitForState('ok')
  return cluster
}

export type RedisCluster = Awaited<ReturnType<typeof startRedisCluster>>
