/**
 * npm run bench: GET /auth/me on the real Latchkey app (real Redis and FerretDB) against a bare
 * Fastify route returning the same user JSON, alternated over several rounds in one run, each
 * figure a ratio to the bare route of the same round. Then the per-request cost in Redis round
 * trips and MongoDB commands, POST /auth/refresh and POST /auth/otp(+verify) latency, and how
 * fast a Bearer request fails when Redis hangs or is down.
 *
 * A third server, the same app with the verified-token cache off, shows what that cache buys; a
 * fourth, the bare route plus one auto-pipelined MGET, shows the floor set by the Redis round trip.
 * Two more serve many users: BENCH_USERS (10,000) distinct users, each with their own token, spread
 * over the connections (each token on one connection, every token in use), one server signing
 * with HS256 and one with EdDSA, each in the same rounds and compared with the same bare run.
 *
 * The last lines are the figures to quote: the share of the floor kept (latchkey / bare+MGET req/s
 * in the same rounds) with one warm token and with BENCH_USERS distinct tokens.
 *
 * Environment: BENCH_ROUNDS (5), BENCH_SECONDS (5 per server per round), BENCH_CONNECTIONS (50),
 * BENCH_WARMUP_SECONDS (3), BENCH_USERS (10000).
 */
import { redisCommandCounts } from '../test/counters.js'
import { fmt, http, latchkeyEnv, load, machine, median, percentile, pinSelf, signUp, signUpMany, spreadTokens, startServer, startStack, stats, table, type LoadResult, type Server } from './lib.js'

const rounds = Number(process.env.BENCH_ROUNDS ?? 5)
const seconds = Number(process.env.BENCH_SECONDS ?? 5)
const connections = Number(process.env.BENCH_CONNECTIONS ?? 50)
const warmup = Number(process.env.BENCH_WARMUP_SECONDS ?? 3)
const users = Number(process.env.BENCH_USERS ?? 10_000)

console.log(`Latchkey bench — ${new Date().toISOString()} — ${machine()}`)
console.log(pinSelf())
const stack = await startStack()
const servers: Server[] = []
try {
  const env = latchkeyEnv(stack) // both Latchkey servers share the database, Redis and JWT secret
  const latchkey = await startServer('latchkey', env)
  servers.push(latchkey)
  const session = await signUp(latchkey, stack, `bench.${process.pid}@example.com`)
  const me = await http('GET', `${latchkey.url}/auth/me`, undefined, { authorization: `Bearer ${session.accessToken}` })
  if (me.status !== 200) throw new Error(`/auth/me: ${me.status}`)
  const user = me.json as Record<string, string>
  const bare = await startServer('bare', { BENCH_USER_ID: user.id!, BENCH_USER_EMAIL: user.email!, BENCH_USER_NAME: user.name!, BENCH_USER_CREATED_AT: user.createdAt! })
  servers.push(bare)
  const bareRedis = await startServer('bare', { BENCH_USER_ID: user.id!, BENCH_USER_EMAIL: user.email!, BENCH_USER_NAME: user.name!, BENCH_USER_CREATED_AT: user.createdAt!, BENCH_REDIS_URL: stack.redis.url })
  servers.push(bareRedis)
  const bareBody = (await http('GET', `${bare.url}/auth/me`)).json
  if (JSON.stringify(bareBody) !== JSON.stringify(user)) throw new Error('bare route does not return the same JSON')

  const noCache = await startServer('latchkey', { ...env, BENCH_NO_TOKEN_CACHE: '1' })
  servers.push(noCache)

  // Many users: one server per algorithm, each with its own distinct users and tokens.
  const many = new Map<'HS256' | 'EdDSA', { server: Server, spread: ReturnType<typeof spreadTokens> }>()
  for (const algorithm of ['HS256', 'EdDSA'] as const) {
    // A database of its own: FerretDB scans collections, so 20,000 more sessions would slow the
    // single-user server's cache misses (measured below) to MongoDB timeouts.
    const server = await startServer('latchkey', { ...env, JWT_ALGORITHM: algorithm, MONGODB_URL: `${env.MONGODB_URL}_many_${algorithm}` })
    servers.push(server)
    const started = performance.now()
    const tokens = (await signUpMany(server, stack, users, `many.${algorithm}.${process.pid}`)).map((signedIn) => signedIn.accessToken)
    const spread = spreadTokens(tokens, connections)
    // First request of each user fills its Redis cache from MongoDB: done once here, not measured.
    const first = await load({ url: server.url, connections, amount: tokens.length, ...spread })
    if (first.non2xx > 0) throw new Error(`${algorithm} many-user warm-up: ${JSON.stringify(first.statusCodes)}`)
    console.log(`${fmt(users)} users signed in and each token used once on the ${algorithm} server in ${fmt((performance.now() - started) / 1000, 1)} s`)
    many.set(algorithm, { server, spread })
  }

  const headers = { authorization: `Bearer ${session.accessToken}` }
  // Every server gets the same request, Authorization header included (the bare routes ignore it).
  const run = async (server: Server, duration: number): Promise<LoadResult> =>
    await load({ url: `${server.url}/auth/me`, connections, duration, headers })

  // ---------------------------------------------------------------- throughput
  console.log(`\n## GET /auth/me, ${connections} connections, ${rounds} rounds × ${seconds} s per server (warm-up ${warmup} s each), order rotated each round`)
  console.log('Latchkey path: security-header hook (CORS only when CORS_ORIGINS is set), the MongoDB budget (AsyncLocalStorage), per-instance Bearer')
  console.log('limiter (in memory), JWT check, one Redis MGET (blacklist, session mark, valid-after, cached user, disabled mark), metrics and')
  console.log('log onResponse hooks; logger at warn. "no cache" = the same app')
  console.log('with the verified-token cache turned off (full JWT verification on every request). "bare+MGET" = the bare route plus')
  console.log('one auto-pipelined 5-key MGET per request: the floor any Latchkey build pays for checking revocation on every request.')
  for (const server of [bare, latchkey, noCache, bareRedis]) await run(server, warmup)
  for (const { server, spread } of many.values()) await load({ url: server.url, connections, duration: warmup, ...spread })
  const rows: string[][] = []
  const manyRows: string[][] = []
  const manyRatios = { HS256: [] as number[], EdDSA: [] as number[] }
  // Share of the floor kept: Latchkey's req/s over bare+MGET's in the same round.
  const floorShares = { single: [] as number[], HS256: [] as number[], EdDSA: [] as number[] }
  const ratios: number[] = []
  const noCacheRatios: number[] = []
  const bareRedisRatios: number[] = []
  const p99s: number[] = []
  let non2xx = 0
  let fivexx = 0
  let errors = 0
  for (let round = 1; round <= rounds; round++) {
    const order = [bare, latchkey, noCache, bareRedis]
    for (let shift = 0; shift < (round - 1) % 4; shift++) order.push(order.shift()!)
    const results = new Map<Server, LoadResult>()
    for (const server of order) results.set(server, await run(server, seconds))
    const manyOrder = round % 2 === 1 ? (['HS256', 'EdDSA'] as const) : (['EdDSA', 'HS256'] as const)
    for (const algorithm of manyOrder) {
      const { server, spread } = many.get(algorithm)!
      results.set(server, await load({ url: server.url, connections, duration: seconds, ...spread }))
    }
    const [b, l, n, r] = [results.get(bare)!, results.get(latchkey)!, results.get(noCache)!, results.get(bareRedis)!]
    const [hs, ed] = [results.get(many.get('HS256')!.server)!, results.get(many.get('EdDSA')!.server)!]
    manyRatios.HS256.push(hs.rps / b.rps)
    manyRatios.EdDSA.push(ed.rps / b.rps)
    floorShares.single.push(l.rps / r.rps)
    floorShares.HS256.push(hs.rps / r.rps)
    floorShares.EdDSA.push(ed.rps / r.rps)
    for (const x of [hs, ed]) { non2xx += x.non2xx; fivexx += x.status5xx; errors += x.errors + x.timeouts }
    manyRows.push([String(round), fmt(b.rps), fmt(hs.rps), `${hs.p50}/${hs.p99}`, fmt(hs.rps / b.rps, 3), fmt(ed.rps), `${ed.p50}/${ed.p99}`, fmt(ed.rps / b.rps, 3)])
    bareRedisRatios.push(r.rps / b.rps)
    ratios.push(l.rps / b.rps)
    noCacheRatios.push(n.rps / b.rps)
    p99s.push(l.p99)
    for (const x of [b, l, n, r]) { non2xx += x.non2xx; fivexx += x.status5xx; errors += x.errors + x.timeouts }
    rows.push([String(round), fmt(b.rps), `${b.p50}/${b.p99}`, fmt(l.rps), `${l.p50}/${l.p99}`, fmt(l.rps / b.rps, 3), fmt(n.rps / b.rps, 3), fmt(r.rps / b.rps, 3)])
  }
  console.log(table(['round', 'bare req/s', 'bare p50/p99 ms', 'latchkey req/s', 'latchkey p50/p99 ms', 'ratio', 'no-cache ratio', 'bare+MGET ratio'], rows))
  const medianRatio = median(ratios)
  const p99 = Math.max(...p99s)
  console.log(`median ratio to bare: ${fmt(medianRatio, 3)}  (target ≥ 0.60); without the verified-token cache: ${fmt(median(noCacheRatios), 3)}; bare+MGET: ${fmt(median(bareRedisRatios), 3)}`)
  console.log(`latchkey p99: median ${fmt(median(p99s), 1)} ms, worst round ${p99} ms (target ≤ 10 ms); non-2xx: ${non2xx}, 5xx: ${fivexx}, socket errors/timeouts: ${errors}`)
  console.log(`\n## GET /auth/me with ${fmt(users)} distinct users and tokens over ${connections} connections, same rounds (ratios to that round's bare run)`)
  console.log(table(['round', 'bare req/s', 'HS256 req/s', 'HS256 p50/p99 ms', 'HS256 ratio', 'EdDSA req/s', 'EdDSA p50/p99 ms', 'EdDSA ratio'], manyRows))
  console.log(`median ratio to bare (${fmt(users)} distinct tokens, HS256): ${fmt(median(manyRatios.HS256), 3)}`)
  console.log(`median ratio to bare (${fmt(users)} distinct tokens, EdDSA): ${fmt(median(manyRatios.EdDSA), 3)}`)

  // ---------------------------------------------------------------- cost per request
  const sequential = 500
  const authed = async (): Promise<void> => {
    const response = await fetch(`${latchkey.url}/auth/me`, { headers })
    await response.arrayBuffer()
    if (response.status !== 200) throw new Error(`/auth/me ${response.status}`)
  }
  await authed()
  const redisBefore = await redisCommandCounts(stack.redis.admin)
  const { mongoCommands: mongoBefore, mongoByName: mongoNamesBefore } = await stats(latchkey)
  for (let i = 0; i < sequential; i++) await authed()
  const { mongoCommands: mongoAfter, mongoByName: mongoNamesAfter } = await stats(latchkey)
  const mongoDelta = Object.fromEntries(Object.entries(mongoNamesAfter).map(([name, n]) => [name, n - (mongoNamesBefore[name] ?? 0)]).filter(([, n]) => Number(n) > 0))
  const redisAfter = await redisCommandCounts(stack.redis.admin)
  const redisDelta: Record<string, number> = {}
  for (const [name, calls] of redisAfter) { const added = calls - (redisBefore.get(name) ?? 0); if (added > 0) redisDelta[name] = added }
  const redisTotal = Object.values(redisDelta).reduce((a, b) => a + b, 0)
  console.log(`\n## Cost per authenticated request (cache hit), ${sequential} sequential GET /auth/me`)
  console.log(`Redis commands (INFO commandstats delta): ${JSON.stringify(redisDelta)} → ${fmt(redisTotal / sequential, 3)} per request (target 1; the data-loss watch adds one SET NX every 10 s, outside requests)`)
  console.log(`MongoDB commands (driver command monitoring): ${mongoAfter - mongoBefore} ${JSON.stringify(mongoDelta)} → ${fmt((mongoAfter - mongoBefore) / sequential, 3)} per request (target 0; the events pass`)
  console.log('reads the outbox and the webhook schedule once a second whether requests come or not; the suite counts per request and finds none: test/routes/auth/sessions.test.ts, test/topologies/core-flows.ts)')
  // A miss, for contrast: the cached user dropped, the next request rebuilds the user's marks.
  await stack.redis.admin.del(`lk:u{${user.id!.slice(-4)}}${user.id!}`)
  const missRedis = await redisCommandCounts(stack.redis.admin)
  const missMongo = (await stats(latchkey)).mongoCommands
  await authed()
  const missMongoAfter = await stats(latchkey)
  const missRedisAfter = await redisCommandCounts(stack.redis.admin)
  const missDelta: Record<string, number> = {}
  for (const [name, calls] of missRedisAfter) { const added = calls - (missRedis.get(name) ?? 0); if (added > 0) missDelta[name] = added }
  console.log(`cache miss (one request, for contrast): Redis ${JSON.stringify(missDelta)}, MongoDB ${missMongoAfter.mongoCommands - missMongo} commands`)

  // ---------------------------------------------------------------- refresh
  const refreshes = 200
  let refreshToken = session.refreshToken
  const refreshMs: number[] = []
  for (let i = 0; i < refreshes; i++) {
    const answer = await http('POST', `${latchkey.url}/auth/refresh`, { refreshToken })
    if (answer.status !== 200) throw new Error(`refresh: ${answer.status} ${JSON.stringify(answer.json)}`)
    refreshMs.push(answer.ms)
    refreshToken = answer.json.refreshToken
  }
  console.log(`\n## POST /auth/refresh, ${refreshes} sequential rotations (each token used once)`)
  console.log(`p50 ${fmt(percentile(refreshMs, 50), 2)} ms, p99 ${fmt(percentile(refreshMs, 99), 2)} ms`)

  // ---------------------------------------------------------------- OTP
  console.log('\n## POST /auth/otp + POST /auth/otp/verify (local SMTP sink; verify signs a new address up)')
  const probe = await http('POST', `${latchkey.url}/auth/otp`, { email: `otp.probe.${process.pid}@example.com` })
  if (probe.status === 404) {
    console.log('skipped: this build has no /auth/otp routes yet')
  } else {
    const codes = 50
    const sendMs: number[] = []
    const verifyMs: number[] = []
    for (let i = 0; i < codes; i++) {
      const email = `otp.${process.pid}.${i}@example.com`
      const sent = await http('POST', `${latchkey.url}/auth/otp`, { email })
      if (sent.status !== 202) throw new Error(`otp: ${sent.status} ${JSON.stringify(sent.json)}`)
      sendMs.push(sent.ms)
      const mail = await stack.smtp.waitForMail(email)
      const code = /\b(\d{6})\b/.exec(mail.text ?? '')?.[1]
      if (code === undefined) throw new Error('no code in email')
      const verified = await http('POST', `${latchkey.url}/auth/otp/verify`, { email, code, name: 'Bench Code' })
      if (verified.status !== 200) throw new Error(`otp/verify: ${verified.status} ${JSON.stringify(verified.json)}`)
      verifyMs.push(verified.ms)
    }
    console.log(`POST /auth/otp (includes SMTP delivery to the sink), ${codes} sequential: p50 ${fmt(percentile(sendMs, 50), 2)} ms, p99 ${fmt(percentile(sendMs, 99), 2)} ms`)
    console.log(`POST /auth/otp/verify (new account: user + session written), ${codes} sequential: p50 ${fmt(percentile(verifyMs, 50), 2)} ms, p99 ${fmt(percentile(verifyMs, 99), 2)} ms`)
  }

  // ---------------------------------------------------------------- Redis down
  console.log('\n## Redis unavailable: GET /auth/me with a valid token (target 503 within 1 s)')
  stack.redis.pause()
  const hung = await http('GET', `${latchkey.url}/auth/me`, undefined, headers)
  stack.redis.resume()
  console.log(`redis-server frozen (SIGSTOP): ${hung.status} in ${fmt(hung.ms, 0)} ms`)
  await stack.redis.stop()
  const down = await http('GET', `${latchkey.url}/auth/me`, undefined, headers)
  console.log(`redis-server stopped: ${down.status} in ${fmt(down.ms, 0)} ms`)
  await stack.redis.start()
  let back = 0
  const since = performance.now()
  while (back !== 200 && performance.now() - since < 10_000) {
    back = (await http('GET', `${latchkey.url}/auth/me`, undefined, headers)).status
    if (back !== 200) await new Promise((resolve) => setTimeout(resolve, 100))
  }
  console.log(`after restart (empty Redis, state rebuilt from MongoDB): ${back} within ${fmt(performance.now() - since, 0)} ms`)

  // ---------------------------------------------------------------- the figures to quote
  const shares = (values: number[]): string => `${fmt(median(values), 3)} (rounds ${values.map((v) => fmt(v, 2)).join(' ')})`
  console.log('\n## Share of the floor kept: latchkey req/s / bare+MGET req/s, same rounds (targets ≥ 0.85 one token, ≥ 0.80 many)')
  console.log(`one warm token:                         ${shares(floorShares.single)}`)
  console.log(`${fmt(users)} distinct tokens, HS256:  ${shares(floorShares.HS256)}`)
  console.log(`${fmt(users)} distinct tokens, EdDSA:  ${shares(floorShares.EdDSA)}`)
} finally {
  for (const server of servers) await server.stop()
  await stack.close()
}
