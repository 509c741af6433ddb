import { randomBytes } from 'node:crypto'
import { Cluster } from 'ioredis'
import { Types } from 'mongoose'
import t from 'tap'
import { connectMongo } from '../../../plugins/external/mongoose.js'
import { createMetrics } from '../../../services/infrastructure/metrics.js'
import { redisKeys } from '../../../services/infrastructure/redis-keys.js'
import { listRedisShards } from '../../../services/infrastructure/redis-shards.js'
import { createModels, ensureIndexes } from '../../../services/models/index.js'
import { insertOne } from '../../../services/models/insert.js'
import { createRevocationService, type AccessClaims } from '../../../services/sessions/revocation.js'
import { startFerretDb } from '../../stack/ferretdb.js'
import { startRedisCluster, type ClusterNode } from '../../stack/redis-cluster.js'

/**
 * Issue 11.5 on a real 3-master Redis Cluster: each master has its own marker, a flush or an
 * empty restart of any one master is noticed on that shard alone, and its revocations come back
 * from the journal while the other shards are left alone. The service is driven directly with an
 * ioredis Cluster client (the app's cluster wiring is plugins/external/redis.ts's business).
 */
const [cluster, mongo] = await Promise.all([startRedisCluster(), startFerretDb()])
t.teardown(async () => { await Promise.all([cluster.close(), mongo.close()]) })

const redis = new Cluster(cluster.ports.map((port) => ({ host: '127.0.0.1', port })), {
  enableOfflineQueue: false,
  enableAutoPipelining: false,
  scaleReads: 'master',
  retryDelayOnFailover: 100,
  retryDelayOnClusterDown: 100,
  redisOptions: { commandTimeout: 1_000, maxRetriesPerRequest: 0 }
})
redis.on('error', () => {})
await new Promise<void>((resolve) => redis.once('ready', () => resolve()))
const connection = await connectMongo({ MONGODB_URL: mongo.url.replace(/latchkey$/, `shards_${randomBytes(4).toString('hex')}`), MONGODB_TIMEOUT: 2_000 })
t.teardown(async () => { redis.disconnect(); await connection.close() })
const models = createModels(connection)
await ensureIndexes(models)
const revocation = createRevocationService({ redis, models, accessTokenTtl: 900, userCacheTtl: 600, clock: { now: Date.now }, metrics: createMetrics() })

/** A user (with one live session) whose keys live on `node`. */
async function userOn (node: ClusterNode) {
  while (true) {
    const userId = new Types.ObjectId()
    if ((await cluster.nodeFor(redisKeys.cachedUser(userId.toString()))).port !== node.port) continue
    await insertOne(models.User, { _id: userId, email: `${userId.toString()}@example.com`, name: 'Shard' })
    const session = await insertOne(models.Session, { userId, refreshHash: randomBytes(32).toString('hex'), expiresAt: new Date(Date.now() + 3_600_000), lastUsedAt: new Date(), method: 'otp' })
    const now = Math.floor(Date.now() / 1000)
    const claims: AccessClaims = { sub: userId.toString(), sid: session._id.toString(), jti: randomBytes(12).toString('base64url'), iat: now, exp: now + 900 }
    return { node, claims }
  }
}

const markOf = async ({ claims }: { claims: AccessClaims }) => await redis.exists(redisKeys.revokedSession(claims.sub, claims.sid))
/** Whether the token is refused; retried while the cluster client reconnects to a restarted master. */
async function refused ({ claims }: { claims: AccessClaims }): Promise<boolean> {
  for (let attempt = 0; ; attempt++) {
    const outcome = await revocation.checkAccessToken(claims).then(() => false, (error: Error) => error)
    if (typeof outcome === 'boolean' || outcome.message.includes('revoked')) return outcome !== false
    if (attempt >= 50) throw outcome
    await new Promise((resolve) => setTimeout(resolve, 200))
  }
}

t.test('one marker per master, each in a slot the master owns', async (t) => {
  const shards = await listRedisShards(redis)
  t.same(shards.map((shard) => shard.id).sort(), cluster.ports.map((port) => `127.0.0.1:${port}`).sort(), 'a shard for each master')
  for (const shard of shards) {
    t.equal((await cluster.nodeFor(shard.markerKey)).port, Number(shard.id.split(':')[1]), `${shard.id}: its marker lives on it`)
  }
  const first = await revocation.checkMirror()
  t.ok(first.shards.every((shard) => shard.state === 'new'), 'first pass: new markers')
  t.ok((await revocation.checkMirror()).shards.every((shard) => shard.state === 'ok'), 'then all ok')
})

t.test('11.5: a flush or an empty restart of one master is noticed on that shard alone; its revocations come back, and hold meanwhile', async (t) => {
  const users = await Promise.all(cluster.nodes.map(userOn))
  for (const user of users) {
    t.equal(await refused(user), false, `${user.node.port}: alive and cached`)
    await revocation.revoke({ kind: 'logout', userId: user.claims.sub, sessionIds: [user.claims.sid], token: { jti: user.claims.jti, exp: user.claims.exp } })
    t.equal(await markOf(user), 1, `${user.node.port}: revoked, marked on its shard`)
  }
  t.ok((await revocation.checkMirror()).shards.every((shard) => shard.state === 'ok'))

  const [flushed, restarted] = users as [typeof users[0], typeof users[0]]
  for (const [how, user, lose] of [
    ['flush', flushed, async () => { await flushed.node.admin.flushall() }],
    ['empty restart', restarted, async () => { await restarted.node.stop(); await restarted.node.start(); await cluster.waitForState('ok') }]
  ] as const) {
    await lose()
    t.equal(await markOf(user), 0, `${how}: the mark is gone with the shard's data`)
    t.equal(await refused(user), true, `${how}: the token is still refused meanwhile (cache miss → rebuilt from MongoDB, SPEC 4b)`)
    await user.node.admin.flushall() // drop what that rebuild wrote, to see what the watch brings back
    const report = await pollUntilSettled()
    const states = Object.fromEntries(report.shards.map((shard) => [shard.id, shard.state]))
    t.same(states, Object.fromEntries(users.map((other) => [`127.0.0.1:${other.node.port}`, other === user ? 'lost' : 'ok'])), `${how}: only that shard is reported lost`)
    t.equal(await markOf(user), 1, `${how}: its revocation is back from the journal`)
    for (const other of users) t.equal(await markOf(other), 1, `${how}: every shard holds its marks`)
    t.ok((await revocation.checkMirror()).shards.every((shard) => shard.state === 'ok'), `${how}: the next pass finds every shard ok`)
  }
})

/** One pass, retried while the cluster is still settling after a restart (a pass then fails as a whole). */
async function pollUntilSettled () {
  for (let attempt = 0; ; attempt++) {
    try {
      return await revocation.checkMirror()
    } catch (error) {
      if (attempt >= 50) throw error
      await new Promise((resolve) => setTimeout(resolve, 200))
    }
  }
}
