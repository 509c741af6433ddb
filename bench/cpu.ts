/**
 * npm run bench:cpu: CPU time and heap allocation the server process spends per request
 * (process.cpuUsage and V8's allocation before and after a fixed number of requests), for the
 * bare route, the bare route plus one MGET (the floor: what any server checking revocation in Redis
 * on every request pays), and Latchkey with one warm token and with CPU_USERS distinct tokens. On
 * a machine shared with other jobs these move far less than req/s, because other processes
 * stealing the core do not add to our process's CPU time; they are the figures to compare two
 * builds with. Rounds alternate the servers.
 *
 * Environment: CPU_REQUESTS (100,000 per server per round), CPU_ROUNDS (3), CPU_CONNECTIONS (50),
 * CPU_ALGORITHM (HS256), CPU_USERS (10,000; 0 skips the many-token server), CPU_COMPARE
 * (`label=/path/to/checkout,...`: Latchkey servers of other builds, one token each, measured in the
 * same rounds: a bisect or an A/B runs them back to back), CPU_COMPARE_TOKENS (1: how many distinct
 * tokens each CPU_COMPARE server is loaded with), CPU_NO_TOKEN_CACHE (1: every Latchkey
 * server verifies the JWT on every request, BENCH_NO_TOKEN_CACHE; what signature checking costs).
 */
import { fmt, latchkeyEnv, load, machine, median, pinSelf, signUpMany, spreadTokens, startServer, startStack, stats, table, type Server } from './lib.js'

const amount = Number(process.env.CPU_REQUESTS ?? 100_000)
const rounds = Number(process.env.CPU_ROUNDS ?? 3)
const connections = Number(process.env.CPU_CONNECTIONS ?? 50)
const algorithm = process.env.CPU_ALGORITHM ?? 'HS256'
const users = Number(process.env.CPU_USERS ?? 10_000)
const compareTokens = Number(process.env.CPU_COMPARE_TOKENS ?? 1)
const compare = (process.env.CPU_COMPARE ?? '').split(',').filter(Boolean).map((item) => {
  const [label, path] = item.split('=')
  if (label === undefined || path === undefined) throw new Error(`CPU_COMPARE: "${item}" is not label=/path`)
  return { label, path }
})

console.log(`Latchkey CPU and allocation per request — ${new Date().toISOString()} — ${machine()}`)
console.log(pinSelf())
const stack = await startStack()
const servers: Server[] = []
try {
  const env = latchkeyEnv(stack, { JWT_ALGORITHM: algorithm, ...(process.env.CPU_NO_TOKEN_CACHE === '1' ? { BENCH_NO_TOKEN_CACHE: '1' } : {}) })
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
  for (const [i, { label, path }] of compare.entries()) {
    const server = await startServer('latchkey', { ...env, MONGODB_URL: `${env.MONGODB_URL}_compare_${i}` }, path)
    servers.push(server)
    const signedIn = await signUpMany(server, stack, compareTokens, `cpu.compare.${i}.${process.pid}`)
    targets.push({ name: `${label}, ${fmt(compareTokens)} token${compareTokens === 1 ? '' : 's'}`, server, spread: spreadTokens(signedIn.map(({ accessToken }) => accessToken), connections) })
  }
  for (const { server, spread } of targets) await load({ url: server.url, connections, amount: amount / 4, ...spread })
  const cpu = new Map<string, number[]>(targets.map(({ name }) => [name, []]))
  const kernel = new Map<string, number[]>(targets.map(({ name }) => [name, []]))
  const bytes = new Map<string, number[]>(targets.map(({ name }) => [name, []]))
  const rps = new Map<string, number[]>(targets.map(({ name }) => [name, []]))
  for (let round = 0; round < rounds; round++) {
    for (const { name, server, spread } of round % 2 === 0 ? targets : [...targets].reverse()) {
      const before = await stats(server)
      const started = performance.now()
      const result = await load({ url: server.url, connections, amount, ...spread })
      const seconds = (performance.now() - started) / 1000
      const after = await stats(server)
      if (result.non2xx > amount / 100) throw new Error(`${name}: ${JSON.stringify(result.statusCodes)}`)
      cpu.get(name)!.push((after.cpu.user + after.cpu.system - before.cpu.user - before.cpu.system) / amount)
      kernel.get(name)!.push((after.cpu.system - before.cpu.system) / amount)
      rps.get(name)!.push(amount / seconds) // autocannon's own average counts whole seconds
      if (before.allocation !== undefined && after.allocation !== undefined) bytes.get(name)!.push((after.allocation.bytes - before.allocation.bytes) / amount)
    }
  }
  const bareCpu = median(cpu.get('bare')!)
  const floorCpu = median(cpu.get('bare+MGET')!)
  const floorRps = median(rps.get('bare+MGET')!)
  console.log(`\n## server CPU µs and heap bytes allocated per GET /auth/me (${fmt(amount)} requests × ${rounds} rounds, ${connections} connections)`)
  console.log('"floor / this" is the share of the floor kept, in CPU: bare+MGET µs / this server\'s µs; "req/s / floor" the same share in')
  console.log('throughput (median req/s of the rounds over bare+MGET\'s), which moves with whatever else the machine runs.')
  console.log(table(['server', 'µs per request (rounds)', 'median µs', 'of which kernel', 'bytes per request', 'bare / this', 'floor / this', 'req/s', 'req/s / floor'], [...cpu].map(([name, values]) => [
    name,
    values.map((v) => fmt(v, 1)).join(' '),
    fmt(median(values), 1),
    fmt(median(kernel.get(name)!), 1),
    bytes.get(name)!.length === 0 ? 'n/a' : fmt(median(bytes.get(name)!)),
    fmt(bareCpu / median(values), 3),
    fmt(floorCpu / median(values), 3),
    fmt(median(rps.get(name)!)),
    fmt(median(rps.get(name)!) / floorRps, 3)
  ])))
} finally {
  for (const server of servers) await server.stop()
  await stack.close()
}
