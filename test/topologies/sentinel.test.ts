import Fastify, { type FastifyInstance, type LightMyRequestResponse } from 'fastify'
import t from 'tap'
import app, { serverOptions } from '../../app.js'
import { bearer, buildApp, json, pollUntil, signUp, startStack, testConfig, uniqueEmail } from '../helper.js'
import { startRedisSentinel } from '../stack/redis-sentinel.js'
import { coreFlows, me, signInByLink, twoInstances } from './core-flows.js'

/**
 * A master, its replica and a Sentinel (REDIS_URL=redis+sentinel://…/latchkey): the core flows
 * across two instances, then SENTINEL FAILOVER under load.
 */
const stack = await startStack(t)
const sentinel = await startRedisSentinel()
t.teardown(async () => { await sentinel.close() })

await coreFlows(t, stack, sentinel.url, async () => (await sentinel.roles()).master.admin)

t.test('a one-node REDIS_URL that reaches a Sentinel stops the boot; one that reaches a replica is not ready', async (t) => {
  const config = testConfig(stack, { REDIS_URL: `redis://127.0.0.1:${sentinel.sentinelPort}` })
  const onSentinel = Fastify(serverOptions(config))
  const error = await onSentinel.register(app, { config }).ready().then(() => null, (e: Error) => e)
  await onSentinel.close()
  t.equal(error?.message, `Redis at redis://127.0.0.1:${sentinel.sentinelPort} is a Sentinel, not a data node: use redis+sentinel://host:port/<master>`)

  const { replica } = await sentinel.roles()
  const lines: string[] = []
  const onReplica = await buildApp(t, stack, { REDIS_URL: `redis://127.0.0.1:${replica.port}`, LOG_LEVEL: 'warn' }, { logStream: { write: (line) => { lines.push(line) } } })
  const ready = await onReplica.inject({ method: 'GET', url: '/ready' })
  t.equal(ready.statusCode, 503)
  t.equal(ready.headers['retry-after'], '1')
  t.same(json(ready).checks, { redis: 'failed', mongodb: 'ok' })
  t.equal(json(ready).message, 'Not ready: Redis')
  t.match(lines.join('\n'), /read-only replica/, 'the log says why')
  const viaSentinel = await buildApp(t, stack, { REDIS_URL: sentinel.url })
  t.equal((await viaSentinel.inject({ method: 'GET', url: '/ready' })).statusCode, 200, 'through the Sentinel, the master: ready')
  t.equal((await viaSentinel.inject({ method: 'POST', url: '/auth/magic-link', payload: { email: uniqueEmail('sentinel') } })).statusCode, 202)
})

/** The data node an app's Redis connection is on, and what it answers to ROLE. */
async function connectedNode (app: FastifyInstance): Promise<{ port: number, role: string }> {
  const port = Number(/tcp_port:(\d+)/.exec(await app.redis.info('server'))?.[1])
  const [role] = await app.redis.call('ROLE') as [string]
  return { port, role }
}

t.test('SENTINEL FAILOVER: both instances follow the new master within seconds, no 500, a logged-out token stays 401', async (t) => {
  const { one, two } = await twoInstances(t, stack, sentinel.url)
  const live = await signUp(one, stack)
  const gone = await signInByLink(one, two, stack, live.user.email)
  for (const app of [one, two]) for (const session of [live, gone]) t.equal((await me(app, session.accessToken)).statusCode, 200, 'cached on both')
  t.equal((await two.inject({ method: 'POST', url: '/auth/logout', headers: bearer(gone.accessToken) })).statusCode, 204)
  // Replication is asynchronous: let the logout reach the replica before it is promoted. (A write
  // acknowledged by the old master and lost in the switch is what the revocation journal is for.)
  const { master: before, replica: promoted } = await sentinel.roles()
  const offset = async (node: typeof before, field: string) => Number(new RegExp(`${field}:(\\d+)`).exec(await node.admin.info('replication'))?.[1] ?? -1)
  const caughtUp = await pollUntil(async () => await offset(promoted, 'slave_repl_offset') >= await offset(before, 'master_repl_offset'), (ok) => ok)
  t.ok(caughtUp, 'the replica has the logout')

  // Requests on both instances all through the failover: the live token, the logged-out one, a write.
  const seen: Array<{ what: string, response: LightMyRequestResponse }> = []
  let running = true
  const load = (async () => {
    // eslint-disable-next-line no-unmodified-loop-condition -- set to false when the check ends
    for (let i = 0; running; i++) {
      const app = i % 2 === 0 ? one : two
      const [a, b, c] = await Promise.all([
        me(app, live.accessToken),
        me(app, gone.accessToken),
        app.inject({ method: 'POST', url: '/todos', headers: bearer(live.accessToken), payload: { title: `during ${i}` } })
      ])
      seen.push({ what: 'live', response: a }, { what: 'gone', response: b }, { what: 'write', response: c })
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
  })()

  const { from, to } = await sentinel.failover()
  t.equal(from, before.port)
  t.equal(to, promoted.port)
  const started = Date.now()
  const followed = await pollUntil(async () => {
    const nodes = await Promise.all([one, two].map(async (app) => await connectedNode(app).catch(() => ({ port: 0, role: '?' }))))
    const ready = await Promise.all([one, two].map(async (app) => (await app.inject({ method: 'GET', url: '/ready' })).statusCode))
    return nodes.every((node) => node.port === to && node.role === 'master') && ready.every((status) => status === 200)
  }, (ok) => ok, { timeoutMs: 15_000 })
  const followedMs = Date.now() - started
  t.ok(followed, `both instances are on the new master and ready ${followedMs} ms after the failover completed`)
  t.ok(followedMs < 10_000, 'within a few seconds')
  // Keep the load on until the Sentinel has turned the old master into a replica: a client still
  // connected to it would now get READONLY.
  const demoted = await pollUntil(async () => (await before.admin.call('ROLE').catch(() => ['?']) as string[])[0], (role) => role === 'slave', { timeoutMs: 20_000, intervalMs: 200 })
  t.equal(demoted, 'slave', 'the old master was demoted')
  await new Promise((resolve) => setTimeout(resolve, 500))
  running = false
  await load

  const statuses = (what: string) => [...new Set(seen.filter((entry) => entry.what === what).map(({ response }) => response.statusCode))].sort()
  t.ok(seen.length > 30, `${seen.length} requests during the failover`)
  t.same(seen.filter(({ response }) => response.statusCode >= 500 && response.statusCode !== 503).map(({ what, response }) => `${what}: ${response.body}`), [], 'no 500')
  t.ok(seen.filter(({ response }) => response.statusCode === 503).every(({ response }) => response.headers['retry-after'] === '1'), 'every 503 has Retry-After')
  t.ok(statuses('live').every((status) => status === 200 || status === 503), `the live token: ${statuses('live').join(', ')}`)
  t.same(statuses('gone').filter((status) => status !== 503), [401], `the logged-out token: ${statuses('gone').join(', ')}, never 200`)
  t.ok(statuses('write').every((status) => status === 201 || status === 503), `writes: ${statuses('write').join(', ')}`)

  for (const app of [one, two]) {
    t.equal(json(await me(app, gone.accessToken)).code, 'TOKEN_REVOKED', 'the token logged out before the failover stays refused')
    t.equal((await me(app, live.accessToken)).statusCode, 200)
  }
  t.equal((await one.inject({ method: 'POST', url: '/auth/logout', headers: bearer(live.accessToken) })).statusCode, 204, 'a logout after the failover')
  t.equal(json(await me(two, live.accessToken)).code, 'TOKEN_REVOKED', 'is seen by the other instance at once')
})
