/**
 * npm run bench:cpu: CPU time the server process spends per request (process.cpuUsage before and
 * after a fixed number of requests), for the bare route, the bare route plus one MGET, and
 * Latchkey (one token). On a machine shared with other jobs this moves far less
 * than req/s, because other processes stealing the core do not add to our process's CPU time;
 * it is the figure to compare two builds with. Rounds alternate the servers.
 *
 * Environment: CPU_REQUESTS (100,000 per server per round), CPU_ROUNDS (3), CPU_CONNECTIONS (50),
 * CPU_ALGORITHM (HS256), CPU_USERS (0: when set, a server with that many distinct users and tokens
 * spread over the connections is measured too).
 */
import { fmt, latchkeyEnv, load, machine, median, pinSelf, signUpMany, spreadTokens, startServer, startStack, stats, table, type Server } from './lib.js'

const amount = Number(process.env.CPU_REQUESTS ?? 100_000)
const rounds = Number(process.env.CPU_ROUNDS ?? 3)
const connections = Number(process.env.CPU_CONNECTIONS ?? 50)
const algorithm = process.env.CPU_ALGORITHM ?? 'HS256'
const users = Number(process.env.CPU_USERS ?? 0)

console.log(`Latchkey CPU per request — ${new Date().toISOString()} — ${machine()}`)
console.log(pinSelf())
const stack = await startStack()
const servers: Server[] = []
try {
  const env = latchkeyEnv(stack, { JWT_ALGORITHM: algorithm })
  const latchkey = await startServer('latchkey', env)
  servers.push(latchkey)
  const [one] = await signUpMany(latchkey, stack, 1)
  const bare = await startServer('bare')
  const bareMget = await startServer('bare', { BENCH_REDIS_URL: stack.redis.url })
  servers.push(bare, bareMget)
  const targets: Array<{ name: string, server: Server, spread: ReturnType<typeof spreadTokens> }> = [
    { name: 'bare', server: bare, spread: spreadTokens([one!.accessToken], connections) },
    { name: 'bare+MGET', server: bareMget, spread: spreadTokens([one!.accessToken], connections) },
    { name: `latchkey ${algorithm}, 1 token`, server: latchkey, spread: spreadTokens([one!.accessToken], connections) }
  ]
  if (users > 0) {
    const manyServer = await startServer('latchkey', { ...env, MONGODB_URL: `${env.MONGODB_URL}_many` })
    servers.push(manyServer)
    const tokens = (await signUpMany(manyServer, stack, users, `cpu.many.${process.pid}`)).map((signedIn) => signedIn.accessToken)
    targets.push({ name: `latchkey ${algorithm}, ${fmt(users)} tokens`, server: manyServer, spread: spreadTokens(tokens, connections) })
  }
  for (const { server, spread } of targets) await load({ url: server.url, connections, amount: amount / 4, ...spread })
  const perRequest = new Map<string, number[]>(targets.map(({ name }) => [name, []]))
  const systemShare = new Map<string, number[]>(targets.map(({ name }) => [name, []]))
  for (let round = 0; round < rounds; round++) {
    for (const { name, server, spread } of round % 2 === 0 ? targets : [...targets].reverse()) {
      const before = (await stats(server)).cpu
      const result = await load({ url: server.url, connections, amount, ...spread })
      const after = (await stats(server)).cpu
      if (result.non2xx > amount / 100) throw new Error(`${name}: ${JSON.stringify(result.statusCodes)}`)
      perRequest.get(name)!.push((after.user + after.system - before.user - before.system) / amount)
      systemShare.get(name)!.push((after.system - before.system) / amount)
    }
  }
  const bareMedian = median(perRequest.get('bare')!)
  console.log(`\n## server CPU µs per GET /auth/me (${fmt(amount)} requests × ${rounds} rounds, ${connections} connections)`)
  console.log(table(['server', 'µs per request (rounds)', 'median', 'of which kernel', 'bare / this'], [...perRequest].map(([name, values]) =>
    [name, values.map((v) => fmt(v, 1)).join(' '), fmt(median(values), 1), fmt(median(systemShare.get(name)!), 1), fmt(bareMedian / median(values), 3)])))
} finally {
  for (const server of servers) await server.stop()
  await stack.close()
}
