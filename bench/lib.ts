/**
 * Shared pieces of the bench scripts: the backing services (the test stack's throwaway
 * redis-server, FerretDB and in-process SMTP sink), server child processes pinned to one CPU,
 * autocannon runs, and small statistics helpers.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import autocannon from 'autocannon'
import { startFerretDb, type FerretDb } from '../test/stack/ferretdb.js'
import { startRedisServer, type RedisServer } from '../test/stack/redis-server.js'
import { startSmtpSink, type SmtpSink } from '../test/stack/smtp-sink.js'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')

const which = (command: string): string | null => {
  try { return execFileSync('sh', ['-c', `command -v ${command}`], { encoding: 'utf8' }).trim() || null } catch { return null }
}
export const taskset = which('taskset')
export const cpus = (await import('node:os')).availableParallelism()

/**
 * Pins this process (the load generator) to the last CPU, so a server pinned to CPU 0 has that
 * core to itself (apart from other jobs on the machine). Children started afterwards inherit it.
 */
export function pinSelf (): string {
  if (taskset === null || cpus < 2) return 'taskset unavailable or 1 CPU: nothing pinned'
  execFileSync(taskset, ['-p', '-c', String(cpus - 1), String(process.pid)], { stdio: 'ignore' })
  return `server pinned to CPU 0; load generator, Redis and FerretDB on CPU ${cpus - 1}`
}

export interface Stack { redis: RedisServer, mongo: FerretDb, smtp: SmtpSink, close: () => Promise<void> }

export async function startStack (): Promise<Stack> {
  const [redis, mongo, smtp] = await Promise.all([startRedisServer(), startFerretDb(), startSmtpSink()])
  await redis.admin.connect()
  return { redis, mongo, smtp, close: async () => { await Promise.all([redis.close(), mongo.close(), smtp.close()]) } }
}

/** Environment of a bench Latchkey server: production-like (logger at warn), limits out of the way. */
export function latchkeyEnv (stack: Stack, extra: Record<string, string> = {}): Record<string, string> {
  return {
    NODE_ENV: 'production',
    LOG_LEVEL: 'warn',
    APP_URL: 'http://latchkey.bench',
    REDIS_URL: stack.redis.url,
    MONGODB_URL: stack.mongo.url.replace(/\/latchkey$/, `/latchkey_bench_${process.pid}`),
    SMTP_URL: stack.smtp.url,
    JWT_SECRET: randomBytes(32).toString('base64url'),
    // One client IP sends everything: the limits are raised so they never answer 429, but the
    // checks still run (the per-instance Bearer limiter is in the measured path).
    RATE_LIMIT_GLOBAL: '100000000',
    RATE_LIMIT_BEARER: '100000000',
    RATE_LIMIT_AUTH: '100000000',
    RATE_LIMIT_AUTH_TOTAL: '100000000',
    RATE_LIMIT_REFRESH: '100000000',
    RATE_LIMIT_ADDRESS: '100000000',
    ...extra
  }
}

export interface Server { name: string, url: string, child: ChildProcess, pid: number, stop: () => Promise<void> }

/**
 * Starts bench/servers/<name>.ts in a child process (pinned to CPU 0 where taskset exists); `from`
 * is another checkout to run it from (another build of the app, for back-to-back comparisons).
 */
export async function startServer (name: 'bare' | 'latchkey', env: Record<string, string> = {}, from = root): Promise<Server> {
  const script = join(from, 'bench', 'servers', `${name}.ts`)
  const nodeArgs = [...(process.env.BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean), '--import', 'tsx', script]
  const [command, args] = taskset !== null && cpus >= 2 ? [taskset, ['-c', '0', process.execPath, ...nodeArgs]] : [process.execPath, nodeArgs]
  const child = spawn(command, args, { cwd: from, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  child.stderr!.on('data', (chunk: Buffer) => { output += chunk.toString() })
  const port = await new Promise<number>((resolve, reject) => {
    let buffer = ''
    child.stdout!.on('data', (chunk: Buffer) => {
      buffer += chunk.toString()
      const line = /^\{"port":(\d+)\}$/m.exec(buffer)
      if (line !== null) resolve(Number(line[1]))
    })
    child.once('exit', (code) => reject(new Error(`${name} server exited (${code}): ${output}`)))
  })
  return {
    name,
    url: `http://127.0.0.1:${port}`,
    child,
    pid: child.pid!,
    async stop () {
      if (child.exitCode !== null) return
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
      child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000)
      await exited
      clearTimeout(timer)
    }
  }
}

export interface LoadResult {
  rps: number
  p50: number
  p99: number
  total: number
  non2xx: number
  status5xx: number
  errors: number
  timeouts: number
  statusCodes: Record<string, number>
}

/** One autocannon run. */
export async function load (options: autocannon.Options): Promise<LoadResult> {
  const result = await autocannon({ connections: 50, duration: 5, ...options })
  const statusCodes: Record<string, number> = {}
  for (const [code, count] of Object.entries(result.statusCodeStats ?? {})) statusCodes[code] = (count as { count: number }).count
  const status5xx = Object.entries(statusCodes).filter(([code]) => code.startsWith('5')).reduce((sum, [, n]) => sum + n, 0)
  return {
    rps: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    total: result.requests.total,
    non2xx: result.non2xx,
    status5xx,
    errors: result.errors,
    timeouts: result.timeouts,
    statusCodes
  }
}

export const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

export const percentile = (values: number[], p: number): number => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!
}

export const fmt = (n: number, digits = 0): string => n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits })

/** A fixed-width text table. */
export function table (header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)))
  const line = (cells: string[]) => cells.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ')
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n')
}

export async function http (method: string, url: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number, json: any, ms: number }> {
  const start = performance.now()
  const response = await fetch(url, {
    method,
    headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
    body: body === undefined ? undefined : JSON.stringify(body)
  })
  const text = await response.text()
  const ms = performance.now() - start
  return { status: response.status, json: text === '' ? null : JSON.parse(text), ms }
}

export interface Session { user: { id: string, email: string, name: string, createdAt: string }, accessToken: string, refreshToken: string }

/** Signs a person up through the real magic-link flow, reading the link from the delivered email. */
export async function signUp (server: Server, stack: Stack, email: string, name = 'Bench User'): Promise<Session> {
  const sent = await http('POST', `${server.url}/auth/magic-link`, { email })
  if (sent.status !== 202) throw new Error(`magic-link: ${sent.status} ${JSON.stringify(sent.json)}`)
  const mail = await stack.smtp.waitForMail(email)
  const token = /token=([A-Za-z0-9_-]+)/.exec(mail.text ?? '')?.[1]
  if (token === undefined) throw new Error('no link in email')
  const signed = await http('POST', `${server.url}/auth/signup?token=${token}`, { email, name })
  if (signed.status !== 201) throw new Error(`signup: ${signed.status} ${JSON.stringify(signed.json)}`)
  return signed.json as Session
}

/** What a bench server reports: `allocation` is the V8 heap allocation since it started (bench/servers/allocation.ts). */
export async function stats (server: Server): Promise<{ mongoCommands: number, mongoByName: Record<string, number>, memory: NodeJS.MemoryUsage, cpu: NodeJS.CpuUsage, allocation?: { bytes: number, collections: number } }> {
  return (await http('GET', `${server.url}/__bench/stats`)).json
}

export const machine = (): string => {
  const load = existsSync('/proc/loadavg') ? (execFileSync('cat', ['/proc/loadavg'], { encoding: 'utf8' }).split(' ').slice(0, 3).join(' ')) : 'n/a'
  return `${cpus} CPUs, Node ${process.version}, load average ${load}`
}

export const sleep = async (ms: number): Promise<void> => { await new Promise((resolve) => setTimeout(resolve, ms)) }

/**
 * `count` signed-in users: one through the real magic-link flow when count is 1, else users
 * inserted in bulk by the bench server, each with a real session and access token.
 */
export async function signUpMany (server: Server, stack: Stack, count: number, label = `bench.${process.pid}`): Promise<Array<{ accessToken: string }>> {
  if (count === 1) return [await signUp(server, stack, `${label}@example.com`)]
  const answer = await http('POST', `${server.url}/__bench/sign-in-many`, { count, label })
  if (answer.status !== 200) throw new Error(`sign-in-many: ${answer.status} ${JSON.stringify(answer.json)}`)
  return (answer.json.tokens as string[]).map((accessToken) => ({ accessToken }))
}

/**
 * autocannon options sending GET `path` with many tokens spread over the connections: connection i
 * cycles through every `connections`-th token starting at i, so each token is on one connection and
 * all of them are in use at once (fewer tokens than connections: every connection cycles through all).
 */
export function spreadTokens (tokens: string[], connections: number, path = '/auth/me'): Pick<autocannon.Options, 'setupClient' | 'requests'> {
  let client = 0
  const slice = (offset: number) => tokens.filter((_, i) => tokens.length < connections || i % connections === offset)
    .map((token) => ({ method: 'GET' as const, path, headers: { authorization: `Bearer ${token}` } }))
  return {
    requests: slice(0),
    setupClient: (c: any) => { c.setRequests(slice(client++ % connections)) }
  }
}
