/**
 * `npm run dev`: everything a newcomer needs on one machine, with nothing to install by hand
 * beyond Node, Go (to build FerretDB once) and redis-server.
 *
 * 1. Checks first, starts nothing until all pass: the port (PORT, default 3000; taken → the next
 *    free one, or a clean exit when APP_URL names it), redis-server on PATH, FerretDB installed
 *    (built once with Go). Every problem is one line; nothing is left running.
 * 2. Starts a private redis-server and FerretDB (data under .dev/, kept between runs; their logs
 *    in .dev/*.log), keeps a development JWT secret in .dev/jwt-secret, runs the service in
 *    development mode (mail captured at /dev/inbox, readable logs) and prints where everything is
 *    once the service answers.
 * 3. Restarts the service when a source file changes. If anything it started fails, or on Ctrl+C,
 *    it stops everything it started.
 *
 * Environment variables already set (say SMTP_URL, to use Mailpit; REDIS_URL or MONGODB_URL, to
 * use your own) win over these defaults. LATCHKEY_DEV_DIR moves the .dev folder.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, watch, writeFileSync, type FSWatcher } from 'node:fs'
import { connect, createServer } from 'node:net'
import { dirname, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const devDir = process.env.LATCHKEY_DEV_DIR ?? join(root, '.dev')
const SOURCES = ['plugins', 'routes', 'services', 'views']
const SOURCE_FILES = new Set(['app.ts', 'server.ts'])

/** A problem to report in one line (no stack trace). */
class Problem extends Error {}

const say = (line: string): void => { console.log(`latchkey dev: ${line}`) }
const complain = (line: string): void => { console.error(`latchkey dev: ${line}`) }

// ---- processes we started, and stopping them -------------------------------------------------

interface Started { name: string, child: ChildProcess, exited: Promise<number | null> }
const started: Started[] = []
let stopping = false

function start (name: string, command: string, args: string[], options: { env?: NodeJS.ProcessEnv, log?: string } = {}): Started {
  const out = options.log === undefined ? 'inherit' : openSync(options.log, 'a')
  // Detached: its own process group, so Ctrl+C in the terminal reaches only us, and we stop the
  // children in order (a child dying of the same Ctrl+C would look like a crash).
  const child = spawn(command, args, { env: options.env ?? process.env, cwd: root, stdio: ['ignore', out, out], detached: true })
  if (typeof out === 'number') closeSync(out)
  const exited = new Promise<number | null>((resolve) => {
    child.once('exit', (code, signal) => resolve(code ?? (signal === null ? null : 128)))
    child.once('error', () => resolve(127))
  })
  const entry = { name, child, exited }
  started.push(entry)
  return entry
}

async function stopOne ({ child, exited }: Started): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  child.kill('SIGTERM')
  const timer = setTimeout(() => child.kill('SIGKILL'), 5_000)
  await exited
  clearTimeout(timer)
}

async function stopAll (): Promise<void> {
  stopping = true
  for (const watcher of watchers) watcher.close()
  await Promise.all([...started].reverse().map(stopOne))
}

async function fail (message: string): Promise<never> {
  complain(message)
  await stopAll()
  process.exit(1)
}

// Ctrl+C reaches us twice (from the terminal, and relayed by the tsx runner): the first one stops
// everything, in order; the others must not kill us halfway (that would orphan the children).
let interrupted = false
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(signal, () => {
    if (interrupted) return
    interrupted = true
    if (started.length > 0) say('stopping the server, FerretDB and Redis')
    void stopAll().then(() => process.exit(0))
  })
}
// Whatever way this process ends, nothing it started outlives it.
process.once('exit', () => {
  for (const { child } of started) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
})

// ---- checks ------------------------------------------------------------------------------------

/** Free on `host`, and (for a loopback host) on IPv6 loopback too: a browser may open localhost as ::1. */
async function portIsFree (port: number, host: string): Promise<boolean> {
  const bindable = async (address: string): Promise<boolean> => await new Promise((resolve) => {
    const server = createServer()
    server.once('error', (error: NodeJS.ErrnoException) => resolve(error.code === 'EADDRNOTAVAIL' || error.code === 'EAFNOSUPPORT'))
    server.listen({ port, host: address, exclusive: true }, () => server.close(() => resolve(true)))
  })
  const loopback = host === '127.0.0.1' || host === 'localhost'
  return await bindable(loopback ? '127.0.0.1' : host) && (!loopback || await bindable('::1'))
}

/** PORT (default 3000) is the first choice; a taken one moves on to the next free one, unless APP_URL, which emails link to, names it. */
async function choosePort (preferred: number, host: string, pinnedByAppUrl: boolean): Promise<{ port: number, moved: boolean }> {
  if (await portIsFree(preferred, host)) return { port: preferred, moved: false }
  if (pinnedByAppUrl) throw new Problem(`port ${preferred} is already in use (another server?) and APP_URL points at it: stop that server, or set PORT and APP_URL to a free port`)
  for (let port = preferred + 1; port < preferred + 20; port++) if (await portIsFree(port, host)) return { port, moved: true }
  throw new Problem(`ports ${preferred} to ${preferred + 19} are all in use; set PORT to a free port`)
}

async function freePortNear (preferred: number): Promise<number> {
  for (let port = preferred; port < preferred + 50; port++) if (await portIsFree(port, '127.0.0.1')) return port
  throw new Problem(`no free port near ${preferred}`)
}

function checkRedisServer (): void {
  if (spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).error !== undefined) {
    throw new Problem('redis-server is not installed (Debian/Ubuntu: apt-get install redis-server; macOS: brew install redis), or set REDIS_URL to a Redis you run')
  }
}

/** The FerretDB binary, built once with Go by scripts/ensure-ferretdb.sh (about a minute). */
async function ensureFerretDb (): Promise<string> {
  const script = spawn(join(root, 'scripts', 'ensure-ferretdb.sh'), [], { stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  script.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString() })
  script.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString()
    if (/ensure-ferretdb: installing/.test(chunk.toString())) say('building FerretDB with Go, once (about a minute)...')
  })
  const code = await new Promise<number | null>((resolve) => { script.once('close', resolve); script.once('error', () => resolve(127)) })
  if (code === 0) return stdout.trim()
  if (/Go is required/.test(stderr)) {
    throw new Problem('FerretDB (the local MongoDB) is built with Go the first time, and `go` is not on PATH: install Go (https://go.dev/dl/), or set MONGODB_URL to a MongoDB you run')
  }
  const last = stderr.trim().split('\n').at(-1)?.replace(/^ensure-ferretdb: /, '') ?? `exit code ${code}`
  throw new Problem(`FerretDB could not be installed (${last}); or set MONGODB_URL to a MongoDB you run`)
}

// ---- starting ----------------------------------------------------------------------------------

const lastLine = (file: string): string => existsSync(file) ? readFileSync(file, 'utf8').trim().split('\n').at(-1) ?? '' : ''

/** Resolves once something accepts connections on the port; fails if the process exits first. */
async function waitForPort (service: Started, port: number, log: string): Promise<void> {
  const deadline = Date.now() + 20_000
  let exited = false
  void service.exited.then(() => { exited = true })
  while (Date.now() < deadline) {
    if (exited) throw new Problem(`${service.name} exited at once (code ${String(service.child.exitCode)}): ${lastLine(log) || 'see ' + relative(process.cwd(), log)}`)
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1').once('connect', () => { socket.destroy(); resolve(true) }).once('error', () => resolve(false))
    })
    if (open) return
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  throw new Problem(`${service.name} did not start on port ${port} within 20 s (see ${relative(process.cwd(), log)})`)
}

/** Resolves once GET /health answers; fails if the server process exits first or takes over a minute. */
async function waitUntilServing (server: Started, url: string): Promise<void> {
  const deadline = Date.now() + 60_000
  let exited = false
  void server.exited.then(() => { exited = true })
  while (Date.now() < deadline) {
    if (exited) throw new Problem(`the server stopped before it was ready (exit code ${String(server.child.exitCode)}); its output is above`)
    if (await fetch(`${url}/health`, { signal: AbortSignal.timeout(1_000) }).then((response) => response.ok, () => false)) return
    await new Promise((resolve) => setTimeout(resolve, 150))
  }
  throw new Problem('the server did not answer /health within 60 s; its output is above')
}

/** A crash of Redis or FerretDB while we run stops everything: the service cannot work without them. */
function supervise (service: Started): void {
  void service.exited.then((code) => { if (!stopping) void fail(`${service.name} stopped unexpectedly (exit code ${String(code)}); stopping everything`) })
}

const watchers: FSWatcher[] = []

/** Restarts the server when a source file changes; a crash after the first start waits for the next change. */
function restartOnChange (run: () => Started, first: Started): void {
  let server: Started | undefined = first
  let timer: NodeJS.Timeout | undefined
  let restarts = Promise.resolve()
  const report = (current: Started): void => {
    void current.exited.then((code) => {
      if (!stopping && current === server) say(`the server stopped (exit code ${String(code)}); it restarts when you save a change`)
    })
  }
  const restart = async (file: string): Promise<void> => {
    if (stopping) return
    say(`${file} changed; restarting`)
    const previous = server
    server = undefined // its exit is ours, not a crash
    if (previous !== undefined) {
      await stopOne(previous) // first, so the new one finds the port free
      started.splice(started.indexOf(previous), 1)
    }
    if (stopping) return
    server = run()
    report(server)
  }
  const changed = (file: string): void => {
    clearTimeout(timer)
    timer = setTimeout(() => { restarts = restarts.then(async () => { await restart(file) }) }, 150)
  }
  report(first)
  for (const folder of SOURCES) {
    watchers.push(watch(join(root, folder), { recursive: true }, (_event, file) => { if (file !== null && /\.(ts|css|json)$/.test(file)) changed(join(folder, file)) }))
  }
  watchers.push(watch(root, (_event, file) => { if (file !== null && SOURCE_FILES.has(file)) changed(file) }))
}

// ---- main --------------------------------------------------------------------------------------

async function main (): Promise<void> {
  mkdirSync(join(devDir, 'redis'), { recursive: true })
  mkdirSync(join(devDir, 'ferretdb'), { recursive: true })
  const env: NodeJS.ProcessEnv = { ...process.env, NODE_ENV: process.env.NODE_ENV ?? 'development' }
  const host = env.HOST ?? '127.0.0.1'
  const preferred = Number(env.PORT ?? 3000)
  if (!Number.isInteger(preferred) || preferred < 1 || preferred > 65535) throw new Problem(`PORT must be a port number, not "${env.PORT}"`)

  // Checks: every problem is reported before anything is started.
  const problems: string[] = []
  const check = async <T>(work: () => T | Promise<T>): Promise<T | undefined> => {
    try { return await work() } catch (error) {
      if (!(error instanceof Problem)) throw error
      problems.push(error.message)
      return undefined
    }
  }
  const chosen = await check(async () => await choosePort(preferred, host, process.env.APP_URL !== undefined))
  if (env.REDIS_URL === undefined) await check(checkRedisServer)
  const ferretdb = env.MONGODB_URL === undefined ? await check(ensureFerretDb) : undefined
  if (problems.length > 0 || chosen === undefined) {
    for (const problem of problems) complain(problem)
    process.exit(1)
  }

  const secretFile = join(devDir, 'jwt-secret')
  if (!existsSync(secretFile)) writeFileSync(secretFile, randomBytes(48).toString('base64url'), { mode: 0o600 })
  env.JWT_SECRET ??= readFileSync(secretFile, 'utf8').trim()
  env.PORT = String(chosen.port)
  env.APP_URL ??= `http://localhost:${chosen.port}`
  env.LOG_LEVEL ??= 'info'

  if (env.REDIS_URL === undefined) {
    const port = await freePortNear(6380)
    const log = join(devDir, 'redis.log')
    const redis = start('redis-server', 'redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', join(devDir, 'redis'), '--appendonly', 'yes', '--save', '', '--maxmemory-policy', 'noeviction'], { log })
    await waitForPort(redis, port, log)
    supervise(redis)
    env.REDIS_URL = `redis://127.0.0.1:${port}`
  }

  if (ferretdb !== undefined) {
    const port = await freePortNear(27018)
    const data = join(devDir, 'ferretdb')
    const log = join(devDir, 'ferretdb.log')
    const mongo = start('FerretDB', ferretdb, ['--handler=sqlite', `--sqlite-url=file:${data}/`, `--listen-addr=127.0.0.1:${port}`, `--state-dir=${data}`, '--telemetry=disable', '--debug-addr=-', '--log-level=warn'], { log })
    await waitForPort(mongo, port, log)
    supervise(mongo)
    env.MONGODB_URL = `mongodb://127.0.0.1:${port}/latchkey`
  }

  const runServer = (): Started => start('the server', process.execPath, ['--import', import.meta.resolve('tsx'), join(root, 'server.ts')], { env })
  const server = runServer()
  const local = `http://${host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host}:${chosen.port}`
  await waitUntilServing(server, local)
  restartOnChange(runServer, server)

  const app = env.APP_URL
  const inbox = env.SMTP_URL === undefined ? `${app}/dev/inbox  (captured here, nothing is sent)` : `sent through ${new URL(env.SMTP_URL).host}`
  console.log(`
  Latchkey is running (development)${chosen.moved ? `  -- port ${preferred} was in use, so it runs on ${chosen.port}` : ''}
  API       ${app}
  Sign in   ${app}/
  Emails    ${inbox}
  API docs  ${app}/docs
  Redis     ${env.REDIS_URL}
  MongoDB   ${env.MONGODB_URL}
  Restarts when a source file changes; Ctrl+C stops everything.
`)
}

main().catch(async (error: unknown) => {
  await fail(error instanceof Problem ? error.message : `unexpected error: ${(error as Error).message}`)
})
