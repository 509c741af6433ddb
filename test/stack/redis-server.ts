import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import { freePort, waitForPort } from './ports.js'
import { startProcess, type ManagedProcess } from './process.js'

/**
 * A throwaway redis-server on a random port, never the shared 6379. It keeps nothing on disk, so
 * restart() brings it back empty (the data-loss case); stop()/start() simulate an outage and
 * pause()/resume() a server that hangs without closing connections.
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
    async restart (): Promise<void> { await server?.stop(); await start() },
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
