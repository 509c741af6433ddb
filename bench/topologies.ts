/**
 * Fault behaviour on the distributed Redis topologies, and the cross-instance Bearer limit, timed
 * (the test suite asserts the same behaviour with generous bounds; the figures live here):
 *
 * 1. Redis Cluster (3 masters, no replicas, cluster-node-timeout 2 s): one master stopped → time
 *    until its users get 503, what everyone gets once the cluster is marked failed, and the time
 *    from the restart until every user and /ready answer 200 again.
 * 2. Sentinel (master, replica, one Sentinel): SENTINEL FAILOVER under continuous requests from
 *    two instances → how long clients saw errors, what they saw, when both were on the new master.
 * 3. RATE_LIMIT_BEARER over 10 instances: requests let through, and Redis commands per request.
 *
 * `npm run bench:topologies` (about a minute; not run by CI). Apps run in this process (inject).
 */
import { randomBytes } from 'node:crypto'
import Fastify, { type FastifyInstance, type LightMyRequestResponse } from 'fastify'
import app, { serverOptions } from '../app.js'
import { loadConfig } from '../services/infrastructure/config.js'
import { redisKeys } from '../services/infrastructure/redis-keys.js'
import { redisCommandsDuring } from '../test/counters.js'
import { startFerretDb } from '../test/stack/ferretdb.js'
import { startRedisCluster } from '../test/stack/redis-cluster.js'
import { startRedisSentinel } from '../test/stack/redis-sentinel.js'
import { startSmtpSink } from '../test/stack/smtp-sink.js'
import { machine, sleep } from './lib.js'

const [mongo, smtp] = await Promise.all([startFerretDb(), startSmtpSink()])
let databases = 0
const apps: FastifyInstance[] = []
const jwtSecret = randomBytes(32).toString('base64url') // one secret: instances accept each other's tokens

async function startApp (redisUrl: string, extra: Record<string, string> = {}, database = `latchkey_topologies_${++databases}`): Promise<FastifyInstance> {
  const config = loadConfig({
    NODE_ENV: 'production',
    LOG_LEVEL: 'silent',
    APP_URL: 'http://latchkey.bench',
    REDIS_URL: redisUrl,
    MONGODB_URL: mongo.url.replace(/\/latchkey$/, `/${database}`),
    SMTP_URL: smtp.url,
    JWT_SECRET: jwtSecret,
    EMAIL_COOLDOWN: '0',
    RATE_LIMIT_GLOBAL: '100000000',
    RATE_LIMIT_BEARER: '100000000',
    RATE_LIMIT_AUTH: '100000000',
    RATE_LIMIT_AUTH_TOTAL: '100000000',
    ...extra
  })
  const fastify = Fastify(serverOptions(config))
  await fastify.register(app, { config })
  await fastify.ready()
  apps.push(fastify)
  return fastify
}

let users = 0
async function signUp (target: FastifyInstance): Promise<{ id: string, accessToken: string }> {
  const email = `topology.${process.pid}.${++users}@example.com`
  await target.inject({ method: 'POST', url: '/auth/magic-link', payload: { email } })
  for (let i = 0; i < 100 && !smtp.inbox(email).length; i++) await sleep(20)
  const token = /token=([A-Za-z0-9_-]+)/.exec(smtp.inbox(email)[0]?.text ?? '')![1]
  const response = await target.inject({ method: 'POST', url: `/auth/signup?token=${token}`, payload: { email, name: 'Bench' } })
  const body = response.json()
  return { id: body.user.id, accessToken: body.accessToken }
}

const me = async (target: FastifyInstance, accessToken: string) =>
  await target.inject({ method: 'GET', url: '/auth/me', headers: { authorization: `Bearer ${accessToken}` } })
const code = (response: LightMyRequestResponse): string => `${response.statusCode}${response.statusCode >= 400 ? ` ${response.json().code as string}` : ''}`
const tally = (labels: string[]): string => Object.entries(labels.reduce<Record<string, number>>((counts, label) => ({ ...counts, [label]: (counts[label] ?? 0) + 1 }), {})).map(([label, n]) => `${label} ×${n}`).join(', ')

console.log(`# Latchkey on Redis Cluster and Sentinel — ${machine()}\n`)

// ---- 1. Redis Cluster: a master stops ---------------------------------------------------------
{
  const cluster = await startRedisCluster({ nodeTimeoutMs: 2_000 })
  const node = await startApp(cluster.url)
  const signedUp = []
  for (let i = 0; i < 12; i++) signedUp.push(await signUp(node))
  const owners = await Promise.all(signedUp.map(async (user) => await cluster.nodeFor(redisKeys.cachedUser(user.id))))
  const victimNode = cluster.nodes[0]!
  const victims = signedUp.filter((_, i) => owners[i] === victimNode)
  const others = signedUp.filter((_, i) => owners[i] !== victimNode)
  for (const user of signedUp) await me(node, user.accessToken)

  console.log('## Redis Cluster, 3 masters, no replicas, cluster-node-timeout 2000 ms, REDIS_TIMEOUT 500 ms')
  console.log(`${signedUp.length} users: ${victims.length} on the master that is stopped, ${others.length} on the two others`)
  const stoppedAt = performance.now()
  await victimNode.stop()
  const firstAnswers = await Promise.all(victims.map(async (user) => { const started = performance.now(); const response = await me(node, user.accessToken); return { label: code(response), ms: performance.now() - started } }))
  console.log(`its users, first request after the stop: ${tally(firstAnswers.map(({ label }) => label))}; answered in ${firstAnswers.map(({ ms }) => ms.toFixed(0)).join(', ')} ms`)
  console.log(`users on the other masters meanwhile: ${tally(await Promise.all(others.map(async (user) => code(await me(node, user.accessToken)))))}`)
  console.log(`/ready: ${code(await node.inject({ method: 'GET', url: '/ready' }))} — ${(await node.inject({ method: 'GET', url: '/ready' })).json().message as string}`)
  await cluster.waitForState('fail')
  const failedAfter = performance.now() - stoppedAt
  const whenDown = await Promise.all(signedUp.map(async (user) => { const started = performance.now(); const response = await me(node, user.accessToken); return { label: code(response), ms: performance.now() - started } }))
  console.log(`cluster_state:fail ${(failedAfter / 1000).toFixed(1)} s after the stop; every user then: ${tally(whenDown.map(({ label }) => label))}, slowest answer ${Math.max(...whenDown.map(({ ms }) => ms)).toFixed(0)} ms`)

  const restartedAt = performance.now()
  await victimNode.start()
  let servedMs = 0
  let readyMs = 0
  while (servedMs === 0 || readyMs === 0) {
    const now = performance.now() - restartedAt
    if (servedMs === 0 && (await Promise.all(signedUp.map(async (user) => (await me(node, user.accessToken)).statusCode))).every((status) => status === 200)) servedMs = now
    if (readyMs === 0 && (await node.inject({ method: 'GET', url: '/ready' })).statusCode === 200) readyMs = now
    if (now > 30_000) break
    await sleep(50)
  }
  console.log(`after the restart: every user 200 again after ${servedMs.toFixed(0)} ms, /ready 200 after ${readyMs.toFixed(0)} ms (the master came back empty; its users were rebuilt from MongoDB)`)

  const admins = cluster.nodes.map((clusterNode) => clusterNode.admin)
  const user = signedUp[0]!
  const commands = await redisCommandsDuring(admins, async () => { for (let i = 0; i < 200; i++) await me(node, user.accessToken) })
  console.log(`cached GET /auth/me on the cluster, 200 sequential: Redis commands over all masters ${JSON.stringify(commands)}\n`)
  await node.close()
  await cluster.close()
}

// ---- 2. Sentinel: SENTINEL FAILOVER under load ------------------------------------------------
{
  const sentinel = await startRedisSentinel()
  const database = `latchkey_topologies_${++databases}`
  const [one, two] = [await startApp(sentinel.url, {}, database), await startApp(sentinel.url, {}, database)]
  const user = await signUp(one)
  const seen: Array<{ at: number, label: string, what: string }> = []
  let running = true
  const origin = performance.now()
  const load = (async () => {
    // eslint-disable-next-line no-unmodified-loop-condition -- set to false when the measurement ends
    for (let i = 0; running; i++) {
      const target = i % 2 === 0 ? one! : two!
      const [read, write] = await Promise.all([
        me(target, user.accessToken),
        target.inject({ method: 'POST', url: '/todos', headers: { authorization: `Bearer ${user.accessToken}` }, payload: { title: `t${i}` } })
      ])
      const at = performance.now() - origin
      seen.push({ at, label: code(read), what: 'read' }, { at, label: code(write), what: 'write' })
      await sleep(5)
    }
  })()
  await sleep(500)
  const commandAt = performance.now() - origin
  const { to } = await sentinel.failover()
  const promotedAt = performance.now() - origin
  let bothOnNew = 0
  while (bothOnNew === 0 && performance.now() - origin < commandAt + 20_000) {
    const ports = await Promise.all([one!, two!].map(async (target) => Number(/tcp_port:(\d+)/.exec(await target.redis.info('server').catch(() => ''))?.[1] ?? 0)))
    if (ports.every((port) => port === to)) bothOnNew = performance.now() - origin
    else await sleep(20)
  }
  const { replica: old } = await sentinel.roles()
  while ((await old.admin.call('ROLE').catch(() => ['?']) as string[])[0] !== 'slave') await sleep(200)
  const demotedAt = performance.now() - origin
  await sleep(500)
  running = false
  await load
  const failures = seen.filter(({ label }) => !label.startsWith('2'))
  console.log('## Sentinel: master + replica + 1 Sentinel (down-after 1000 ms), 2 app instances, requests every ~5 ms')
  console.log(`SENTINEL FAILOVER sent at ${(commandAt / 1000).toFixed(2)} s; replica promoted and named by the Sentinel at ${(promotedAt / 1000).toFixed(2)} s; both instances on the new master at ${(bothOnNew / 1000).toFixed(2)} s; old master demoted at ${(demotedAt / 1000).toFixed(2)} s`)
  console.log(`${seen.length} requests: ${tally(seen.map(({ label, what }) => `${what} ${label}`))}`)
  if (failures.length > 0) console.log(`errors seen from ${(failures[0]!.at / 1000).toFixed(2)} s to ${(failures.at(-1)!.at / 1000).toFixed(2)} s (${(failures.at(-1)!.at - failures[0]!.at).toFixed(0)} ms)\n`)
  else console.log('no errors seen\n')
  await Promise.all([one!, two!].map(async (instance) => await instance.close()))
  await sentinel.close()
}

// ---- 3. RATE_LIMIT_BEARER over 10 instances ---------------------------------------------------
{
  const { startRedisServer } = await import('../test/stack/redis-server.js')
  const redis = await startRedisServer()
  await redis.admin.connect()
  console.log('## RATE_LIMIT_BEARER over 10 instances behind round-robin, one client IP')
  const rows: string[] = []
  for (const [limit, requests, parallel] of [[20, 200, 1], [400, 800, 80], [3_000, 6_000, 100]] as const) {
    await redis.admin.flushall()
    const database = `latchkey_topologies_${++databases}`
    const instances: FastifyInstance[] = []
    for (let i = 0; i < 10; i++) instances.push(await startApp(redis.url, { RATE_LIMIT_BEARER: String(limit) }, database))
    const user = await signUp(instances[0]!)
    let allowed = 0
    const commands = await redisCommandsDuring(redis.admin, async () => {
      for (let sent = 0; sent < requests; sent += parallel) {
        const responses = await Promise.all(Array.from({ length: parallel }, async (_, i) => await me(instances[(sent + i) % 10]!, user.accessToken)))
        allowed += responses.filter((response) => response.statusCode === 200).length
      }
    })
    const scripts = (commands.evalsha ?? 0) + (commands.eval ?? 0)
    rows.push(`limit ${limit}/min, ${requests} requests in bursts of ${parallel}: ${allowed} allowed (${((allowed / limit - 1) * 100).toFixed(1)}% over the limit); Redis: ${commands.mget ?? 0} MGET (revocation checks of allowed requests) + ${scripts} limiter scripts = ${(scripts / requests).toFixed(3)} limiter commands per request`)
    await Promise.all(instances.map(async (instance) => await instance.close()))
  }
  console.log(rows.join('\n'))
  console.log('(per-instance counting, before: 10 × the limit)\n')
  await redis.close()
}

await Promise.all(apps.map(async (instance) => await instance.close().catch(() => {})))
await Promise.all([mongo.close(), smtp.close()])
