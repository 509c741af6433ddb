import { randomBytes } from 'node:crypto'
import { Types } from 'mongoose'
import t from 'tap'
import { connectMongo } from '../../../plugins/external/mongoose.js'
import { createMetrics } from '../../../services/infrastructure/metrics.js'
import { redisKeys } from '../../../services/infrastructure/redis-keys.js'
import { createModels, ensureIndexes } from '../../../services/models/index.js'
import { insertOne } from '../../../services/models/insert.js'
import { createRevocationService, type AccessClaims } from '../../../services/sessions/revocation.js'
import { startFerretDb } from '../../stack/ferretdb.js'
import { startRedisServer } from '../../stack/redis-server.js'

/**
 * SPEC 4c (logout-all kills every session) when a sign-in races the logout: a session made just
 * before the logout's instant is revoked in MongoDB (createdAt <= the instant) whatever list of
 * sessions the caller had; its access token can carry the very second of the valid-after mark,
 * which valid-after alone lets through on a cache hit. The service is driven directly so the race
 * is exact: the logout is handed a list that misses the session (as a list read before the
 * session was made would), at a clock pinned to the second the token was issued in.
 */
const [redisServer, mongo] = await Promise.all([startRedisServer(), startFerretDb()])
t.teardown(async () => { await Promise.all([redisServer.close(), mongo.close()]) })
const redis = redisServer.admin
await redis.connect()
const connection = await connectMongo({ MONGODB_URL: mongo.url.replace(/latchkey$/, `race_${randomBytes(4).toString('hex')}`), MONGODB_TIMEOUT: 2_000 })
t.teardown(async () => { await connection.close() })
const models = createModels(connection)
await ensureIndexes(models)

/** A clock that stays inside one second (so iat == the valid-after second), moving by milliseconds. */
const second = Math.floor(Date.now() / 1000) * 1000
let ms = 100
const clock = { now: () => second + ms }
const revocation = createRevocationService({ redis, models, accessTokenTtl: 900, userCacheTtl: 600, clock, metrics: createMetrics() })

async function signedIn (userId: Types.ObjectId): Promise<AccessClaims> {
  const session = await insertOne(models.Session, {
    userId, refreshHash: randomBytes(32).toString('hex'), expiresAt: new Date(second + 3_600_000), lastUsedAt: new Date(clock.now()), method: 'otp', createdAt: new Date(clock.now())
  })
  const iat = Math.floor(clock.now() / 1000)
  return { sub: userId.toString(), sid: session._id.toString(), jti: randomBytes(12).toString('base64url'), iat, exp: iat + 900 }
}

t.test('a session the logout-all did not list still gets its mark, in Redis and in the journal', async (t) => {
  const userId = new Types.ObjectId()
  await insertOne(models.User, { _id: userId, email: `${userId.toString()}@example.com`, name: 'Race' })
  const listed = await signedIn(userId)
  ms = 200
  const racing = await signedIn(userId) // made after the list was read, before the logout's instant
  t.same(await revocation.checkAccessToken(racing), { id: userId.toString(), email: `${userId.toString()}@example.com`, name: 'Race', createdAt: (await models.User.findById(userId).lean())!.createdAt.toISOString() }, 'alive and cached before the logout')

  ms = 300
  await revocation.revoke({ kind: 'logout-all', userId: userId.toString(), sessionIds: [listed.sid] })

  t.equal(racing.iat, Number(await redis.get(redisKeys.validAfter(userId.toString()))), 'the token carries the valid-after second itself')
  t.equal(await redis.exists(redisKeys.cachedUser(userId.toString())), 1, 'the cached user is still there (a cache hit decides)')
  await t.rejects(revocation.checkAccessToken(racing), { code: 'TOKEN_REVOKED' }, 'the racing session is dead at once')
  await t.rejects(revocation.checkAccessToken(listed), { code: 'TOKEN_REVOKED' }, 'the listed one too')
  const entry = await models.Revocation.findOne({ userId, kind: 'logout-all' }).lean()
  t.same(entry!.sessionIds.map(String).sort(), [listed.sid, racing.sid].sort(), 'the journal names both, so a replay after a data loss marks both')

  await redis.flushall()
  ms = 400
  await revocation.checkMirror()
  t.equal(await redis.exists(redisKeys.revokedSession(userId.toString(), racing.sid)), 1, 'replayed after a flush')
})

t.test('a session made after the logout-all instant lives', async (t) => {
  const userId = new Types.ObjectId()
  await insertOne(models.User, { _id: userId, email: `${userId.toString()}@example.com`, name: 'After' })
  ms = 500
  const before = await signedIn(userId)
  ms = 600
  await revocation.revoke({ kind: 'logout-all', userId: userId.toString(), sessionIds: [before.sid] })
  ms = 700
  const after = await signedIn(userId)
  t.equal((await revocation.checkAccessToken(after)).id, userId.toString(), 'a sign-in after the logout is not caught by it')
  await t.rejects(revocation.checkAccessToken(before), { code: 'TOKEN_REVOKED' })
})
