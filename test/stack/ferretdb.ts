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
 * survives stop()/start(), as a real database's would.
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
    async close (): Promise<void> {
      await server?.stop()
      rmSync(dir, { recursive: true, force: true })
    }
  }
}

export type FerretDb = Awaited<ReturnType<typeof startFerretDb>>
