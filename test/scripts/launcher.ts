import { spawn } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, readlinkSync } from 'node:fs'
import { createServer, type Server } from 'node:net'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Test } from 'tap'

export const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..')

/** `npm run dev` as a person runs it, with its own .dev folder; output kept, stopped at teardown. */
export function runLauncher (t: Test, env: Record<string, string | undefined> = {}) {
  const devDir = mkdtempSync(join(tmpdir(), 'latchkey-dev-'))
  const child = spawn('npm', ['run', '--silent', 'dev'], {
    cwd: root,
    // A clean environment: nothing of the test runner's (NODE_OPTIONS loaders, NODE_ENV) leaks in.
    env: { PATH: process.env.PATH, HOME: process.env.HOME, LATCHKEY_DEV_DIR: devDir, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    // Its own process group, as in a terminal: Ctrl+C (interrupt()) reaches npm, its shell, tsx and the launcher at once.
    detached: true
  })
  const signalGroup = (signal: NodeJS.Signals): void => { try { process.kill(-child.pid!, signal) } catch {} }
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString() })
  child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
  // An exit code, or the signal npm re-raised on itself after its child finished (as shells expect after Ctrl+C).
  const exited = new Promise<number | string | null>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal)))
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) signalGroup('SIGTERM')
    await exited
    for (const left of leftovers(devDir)) process.kill(Number(left.split(' ')[0]), 'SIGKILL')
  })
  return {
    devDir,
    child,
    exited,
    /** Ctrl+C in the terminal. */
    interrupt: () => { signalGroup('SIGINT') },
    stdout: () => stdout,
    stderr: () => stderr,
    /** Our launcher's lines on stderr (npm's own config warnings about this machine are not ours). */
    problems: () => stderr.split('\n').filter((line) => line !== '' && !line.startsWith('npm warn')),
    async waitFor (pattern: RegExp, timeoutMs = 90_000): Promise<RegExpMatchArray> {
      const deadline = Date.now() + timeoutMs
      while (Date.now() < deadline) {
        const match = pattern.exec(stdout)
        if (match !== null) return match
        if (child.exitCode !== null) break
        await new Promise((resolve) => setTimeout(resolve, 100))
      }
      throw new Error(`launcher output never matched ${pattern}:\n${stdout}\n${stderr}`)
    }
  }
}

/**
 * Processes the launcher started that are still there: anything whose working directory,
 * command line or environment names its .dev folder (redis-server rewrites its command line, but
 * runs in the folder; the server and FerretDB carry it in their environment and arguments).
 */
export function leftovers (devDir: string): string[] {
  const found: string[] = []
  for (const pid of readdirSync('/proc').filter((name) => /^\d+$/.test(name))) {
    try {
      const cwd = readlinkSync(`/proc/${pid}/cwd`)
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8')
      const environ = readFileSync(`/proc/${pid}/environ`, 'utf8')
      if (cwd.startsWith(devDir) || cmdline.includes(devDir) || environ.includes(devDir)) found.push(`${pid} ${cmdline.replace(/\0/g, ' ').trim()}`)
    } catch {
      // gone meanwhile, or not ours to read
    }
  }
  return found
}

/** Holds a port on 127.0.0.1, as "another server" would, counting the connections it gets. */
export async function occupyPort (t: Test): Promise<{ port: number, connections: () => number }> {
  let connections = 0
  const server: Server = createServer((socket) => { connections++; socket.destroy() })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(async () => { await new Promise((resolve) => server.close(resolve)) })
  const address = server.address()
  if (typeof address !== 'object' || address === null) throw new Error('no port')
  return { port: address.port, connections: () => connections }
}
