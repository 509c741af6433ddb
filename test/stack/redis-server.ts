import { copyFileSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import { freePort, waitForPort } from './ports.js'
import { startProcess, type ManagedProcess } from './process.js'

/**
 * A throwaway redis-server on a random port, never the shared 6379. It keeps nothing on disk, so
 * restart() brings it back empty (the data-loss case); stop()/start() simulate an outage and
 * pause()/resume() a server that hangs without closing connections. snapshot() takes a real RDB
 * snapshot (SAVE) and restartFrom() brings the server back from it: a restore from an older copy.
 */
export async function startRedisServer () {
  const port = await freePort()
  const dir = mkdtempSync(join(tmpdir(), 'latchkey-redis-'))
  let server: ManagedProcess | undefined

  const start = async (): Promise<void> => {
    server = startProcess('redis-server', [
      '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir,
      '--protected-mode', 'no', '--loglevel', 'warning'
    ])
    await waitForPort(port)
  }
  await start()

  const dump = join(dir, 'dump.rdb')
  let snapshots = 0
  const url = `redis://127.0.0.1:${port}`
  const admin = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => 100 })
  admin.on('error', () => {})

  return {
    url,
    port,
    /** A separate client for tests to inspect and manipulate Redis directly. */
    admin,
    start,
    async stop (): Promise<void> { await server?.stop() },
    async restart (): Promise<void> { await server?.stop(); rmSync(dump, { force: true }); await start() },
    /** SAVE, and keep the RDB file aside; returns its path. */
    async snapshot (): Promise<string> {
      await admin.save()
      const path = join(dir, `snapshot-${++snapshots}.rdb`)
      copyFileSync(dump, path)
      rmSync(dump, { force: true })
      return path
    },
    /** Stops the server and starts it again from an RDB snapshot (everything written since is gone). */
    async restartFrom (snapshot: string): Promise<void> {
      await server?.stop()
      copyFileSync(snapshot, dump)
      await start()
      rmSync(dump, { force: true })
    },
    pause (): void { server?.child.kill('SIGSTOP') },
    resume (): void { server?.child.kill('SIGCONT') },
    async close (): Promise<void> {
      admin.disconnect()
      await server?.stop()
      rmSync(dir, { recursive: true, force: true })
    }
  }
}

export type RedisServer = Awaited<ReturnType<typeof startRedisServer>>
