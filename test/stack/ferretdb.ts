import { execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { freePort, waitForPort } from './ports.js'
import { startProcess, type ManagedProcess } from './process.js'

const ensureScript = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'scripts', 'ensure-ferretdb.sh')

let binary: string | undefined
/** Path of the FerretDB binary, installed into the cache folder on first use. */
export function ferretdbBinary (): string {
  binary ??= execFileSync(ensureScript, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim()
  return binary
}

/**
 * A throwaway FerretDB (MongoDB wire protocol) on the SQLite backend in a temp folder. Data
 * survives stop()/start() and crash()/start(), as a real database's would; pause()/resume()
 * freeze it (SIGSTOP), a server that hangs without closing its connections.
 */
export async function startFerretDb () {
  const bin = ferretdbBinary()
  const port = await freePort()
  const dir = mkdtempSync(join(tmpdir(), 'latchkey-ferretdb-'))
  let server: ManagedProcess | undefined

  const start = async (): Promise<void> => {
    server = startProcess(bin, [
      '--handler=sqlite', `--sqlite-url=file:${dir}/`, `--listen-addr=127.0.0.1:${port}`, `--state-dir=${dir}`,
      '--telemetry=disable', '--debug-addr=-', '--log-level=error'
    ])
    try {
      await waitForPort(port)
    } catch (error) {
      throw new Error(`FerretDB did not start: ${server.output()}`, { cause: error })
    }
  }
  await start()

  return {
    url: `mongodb://127.0.0.1:${port}/latchkey`,
    port,
    start,
    async stop (): Promise<void> { await server?.stop() },
    pause (): void { server?.child.kill('SIGSTOP') },
    resume (): void { server?.child.kill('SIGCONT') },
    /** SIGKILL, even while paused: requests it had not answered are never executed. start() brings the data back. */
    async crash (): Promise<void> {
      const child = server?.child
      if (child === undefined || child.exitCode !== null || child.signalCode !== null) return
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
      child.kill('SIGKILL')
      await exited
    },
    async close (): Promise<void> {
      await server?.stop()
      rmSync(dir, { recursive: true, force: true })
    }
  }
}

export type FerretDb = Awaited<ReturnType<typeof startFerretDb>>
