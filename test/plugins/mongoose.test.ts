import Fastify from 'fastify'
import t from 'tap'
import configPlugin from '../../plugins/app/config.js'
import mongoosePlugin, { connectMongo } from '../../plugins/external/mongoose.js'
import { failedDependency } from '../../services/infrastructure/dependency-errors.js'
import { loadConfig } from '../../services/infrastructure/config.js'
import { pollUntil } from '../poll.js'
import { freePort } from '../stack/ports.js'
import { startFerretDb } from '../stack/ferretdb.js'

const server = await startFerretDb()
t.teardown(async () => { await server.close() })
const configFor = (url: string) => loadConfig({ JWT_SECRET: 'x'.repeat(32), SMTP_URL: 'smtp://127.0.0.1:1', MONGODB_URL: url, MONGODB_TIMEOUT: '500', LOG_LEVEL: 'silent' })

t.test('decorates models on its own connection, builds the unique indexes, closes', async (t) => {
  const app = Fastify()
  await app.register(configPlugin, { config: configFor(server.url.replace(/latchkey$/, 'plugin_test')) })
  await app.register(mongoosePlugin)
  await app.ready()
  const indexes = await app.mongo.models.User.collection.indexes()
  t.ok(indexes.some((index) => index.unique === true && index.key.email === 1), 'unique email index')
  const sessionIndexes = await app.mongo.models.Session.collection.indexes()
  t.ok(sessionIndexes.some((index) => index.unique === true && index.key.refreshHash === 1), 'unique refresh-hash index')
  await app.close()
  t.equal(app.mongo.connection.readyState, 0, 'disconnected')
})

t.test('operations fail within MONGODB_TIMEOUT while the server is down, and work again after', async (t) => {
  const connection = await connectMongo(configFor(server.url.replace(/latchkey$/, 'plugin_test2')))
  t.teardown(async () => { await connection.close() })
  const things = connection.collection('things')
  await things.insertOne({ n: 1 })

  await server.stop()
  const started = Date.now()
  const error = await things.findOne({ n: 1 }).then(() => null, (e: Error) => e)
  t.ok(error, 'the query fails')
  t.equal(failedDependency(error), 'mongodb', `recognised as a MongoDB outage (${error?.name}: ${error?.message} ${(error as NodeJS.ErrnoException | null)?.code ?? ''})`)
  t.ok(Date.now() - started < 2_000, `within ${Date.now() - started} ms`)

  await server.start()
  const found = await pollUntil(async () => await things.findOne({ n: 1 }).catch(() => null), (doc) => doc !== null, { timeoutMs: 10_000, intervalMs: 50 })
  t.ok(found, 'reconnected by itself')
})

t.test('an unreachable MongoDB at boot is one clear error without credentials', async (t) => {
  const port = await freePort()
  const error = await connectMongo(configFor(`mongodb://user:s3cret@127.0.0.1:${port}/x`)).then(() => null, (e: Error) => e)
  t.match(error?.message, `MongoDB at mongodb://127.0.0.1:${port}/x is unreachable`)
  t.notOk(error?.message.includes('s3cret'))
})

t.test('a replica set that cannot be reached is one clear error naming its hosts, without credentials', async (t) => {
  const [a, b] = [await freePort(), await freePort()]
  const url = `mongodb://app:s3cret@127.0.0.1:${a},127.0.0.1:${b}/latchkey?replicaSet=rs0&authSource=admin`
  const error = await connectMongo(configFor(url)).then(() => null, (e: Error) => e)
  t.match(error?.message, `MongoDB at mongodb://127.0.0.1:${a},127.0.0.1:${b}/latchkey is unreachable`)
  t.notOk(error?.message.includes('s3cret'))
})

t.test('MONGODB_URL options do not weaken writes: majority, bounded by MONGODB_TIMEOUT', async (t) => {
  const connection = await connectMongo(configFor(`${server.url.replace(/latchkey$/, 'plugin_test3')}?w=1&readPreference=secondaryPreferred`))
  t.teardown(async () => { await connection.close() })
  const writes: unknown[] = []
  connection.getClient().on('commandStarted', (event) => { if (event.commandName === 'insert') writes.push(event.command.writeConcern) })
  await connection.collection('things').insertOne({ n: 1 })
  t.same(writes, [{ w: 'majority', wtimeout: 500 }], 'the insert asked for a majority, whatever the URL said')
})
