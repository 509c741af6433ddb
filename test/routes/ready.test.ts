import t from 'tap'
import { buildApp, json, startStack } from '../helper.js'

/**
 * /ready (SPEC "Operations"): the 503 names the dependency only (hosts, ports and driver messages
 * go to the log), the dependencies are probed at most once a second whatever the request rate,
 * and a Redis that may evict keys is not ready.
 */
const stack = await startStack(t)
const ready = async (app: Awaited<ReturnType<typeof buildApp>>) => await app.inject({ method: 'GET', url: '/ready' })
/** A clock the test moves: the probe's one-second bound counted without sleeping. */
const manualClock = () => {
  let time = Date.now()
  return { clock: { now: () => time }, advance: (ms: number) => { time += ms } }
}
const roleCalls = async (): Promise<number> =>
  Number(/cmdstat_role:calls=(\d+)/.exec(await stack.redis.admin.info('commandstats'))?.[1] ?? 0)

t.test('a 503 names the dependency only; what is wrong goes to the log', async (t) => {
  const lines: string[] = []
  const { clock, advance } = manualClock()
  const app = await buildApp(t, stack, { MONGODB_TIMEOUT: '1000', REDIS_TIMEOUT: '500', LOG_LEVEL: 'warn' }, { clock, logStream: { write: (line) => { lines.push(line) } } })
  t.equal((await ready(app)).statusCode, 200)

  await stack.mongo.stop()
  let mongoBack = false
  t.teardown(async () => { if (!mongoBack) await stack.mongo.start() })
  advance(1_000)
  const mongoDown = await ready(app)
  t.equal(mongoDown.statusCode, 503)
  t.equal(mongoDown.headers['retry-after'], '1')
  t.same(json(mongoDown).checks, { redis: 'ok', mongodb: 'failed' })
  t.equal(json(mongoDown).message, 'Not ready: MongoDB', 'the dependency, nothing more')
  t.notMatch(mongoDown.body, new RegExp(`127\\.0\\.0\\.1|${stack.mongo.port}|ECONN|timed out|within`), 'no host, port or driver message')

  await stack.redis.stop()
  let redisBack = false
  t.teardown(async () => { if (!redisBack) await stack.redis.start() })
  advance(1_000)
  const bothDown = await ready(app)
  t.same(json(bothDown).checks, { redis: 'failed', mongodb: 'failed' })
  t.equal(json(bothDown).message, 'Not ready: Redis, MongoDB')
  t.notMatch(bothDown.body, new RegExp(`127\\.0\\.0\\.1|${stack.redis.port}|${stack.mongo.port}`))

  const logged = lines.filter((line) => line.includes('"not ready"')).join('\n')
  t.match(logged, /MongoDB primary does not answer/, 'the log says what is wrong with MongoDB')
  t.match(logged, /Redis does not answer/, 'and with Redis')

  await Promise.all([stack.redis.start(), stack.mongo.start()])
  redisBack = mongoBack = true
  let status = 0
  for (let i = 0; i < 100 && status !== 200; i++) {
    advance(1_000)
    status = (await ready(app)).statusCode
    if (status !== 200) await new Promise((resolve) => setTimeout(resolve, 100))
  }
  t.equal(status, 200, 'ready again once both answer')
})

t.test('the dependencies are probed at most once a second, whatever the request rate', async (t) => {
  const { clock, advance } = manualClock()
  const app = await buildApp(t, stack, {}, { clock })
  const before = await roleCalls()
  const parallel = await Promise.all(Array.from({ length: 200 }, async () => await ready(app)))
  t.ok(parallel.every((response) => response.statusCode === 200))
  for (let i = 0; i < 50; i++) await ready(app)
  advance(999)
  await ready(app)
  t.equal(await roleCalls() - before, 1, '251 requests within one second: Redis probed once')

  advance(1)
  await Promise.all(Array.from({ length: 50 }, async () => await ready(app)))
  t.equal(await roleCalls() - before, 2, 'one more probe once the second has passed')
})

t.test('Redis with a maxmemory-policy other than noeviction: a warning at boot and 503 on /ready', async (t) => {
  await stack.redis.admin.config('SET', 'maxmemory-policy', 'volatile-lru')
  t.teardown(async () => { await stack.redis.admin.config('SET', 'maxmemory-policy', 'noeviction') })
  const lines: string[] = []
  const { clock, advance } = manualClock()
  const app = await buildApp(t, stack, { LOG_LEVEL: 'warn' }, { clock, logStream: { write: (line) => { lines.push(line) } } })
  t.match(lines.join('\n'), /maxmemory-policy volatile-lru: it may evict revocation marks; set it to noeviction/, 'a warning at boot')

  const evicting = await ready(app)
  t.equal(evicting.statusCode, 503)
  t.same(json(evicting).checks, { redis: 'failed', mongodb: 'ok' })
  t.equal(json(evicting).message, 'Not ready: Redis')
  t.match(lines.join('\n'), /maxmemory-policy volatile-lru[^\n]*"msg":"not ready"/, 'the log says why')

  await stack.redis.admin.config('SET', 'maxmemory-policy', 'noeviction')
  advance(1_000)
  t.equal((await ready(app)).statusCode, 200, 'ready once it is noeviction')
})
