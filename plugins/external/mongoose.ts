import fp from 'fastify-plugin'
import mongoose, { type Connection } from 'mongoose'
import { describeMongoUrl, type Config } from '../../services/infrastructure/config.js'
import { createModels, ensureIndexes, type Models } from '../../services/models/index.js'

declare module 'fastify' {
  interface FastifyInstance {
    mongo: { connection: Connection, models: Models }
  }
}

/**
 * One mongoose connection per app instance. Bounded everywhere: no command buffering while
 * disconnected, MONGODB_TIMEOUT on server selection and on every operation, so a MongoDB outage
 * is a quick 503 rather than a hung request.
 *
 * MONGODB_URL is any standard connection string (one host, a replica set's host list with
 * `replicaSet=`, `mongodb+srv://`, options). Whatever it says, writes are acknowledged by a
 * majority of the replica set (a revocation that only the old primary saw would be rolled back
 * by a failover), bounded by MONGODB_TIMEOUT; the models that decide revocation and refresh
 * rotation read from the primary (services/models, `read: 'primary'`). The driver retries a
 * read or write once across a primary change (retryReads/retryWrites, on by default).
 */
export async function connectMongo (config: Pick<Config, 'MONGODB_URL' | 'MONGODB_TIMEOUT'>): Promise<Connection> {
  const connection = mongoose.createConnection(config.MONGODB_URL, {
    bufferCommands: false,
    autoIndex: false,
    // Collections are made by ensureIndexes (createIndexes); autoCreate is refused with a non-primary readPreference in the URL.
    autoCreate: false,
    serverSelectionTimeoutMS: config.MONGODB_TIMEOUT,
    connectTimeoutMS: config.MONGODB_TIMEOUT,
    socketTimeoutMS: Math.max(5_000, config.MONGODB_TIMEOUT * 2),
    heartbeatFrequencyMS: 2_000,
    maxPoolSize: 50,
    // Options given here win over the same options in MONGODB_URL.
    writeConcern: { w: 'majority', wtimeoutMS: config.MONGODB_TIMEOUT },
    // Command events let tests and the bench count MongoDB queries per request.
    monitorCommands: true
  })
  try {
    await connection.asPromise()
  } catch (error) {
    await connection.close().catch(() => {})
    throw new Error(`MongoDB at ${describeMongoUrl(config.MONGODB_URL)} is unreachable: ${(error as Error).message}`)
  }
  return connection
}

export default fp(async function mongoosePlugin (fastify) {
  const connection = await connectMongo(fastify.config)
  fastify.addHook('onClose', async () => { await connection.close() })
  const models = createModels(connection)
  const { ttlIndexes } = await ensureIndexes(models)
  if (!ttlIndexes) fastify.log.info('MongoDB server has no TTL indexes; ended sessions are kept, not removed')
  fastify.decorate('mongo', { connection, models })
}, { name: 'mongoose', dependencies: ['config'] })
