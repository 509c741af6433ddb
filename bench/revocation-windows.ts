/**
 * How long a logged-out access token is accepted again after Redis loses the revocation (issue
 * 15): the "resurrection window", measured on the real app with production defaults (10 s check
 * period, USER_CACHE_TTL 600 s, ACCESS_TOKEN_TTL 900 s), a real redis-server and FerretDB.
 *
 *   npx tsx bench/revocation-windows.ts [scenario|all] [app root] [cap seconds]
 *
 * Scenarios:
 *   restore-restart   SAVE, log out, restart redis-server from that RDB (clients reconnect)
 *   restore-in-place  SAVE, log out, DEBUG RELOAD NOSAVE from that RDB (connections stay open, as
 *                     when a proxy hides a failover to a lagging replica)
 *   refused-write     log out while Redis refuses writes (CONFIG SET maxmemory 1), then accept them
 *
 * The app root defaults to this checkout; pass another checkout (e.g. an export of main with this
 * node_modules linked in) to measure it the same way. A window still open at the cap is reported
 * as "> cap".
 */
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { randomBytes } from 'node:crypto'
import Fastify, { type FastifyInstance } from 'fastify'
import { Redis } from 'ioredis'
import { startFerretDb } from '../test/stack/ferretdb.js'
import { freePort, waitForPort } from '../test/stack/ports.js'
import { startProcess, type ManagedProcess } from '../test/stack/process.js'
import { startSmtpSink } from '../test/stack/smtp-sink.js'

const here = join(dirname(fileURLToPath(import.meta.url)), '..')
const [scenarioArg = 'all', rootArg = here, capArg = '720'] = process.argv.slice(2)
const root = resolve(rootArg)
const capMs = Number(capArg) * 1000
const sleep = async (ms: number) => await new Promise((resolve) => setTimeout(resolve, ms))

/** A redis-server with the DEBUG command enabled (for DEBUG RELOAD), nothing persisted by itself. */
async function startRedis () {
  const port = await freePort()
  const dir = mkdtempSync(join(tmpdir(), 'latchkey-windows-'))
  const dump = join(dir, 'dump.rdb')
  let server: ManagedProcess | undefined
  const start = async () => {
    server = startProcess('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir,
      '--protected-mode', 'no', '--loglevel', 'warning', '--enable-debug-command', 'yes'])
    await waitForPort(port)
  }
  await start()
  const admin = new Redis(port, '127.0.0.1', { maxRetriesPerRequest: 1, retryStrategy: () => 100 })
  admin.on('error', () => {})
  return {
    url: `redis://127.0.0.1:${port}`,
    admin,
    async snapshot (): Promise<string> { await admin.save(); const copy = join(dir, 'snapshot.rdb'); copyFileSync(dump, copy); return copy },
    async restartFrom (snapshot: string) { await server?.stop(); copyFileSync(snapshot, dump); await start() },
    async reloadInPlace (snapshot: string) { copyFileSync(snapshot, dump); await admin.call('DEBUG', 'RELOAD', 'NOSAVE') },
    async close () { admin.disconnect(); await server?.stop(); rmSync(dir, { recursive: true, force: true }) }
  }
}

async function buildApp (env: Record<string, string>): Promise<FastifyInstance> {
  const { default: app, serverOptions } = await import(pathToFileURL(join(root, 'app.ts')).href) as typeof import('../app.js')
  const { loadConfig } = await import(pathToFileURL(join(root, 'services/infrastructure/config.ts')).href) as typeof import('../services/infrastructure/config.js')
  const config = loadConfig(env)
  const fastify = Fastify(serverOptions(config))
  await fastify.register(app, { config })
  await fastify.ready()
  return fastify
}

interface Result { scenario: string, logout: number, window: string, statuses: string }

async function measure (scenario: string): Promise<Result> {
  const [redis, mongo, smtp] = await Promise.all([startRedis(), startFerretDb(), startSmtpSink()])
  const app = await buildApp({
    NODE_ENV: 'production',
    LOG_LEVEL: 'silent',
    APP_URL: 'http://latchkey.bench',
    REDIS_URL: redis.url,
    MONGODB_URL: mongo.url,
    SMTP_URL: smtp.url,
    JWT_SECRET: randomBytes(32).toString('base64url'),
    RATE_LIMIT_GLOBAL: '100000000',
    RATE_LIMIT_BEARER: '100000000',
    RATE_LIMIT_AUTH: '100000000',
    RATE_LIMIT_REFRESH: '100000000'
  })
  try {
    const email = `windows.${process.pid}@example.com`
    await app.inject({ method: 'POST', url: '/auth/magic-link', payload: { email } })
    const token = /token=([A-Za-z0-9_-]+)/.exec((await smtp.waitForMail(email)).text ?? '')![1]!
    const { accessToken } = (await app.inject({ method: 'POST', url: '/auth/signup', payload: { token, email, name: 'Window' } })).json()
    const me = async () => (await app.inject({ method: 'GET', url: '/auth/me', headers: { authorization: `Bearer ${accessToken}` } })).statusCode
    const logout = async () => (await app.inject({ method: 'POST', url: '/auth/logout', headers: { authorization: `Bearer ${accessToken}` } })).statusCode
    if (await me() !== 200) throw new Error('the fresh token is not accepted')
    await sleep(11_000) // at least one check period before anything happens

    let logoutStatus: number
    let lose: () => Promise<void>
    if (scenario === 'refused-write') {
      await redis.admin.config('SET', 'maxmemory', '1')
      logoutStatus = await logout()
      lose = async () => { await redis.admin.config('SET', 'maxmemory', '0') }
    } else {
      const snapshot = await redis.snapshot()
      logoutStatus = await logout()
      if (await me() !== 401) throw new Error('logout did not take')
      await sleep(11_000) // a check period passes: MongoDB now knows more than the snapshot
      lose = scenario === 'restore-restart' ? async () => { await redis.restartFrom(snapshot) } : async () => { await redis.reloadInPlace(snapshot) }
    }

    await lose()
    const t0 = performance.now()
    const seen = new Map<number, number>()
    let lastAccepted = -1
    let firstRefusedAfter: number | undefined
    while (performance.now() - t0 < capMs) {
      const status = await me()
      const at = performance.now() - t0
      seen.set(status, (seen.get(status) ?? 0) + 1)
      if (status === 200) { lastAccepted = at; firstRefusedAfter = undefined }
      if (status === 401 && firstRefusedAfter === undefined) firstRefusedAfter = at
      // Settled: refused for 15 s in a row (longer than a check period).
      if (firstRefusedAfter !== undefined && at - firstRefusedAfter > 15_000) break
      await sleep(100)
    }
    const window = firstRefusedAfter === undefined
      ? `> ${Math.round(capMs / 1000)} s (still accepted at the cap)`
      : lastAccepted < 0 ? '0 (never accepted)' : `${(lastAccepted / 1000).toFixed(2)} s accepted, refused from ${(firstRefusedAfter / 1000).toFixed(2)} s`
    return { scenario, logout: logoutStatus, window, statuses: [...seen].map(([status, count]) => `${status}×${count}`).join(' ') }
  } finally {
    await app.close()
    await Promise.all([redis.close(), mongo.close(), smtp.close()])
  }
}

const scenarios = scenarioArg === 'all' ? ['restore-restart', 'restore-in-place', 'refused-write'] : [scenarioArg]
console.log(`app: ${root}; cap ${capMs / 1000} s; ${new Date().toISOString()}`)
for (const scenario of scenarios) {
  const result = await measure(scenario)
  console.log(`${result.scenario.padEnd(17)} logout → ${result.logout}; logged-out token after the loss: ${result.window} [${result.statuses}]`)
}
process.exit(0)
