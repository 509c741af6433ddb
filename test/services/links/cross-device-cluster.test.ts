/**
 * The cross-device pub/sub path on a real Redis Cluster (3 masters, test/stack/redis-cluster.ts):
 * two "instances" (each its own ioredis Cluster client, its service and its subscriber made with
 * `duplicate()`), sharing FerretDB and the SMTP sink. A request whose key lives on one master is
 * followed on instance A while instance B decides it; the script's PUBLISH on that master must
 * reach A's subscriber, which is connected to another master.
 *
 * The services are wired here the way plugins/app/services.ts and plugins/app/cross-device.ts wire
 * them, on the app's own cluster client, so a test can pick which master a request lands on; the
 * same flow through two whole app instances runs in test/topologies/ (core flows, every topology).
 */
import { randomBytes } from 'node:crypto'
import t from 'tap'
import { createFailureCeiling } from '../../../services/accounts/failure-ceiling.js'
import { createUserService } from '../../../services/accounts/users.js'
import { createAddressKeyer } from '../../../services/email/email-address.js'
import { createEmailThrottle } from '../../../services/email/email-throttle.js'
import { createSmtpMailer } from '../../../services/email/mailer.js'
import { createMetrics } from '../../../services/infrastructure/metrics.js'
import { duplicateClient } from '../../../services/infrastructure/redis-client.js'
import { redisKeys } from '../../../services/infrastructure/redis-keys.js'
import { createCrossDeviceService, type CrossDeviceOutcome } from '../../../services/links/cross-device.js'
import { createCrossDeviceEvents, type FinalStep } from '../../../services/links/cross-device-events.js'
import { createModels, ensureIndexes } from '../../../services/models/index.js'
import { createRevocationService } from '../../../services/sessions/revocation.js'
import { createSessionService } from '../../../services/sessions/sessions.js'
import { deriveKey } from '../../../services/tokens/token-crypto.js'
import { connectMongo } from '../../../plugins/external/mongoose.js'
import { connectRedis, createRedisClient } from '../../../plugins/external/redis.js'
import { approvalTokenFrom } from '../../cross-device.js'
import { uniqueEmail } from '../../helper.js'
import { startFerretDb } from '../../stack/ferretdb.js'
import { startRedisCluster, type ClusterNode } from '../../stack/redis-cluster.js'
import { startSmtpSink } from '../../stack/smtp-sink.js'

const [cluster, mongo, smtp] = await Promise.all([startRedisCluster(), startFerretDb(), startSmtpSink()])
t.teardown(async () => { await Promise.all([cluster.close(), mongo.close(), smtp.close()]) })

const clock = { now: Date.now }
const secret = randomBytes(32).toString('base64url')
const connection = await connectMongo({ MONGODB_URL: mongo.url.replace(/\/latchkey$/, `/latchkey_cluster_${process.pid}`), MONGODB_TIMEOUT: 2_000 })
t.teardown(async () => { await connection.close() })
const models = createModels(connection)
await ensureIndexes(models)

/** One app instance's worth of services on its own cluster connections. */
async function instance () {
  // The app's own client for a redis+cluster:// URL (plugins/external/redis.ts).
  const redis = createRedisClient({ REDIS_URL: cluster.url, REDIS_TIMEOUT: 500 })
  redis.on('error', () => {})
  await connectRedis(redis, cluster.url)
  const metrics = createMetrics()
  const users = createUserService({ models })
  const revocation = createRevocationService({ redis, models, clock, metrics, accessTokenTtl: 900, userCacheTtl: 600 })
  const sessions = createSessionService({
    models, revocation, clock, metrics, signAccessToken: (claims) => `jwt.${claims.jti}`, accessTokenTtl: 900, refreshTokenTtl: 3600, reuseGrace: 10
  })
  const service = createCrossDeviceService({
    redis,
    users,
    sessions,
    mailer: createSmtpMailer({ url: smtp.url, from: 'Latchkey <no-reply@localhost>', timeoutMs: 2_000 }),
    throttle: createEmailThrottle({ redis, cooldownSeconds: 0, hourlyLimit: 1_000 }),
    failureCeiling: createFailureCeiling({ redis, ceiling: 100, clock }),
    addressKey: createAddressKeyer(deriveKey(secret, 'latchkey address keys')),
    appUrl: 'http://latchkey.test',
    ttlSeconds: 900,
    clock,
    metrics
  })
  const subscriber = duplicateClient(redis)
  const events = createCrossDeviceEvents({ subscriber, channel: redisKeys.crossDeviceChannel, now: clock.now, recheckMs: 3_600_000 })
  const subscribed = await events.start(10_000)
  t.teardown(async () => { await events.shutdown(); await events.close(); redis.disconnect() })
  return { redis, service, events, subscribed }
}

/** Masters with a subscriber of our channel connected to them. */
async function subscriberNodes (): Promise<ClusterNode[]> {
  const counts = await Promise.all(cluster.nodes.map(async (node) => (await node.admin.pubsub('NUMSUB', redisKeys.crossDeviceChannel) as [string, number])[1]))
  return cluster.nodes.filter((_node, i) => counts[i]! > 0)
}

const a = await instance()
const b = await instance()

/** Follows a request on A until its final step. */
function followOnA (requestId: string, deviceSecret: string): Promise<CrossDeviceOutcome | FinalStep> {
  return new Promise((resolve) => {
    a.events.follow({
      requestId,
      check: async () => await a.service.outcome(requestId, deviceSecret, { claim: true, client: { userAgent: 'cluster test' } }),
      onFinal: resolve
    })
  })
}

t.test('a request decided on B (its key on one master) reaches the wait on A (subscriber on another master): approve, then deny', async (t) => {
  t.ok(a.subscribed && b.subscribed, 'both subscribers (duplicate() of a Cluster client) are subscribed')
  const subscribed = await subscriberNodes()
  t.ok(subscribed.length >= 1 && subscribed.length <= 2, `the two subscribers sit on ${subscribed.length} master(s)`)
  const subscriberPorts = subscribed.map((node) => node.port)

  // A request whose key lives on a master without a subscriber, so the message must cross the cluster bus.
  let ticket, email, owner
  for (let i = 0; i < 20; i++) {
    email = uniqueEmail('xd.cluster')
    ticket = await a.service.requestSignIn(email, { userAgent: 'Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0', ip: '192.0.2.10' })
    owner = await cluster.nodeFor(redisKeys.crossDeviceRequest(ticket.requestId))
    if (!subscriberPorts.includes(owner.port)) break
  }
  t.notOk(subscriberPorts.includes(owner!.port), `the request's key is on master ${owner!.port}, no subscriber there`)
  const token = approvalTokenFrom(await smtp.waitForMail(email!))

  const waiting = followOnA(ticket!.requestId, ticket!.deviceSecret)
  const decided = await b.service.decide(token, { kind: 'approve', choice: ticket!.matchNumber, name: 'Clustered' }, { userAgent: 'phone' })
  t.same(decided, { result: 'approved', signedIn: null }, 'approved on B')
  const outcome = await waiting
  t.match(outcome, { state: 'approved', signedIn: { user: { email, name: 'Clustered' }, accessToken: String, refreshToken: String } }, 'A heard it and claimed the session')
  t.same(await a.service.outcome(ticket!.requestId, ticket!.deviceSecret, { claim: true, client: {} }), { state: 'gone' }, 'exactly once')

  const second = uniqueEmail('xd.cluster.deny')
  const denyTicket = await a.service.requestSignIn(second, {})
  const denyToken = approvalTokenFrom(await smtp.waitForMail(second))
  const denied = followOnA(denyTicket.requestId, denyTicket.deviceSecret)
  t.same(await b.service.decide(denyToken, { kind: 'deny' }, {}), { result: 'denied' })
  t.same(await denied, { state: 'denied', reason: 'denied' })
})

t.test('50 parallel approvals split over both instances on the cluster: one approval', async (t) => {
  const email = uniqueEmail('xd.cluster.race')
  const ticket = await a.service.requestSignIn(email, {})
  const token = approvalTokenFrom(await smtp.waitForMail(email))
  const results = await Promise.all(Array.from({ length: 50 }, async (_, i) =>
    await (i % 2 === 0 ? a : b).service.decide(token, { kind: 'approve', choice: ticket.matchNumber, name: 'Racer' }, {})))
  t.equal(results.filter((r) => r.result === 'approved').length, 1)
  t.equal(results.filter((r) => r.result === 'answered').length, 49)
  const claims = await Promise.all(Array.from({ length: 50 }, async (_, i) =>
    await (i % 2 === 0 ? a : b).service.outcome(ticket.requestId, ticket.deviceSecret, { claim: true, client: {} })))
  t.equal(claims.filter((c) => c.state === 'approved').length, 1, 'one claim wins')
  t.equal(await models.Session.countDocuments({ method: 'cross-device' }), 2, 'one session from this race (plus the first test\'s)')
})
