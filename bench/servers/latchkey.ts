/**
 * The real Latchkey app (app.ts with the server's own Fastify options), configured from the
 * environment exactly as server.ts is, listening on a random port. Adds one bench-only route,
 * GET /__bench/stats (MongoDB commands the driver sent so far, process memory), registered
 * outside the app and exempt from rate limiting so reading it changes no Redis counter.
 * BENCH_NO_TOKEN_CACHE=1 turns the verified-token cache off (every request verifies the JWT).
 * Prints {"port": N} on stdout once listening.
 */
import Fastify from 'fastify'
import app, { serverOptions } from '../../app.js'
import { toPublicUser } from '../../services/accounts/users.js'
import { loadConfig } from '../../services/infrastructure/config.js'
import { redisKeys } from '../../services/infrastructure/redis-keys.js'
import { hashToken, randomToken } from '../../services/tokens/token-crypto.js'
import { allocation } from './allocation.js'

const config = loadConfig(process.env)
const server = Fastify(serverOptions(config))
await server.register(app, { config })

// BENCH_NO_TOKEN_CACHE=1: every request pays full JWT verification (the A/B for the cache).
if (process.env.BENCH_NO_TOKEN_CACHE === '1') server.verifiedTokens.get = () => undefined

let mongoCommands = 0
const byName: Record<string, number> = {}
server.get('/__bench/stats', { config: { rateLimit: false } }, async () => ({ mongoCommands, mongoByName: byName, memory: process.memoryUsage(), cpu: process.cpuUsage(), allocation: allocation() }))
// Many distinct users at once, as the flows would leave them: users and sessions inserted in bulk
// (one command each: FerretDB on SQLite scans instead of using indexes, so 10,000 cache misses would
// take minutes), an access token per session from the real signer, and each user's Redis entry
// written exactly as the first request's rebuild writes it for a user with nothing revoked.
server.post<{ Body: { count: number, label: string } }>('/__bench/sign-in-many', { config: { rateLimit: false } }, async (request) => {
  const { count, label } = request.body
  const { User, Session } = server.mongo.models
  const now = Date.now()
  const users = await User.insertMany(Array.from({ length: count }, (_, i) => ({ email: `${label}.${i}@example.com`, name: `Bench User ${i}` })))
  const sessions = await Session.insertMany(users.map((user) => ({
    userId: user._id,
    refreshHash: hashToken(randomToken()),
    expiresAt: new Date(now + config.REFRESH_TOKEN_TTL * 1000),
    lastUsedAt: new Date(now),
    method: 'magic-link' as const
  })))
  for (let i = 0; i < users.length; i += 500) { // chunks: each stays far inside REDIS_TIMEOUT
    const write = server.redis.multi()
    for (const user of users.slice(i, i + 500)) write.set(redisKeys.cachedUser(user._id.toString()), JSON.stringify(toPublicUser(user)), 'EX', config.USER_CACHE_TTL)
    await write.exec()
  }
  const tokens = sessions.map((session) => server.accessTokens.sign({ sub: session.userId.toString(), sid: session._id.toString(), jti: randomToken(12) }))
  return { tokens }
})
await server.ready()
server.mongo.connection.getClient().on('commandStarted', (event: { commandName: string }) => {
  mongoCommands++
  byName[event.commandName] = (byName[event.commandName] ?? 0) + 1
})

await server.listen({ port: 0, host: '127.0.0.1' })
const address = server.server.address()
process.stdout.write(`${JSON.stringify({ port: typeof address === 'object' && address !== null ? address.port : 0 })}\n`)
process.on('SIGTERM', () => { void server.close().then(() => process.exit(0)) })
