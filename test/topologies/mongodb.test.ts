import t from 'tap'
import { bearer, buildApp, freshDatabaseUrl, json, signUp, startStack } from '../helper.js'

/**
 * MongoDB by connection string. A replica set cannot run here (FerretDB has none), so this proves
 * what the driver is asked to do: with a URL that prefers secondaries and w=1, the reads that
 * decide revocation and refresh rotation (the revocation journal and the Redis shard watermarks
 * included) still go to the primary and every write asks for a majority. (Step-down errors answering 503: dependency-states.test.ts.)
 */
const stack = await startStack(t)

t.test('the reads that decide revocation and rotation go to the primary, whatever the URL prefers', async (t) => {
  const app = await buildApp(t, stack, { MONGODB_URL: `${freshDatabaseUrl(stack)}?readPreference=secondaryPreferred&w=1` })
  const reads: Array<{ collection: string, method: string, readPreference: unknown }> = []
  app.mongo.connection.set('debug', (collection: string, method: string, ...args: unknown[]) => {
    if (/^find|^count|^aggregate|^distinct/.test(method)) {
      const options = args.find((arg, i) => i > 0 && typeof arg === 'object' && arg !== null && 'readPreference' in arg) as { readPreference?: unknown } | undefined
      reads.push({ collection, method, readPreference: options?.readPreference })
    }
  })

  const first = await signUp(app, stack)
  const rotated = json(await app.inject({ method: 'POST', url: '/auth/refresh', payload: { refreshToken: first.refreshToken } }))
  t.equal((await app.inject({ method: 'POST', url: '/auth/refresh', payload: { refreshToken: first.refreshToken } })).statusCode, 200, 'the grace path reads the rotation record')
  await app.redis.flushall() // the next request rebuilds the revocation state from MongoDB
  t.equal((await app.inject({ method: 'GET', url: '/auth/me', headers: bearer(rotated.accessToken) })).statusCode, 200)
  t.equal((await app.inject({ method: 'POST', url: '/auth/logout-all', headers: bearer(rotated.accessToken) })).statusCode, 204)
  const other = await signUp(app, stack)
  t.equal((await app.inject({ method: 'GET', url: '/todos', headers: bearer(other.accessToken) })).statusCode, 200)
  // The data-loss watch's pass reads the revocation journal and the shard watermarks.
  await app.redis.flushall()
  await app.revocation.checkMirror()

  const decisive = reads.filter(({ collection }) => ['users', 'sessions', 'refreshrotations', 'revocations', 'redis_shards'].includes(collection))
  t.ok(decisive.length >= 5, `${decisive.length} reads of users, sessions, rotation records, the revocation journal and shard watermarks (${[...new Set(decisive.map(({ collection, method }) => `${collection}.${method}`))].join(', ')})`)
  for (const collection of ['revocations', 'redis_shards']) t.ok(decisive.some((read) => read.collection === collection), `${collection} is read`)
  t.same(decisive.filter(({ readPreference }) => readPreference !== 'primary'), [], 'every one of them from the primary')
  t.same(reads.filter(({ collection }) => collection === 'todos').map(({ readPreference }) => readPreference), [undefined], 'todos follow the connection string')
})
