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
import { loadConfig } from '../../services/infrastructure/config.js'

const config = loadConfig(process.env)
const server = Fastify(serverOptions(config))
await server.register(app, { config })

// BENCH_NO_TOKEN_CACHE=1: every request pays full JWT verification (the A/B for the cache).
if (process.env.BENCH_NO_TOKEN_CACHE === '1') server.verifiedTokens.get = () => undefined

let mongoCommands = 0
const byName: Record<string, number> = {}
server.get('/__bench/stats', { config: { rateLimit: false } }, async () => ({ mongoCommands, mongoByName: byName, memory: process.memoryUsage(), cpu: process.cpuUsage() }))
// Many distinct users at once: the users are inserted directly, then each gets a real session and
// access token from the sessions service (the same signer as every sign-in flow).
server.post<{ Body: { count: number, label: string } }>('/__bench/sign-in-many', { config: { rateLimit: false } }, async (request) => {
  const { count, label } = request.body
  const { User } = server.mongo.models
  const users = await User.insertMany(Array.from({ length: count }, (_, i) => ({ email: `${label}.${i}@example.com`, name: `Bench User ${i}` })))
  const tokens: string[] = new Array(count)
  let next = 0
  await Promise.all(Array.from({ length: 20 }, async () => {
    while (next < count) {
      const i = next++
      tokens[i] = (await server.sessions.startSession(users[i]!._id.toString(), 'magic-link', {})).accessToken
    }
  }))
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
