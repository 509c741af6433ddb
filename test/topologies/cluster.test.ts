import t from 'tap'
import { redisKeys } from '../../services/infrastructure/redis-keys.js'
import { bearer, buildApp, json, pollUntil, signUp, startStack, timed, uniqueEmail, type SignedInUser } from '../helper.js'
import { startRedisCluster, type ClusterNode } from '../stack/redis-cluster.js'
import { coreFlows, me } from './core-flows.js'

/**
 * A 3-master Redis Cluster (REDIS_URL=redis+cluster://…): the core flows across two instances,
 * then a master stopped and started again.
 */
const stack = await startStack(t)
const cluster = await startRedisCluster({ nodeTimeoutMs: 2_000 })
t.teardown(async () => { await cluster.close() })

await coreFlows(t, stack, cluster.url, async () => cluster.nodes.map((node) => node.admin))

t.test('a plain redis:// URL naming one cluster node: a boot warning, /ready 503 naming it', async (t) => {
  const node = `127.0.0.1:${cluster.ports[0]}`
  const lines: string[] = []
  const app = await buildApp(t, stack, { REDIS_URL: `redis://${node}`, LOG_LEVEL: 'warn' }, { logStream: { write: (line) => { lines.push(line) } } })
  const warning = lines.map((line) => JSON.parse(line) as { msg: string }).find(({ msg }) => msg.includes('Redis Cluster node'))
  t.match(warning?.msg, `Redis at redis://${node} is a Redis Cluster node: use redis+cluster://`, `warned at boot: ${warning?.msg}`)

  const { result: ready, ms } = await timed(async () => await app.inject({ method: 'GET', url: '/ready' }))
  t.equal(ready.statusCode, 503, '/ready is 503')
  t.same(json(ready).checks, { redis: 'failed', mongodb: 'ok' })
  t.equal(json(ready).message, 'Not ready: Redis', 'it names the dependency only')
  t.match(lines.join('\n'), `${node} is a Redis Cluster node: use redis+cluster://`, 'the log names the problem')
  t.ok(ms < 2_000, `answered in ${Math.round(ms)} ms`)
})

t.test('a master stops: its users get 503 within ~1 s, never 500; /ready says which; all recovers', async (t) => {
  const lines: string[] = []
  const app = await buildApp(t, stack, { REDIS_URL: cluster.url, EMAIL_COOLDOWN: '0', LOG_LEVEL: 'warn' }, { logStream: { write: (line) => { lines.push(line) } } })
  const nodeOf = async (user: SignedInUser): Promise<ClusterNode> => await cluster.nodeFor(redisKeys.cachedUser(user.user.id))

  // Users until one lives on the first master and one elsewhere (user ids spread over slots).
  const users: SignedInUser[] = []
  const owners: ClusterNode[] = []
  while (users.length < 30 && !(owners.some((node) => node === cluster.nodes[0]) && owners.some((node) => node !== cluster.nodes[0]))) {
    const user = await signUp(app, stack)
    users.push(user)
    owners.push(await nodeOf(user))
  }
  const victimNode = cluster.nodes[0]!
  const victim = users[owners.indexOf(victimNode)]!
  const survivor = users[owners.findIndex((node) => node !== victimNode)]!
  for (const user of [victim, survivor]) t.equal((await me(app, user.accessToken)).statusCode, 200, 'cached')
  // A second session of the victim, logged out before the outage.
  const loggedOut = await signUp(app, stack, uniqueEmail('logged-out'))
  const loggedOutNode = await nodeOf(loggedOut)
  t.equal((await app.inject({ method: 'POST', url: '/auth/logout', headers: bearer(loggedOut.accessToken) })).statusCode, 204)

  // Frozen first (SIGSTOP: connections stay open, nothing answers): bounded by REDIS_TIMEOUT.
  victimNode.pause()
  const frozen = await timed(async () => await me(app, victim.accessToken))
  victimNode.resume()
  t.equal(frozen.result.statusCode, 503, 'a frozen master: 503')
  t.ok(frozen.ms < 2_000, `answered in ${Math.round(frozen.ms)} ms`)
  t.equal((await me(app, victim.accessToken)).statusCode, 200, 'and served again once it answers')

  await victimNode.stop()
  let restarted = false
  t.teardown(async () => { if (!restarted) await victimNode.start() })

  for (const request of [
    { method: 'GET' as const, url: '/auth/me', headers: bearer(victim.accessToken) },
    { method: 'POST' as const, url: '/auth/logout', headers: bearer(victim.accessToken) },
    { method: 'POST' as const, url: '/todos', headers: bearer(victim.accessToken), payload: { title: 'lost?' } }
  ]) {
    const { result, ms } = await timed(async () => await app.inject(request))
    t.equal(result.statusCode, 503, `${request.method} ${request.url} of a user on the stopped master → 503`)
    t.equal(json(result).code, 'SERVICE_UNAVAILABLE')
    t.equal(result.headers['retry-after'], '1')
    t.ok(ms < 2_000, `answered in ${Math.round(ms)} ms`)
  }
  t.equal((await me(app, survivor.accessToken)).statusCode, 200, 'a user on another master is served')

  const ready = await app.inject({ method: 'GET', url: '/ready' })
  t.equal(ready.statusCode, 503, '/ready is 503 at once')
  t.same(json(ready).checks, { redis: 'failed', mongodb: 'ok' })
  t.equal(json(ready).message, 'Not ready: Redis', 'the response names the dependency only')
  t.match(lines.filter((line) => line.includes('"not ready"')).join('\n'), `master 127.0.0.1:${victimNode.port}`, 'the log names the master')

  const burst = await Promise.all([...users, victim, survivor].flatMap((user) => [
    app.inject({ method: 'GET', url: '/auth/me', headers: bearer(user.accessToken) }),
    app.inject({ method: 'POST', url: '/auth/magic-link', payload: { email: uniqueEmail('burst') } })
  ]))
  t.same(burst.filter((response) => response.statusCode >= 500 && response.statusCode !== 503).map((response) => response.body), [], 'no 500 in a burst over every user')

  await t.test('once the cluster marks the master failed, every user gets 503, never 500', async (t) => {
    await cluster.waitForState('fail')
    for (const user of [victim, survivor]) {
      const { result, ms } = await timed(async () => await me(app, user.accessToken))
      t.equal(result.statusCode, 503, `${user === victim ? 'victim' : 'survivor'} → 503 (${json(result).code})`)
      t.equal(result.headers['retry-after'], '1')
      t.ok(ms < 2_000, `answered in ${Math.round(ms)} ms`)
    }
    const link = await app.inject({ method: 'POST', url: '/auth/magic-link', payload: { email: uniqueEmail('down') } })
    t.equal(link.statusCode, 503, `a sign-in request → 503 (${json(link).code})`)
    const logout = await app.inject({ method: 'POST', url: '/auth/logout', headers: bearer(survivor.accessToken) })
    t.equal(logout.statusCode, 503, `a logout → 503 (${json(logout).code})`)
    const down = await app.inject({ method: 'GET', url: '/ready' })
    t.equal(down.statusCode, 503)
    t.match(lines.filter((line) => line.includes('"not ready"')).join('\n'), /state is fail/)
  })

  await victimNode.start()
  restarted = true
  await cluster.waitForState('ok')
  const back = await pollUntil(async () => await app.inject({ method: 'GET', url: '/ready' }), (response) => response.statusCode === 200, { timeoutMs: 10_000 })
  t.equal(back.statusCode, 200, `/ready recovers (${back.body})`)
  t.equal((await me(app, victim.accessToken)).statusCode, 200, 'the victim is served again (rebuilt from MongoDB: the master came back empty)')
  t.equal((await me(app, survivor.accessToken)).statusCode, 200)
  t.equal(json(await me(app, loggedOut.accessToken)).code, 'TOKEN_REVOKED', `the token logged out before the outage stays refused (its keys were on ${loggedOutNode === victimNode ? 'the stopped' : 'another'} master)`)
})
