/**
 * The baseline: a bare Fastify route answering GET /auth/me with the same user JSON (same
 * response schema, so the same fast-json-stringify serializer) as Latchkey, and nothing else:
 * no auth, no hooks, no plugins, logger off. Prints {"port": N} on stdout once listening.
 */
import Fastify from 'fastify'
import { createRedisClient, connectRedis } from '../../plugins/external/redis.js'
import { PublicUser } from '../../routes/schemas.js'
import { allocation } from './allocation.js'

const user = {
  id: process.env.BENCH_USER_ID ?? '6740f0c2a1b2c3d4e5f60718',
  email: process.env.BENCH_USER_EMAIL ?? 'bench@example.com',
  name: process.env.BENCH_USER_NAME ?? 'Bench User',
  createdAt: process.env.BENCH_USER_CREATED_AT ?? new Date().toISOString()
}

const server = Fastify({ logger: false })
const redisUrl = process.env.BENCH_REDIS_URL
if (redisUrl === undefined) {
  server.get('/auth/me', { schema: { response: { 200: PublicUser } } }, async () => user)
} else {
  const redis = createRedisClient({ REDIS_URL: redisUrl, REDIS_TIMEOUT: 500 })
  await connectRedis(redis, redisUrl)
  // As many keys as Latchkey's one MGET (cached user, valid-after, session, token, disabled mark).
  const keys = ['bench:u{0001}a', 'bench:v{0001}a', 'bench:s{0001}a', 'bench:b{0001}a', 'bench:d{0001}a']
  server.get('/auth/me', { schema: { response: { 200: PublicUser } } }, async () => {
    await redis.mget(...keys)
    return user
  })
  server.addHook('onClose', async () => { redis.disconnect() })
}
server.get('/__bench/stats', async () => ({ memory: process.memoryUsage(), cpu: process.cpuUsage(), allocation: allocation() }))
await server.listen({ port: 0, host: '127.0.0.1' })
const address = server.server.address()
process.stdout.write(`${JSON.stringify({ port: typeof address === 'object' && address !== null ? address.port : 0 })}\n`)
process.on('SIGTERM', () => { void server.close().then(() => process.exit(0)) })
