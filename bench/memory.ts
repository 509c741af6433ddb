/**
 * npm run bench:memory: Redis memory per blacklisted access token, per live one-time code and
 * per live magic link (INFO memory used_memory before/after 100,000 entries written exactly as
 * the services write them, on a fresh redis-server), then GET /auth/me throughput with 0 vs
 * 1,000,000 blacklisted tokens (two Latchkey servers, one per redis-server, measured in turn in
 * every round; a bare Fastify route alongside for scale).
 *
 * Environment: MEMORY_ENTRIES (100000), BLACKLIST_FILL (1000000), BENCH_ROUNDS (5),
 * BENCH_SECONDS (5), BENCH_CONNECTIONS (50).
 */
import { randomBytes } from 'node:crypto'
import { Types } from 'mongoose'
import type { Redis } from 'ioredis'
import { createAddressKeyer } from '../services/email/email-address.js'
import type { Metrics } from '../services/infrastructure/metrics.js'
import type { Models } from '../services/models/index.js'
import { redisKeys } from '../services/infrastructure/redis-keys.js'
import { createRevocationService } from '../services/sessions/revocation.js'
import { hashToken, hmac, randomCode, randomToken } from '../services/tokens/token-crypto.js'
import { startRedisServer } from '../test/stack/redis-server.js'
import { fmt, latchkeyEnv, load, machine, median, pinSelf, signUp, startServer, startStack, table, type LoadResult, type Server } from './lib.js'

const entries = Number(process.env.MEMORY_ENTRIES ?? 100_000)
const fill = Number(process.env.BLACKLIST_FILL ?? 1_000_000)
const rounds = Number(process.env.BENCH_ROUNDS ?? 5)
const seconds = Number(process.env.BENCH_SECONDS ?? 5)
const connections = Number(process.env.BENCH_CONNECTIONS ?? 50)
const accessTokenTtl = 900

const usedMemory = async (redis: Redis): Promise<number> => Number(/^used_memory:(\d+)/m.exec(await redis.info('memory'))![1])

/** Writes `count` entries with `write` (in concurrent batches) and returns bytes per entry. */
async function perEntry (redis: Redis, count: number, write: (i: number) => Promise<unknown>): Promise<number> {
  await redis.flushall()
  const before = await usedMemory(redis)
  const batch = 1000
  for (let start = 0; start < count; start += batch) {
    const work: Array<Promise<unknown>> = []
    for (let i = start; i < Math.min(count, start + batch); i++) work.push(write(i))
    await Promise.all(work)
  }
  const keys = await redis.dbsize()
  if (keys !== count) throw new Error(`expected ${count} keys, found ${keys}`)
  return ((await usedMemory(redis)) - before) / count
}

console.log(`Latchkey memory bench — ${new Date().toISOString()} — ${machine()}`)
console.log(pinSelf())

// ------------------------------------------------------------------ memory per entry
{
  const server = await startRedisServer()
  const redis = server.admin
  await redis.connect()
  try {
    const now = Date.now()
    const clock = { now: () => now }
    const metrics = { inc: () => {}, observe: () => {} } as unknown as Metrics
    // The revocation service writes blacklist entries with Redis and the clock only.
    const revocation = createRevocationService({ redis, models: undefined as unknown as Models, accessTokenTtl, userCacheTtl: 600, clock, metrics })
    const userIds = Array.from({ length: 1000 }, () => new Types.ObjectId().toString())
    const sessionId = new Types.ObjectId().toString()

    // A logout also marks the session; with one session per user that mark is shared by all of
    // that session's tokens, so it is measured separately and subtracted.
    const sessionsOnly = await perEntry(redis, userIds.length, async (i) => { await revocation.mirrorRevocation({ kind: 'session', userId: userIds[i]!, sessionIds: [sessionId] }) })
    const blacklist = await perEntry(redis, entries, async (i) => {
      const claims = { sub: userIds[i % userIds.length]!, sid: sessionId, jti: randomToken(12), iat: Math.floor(now / 1000), exp: Math.floor(now / 1000) + accessTokenTtl }
      await redis.set(redisKeys.revokedToken(claims.sub, claims.jti), '1', 'PX', claims.exp * 1000 - now)
    })
    const sample = redisKeys.revokedToken(userIds[0]!, randomToken(12))
    await revocation.mirrorRevocation({ kind: 'logout', userId: userIds[0]!, sessionIds: [sessionId], token: { jti: sample.slice(-16), exp: Math.floor(now / 1000) + accessTokenTtl } })
    const sampleUsage = await redis.memory('USAGE', sample)

    const addressKey = createAddressKeyer(randomBytes(32))
    const codeKey = randomBytes(32)
    const otp = await perEntry(redis, entries, async (i) => {
      const address = addressKey(`person${i}@example.com`)
      const key = redisKeys.otp(address)
      // services/otp.ts storeScript: HSET h <HMAC> a 0 c <created ms>, PEXPIRE ttl.
      await redis.multi().hset(key, 'h', hmac(codeKey, `${address}\u0000${randomCode()}`), 'a', 0, 'c', now).pexpire(key, 600_000).exec()
    })
    const magicLink = await perEntry(redis, entries, async (i) => {
      // services/magic-link.ts requestMagicLink: JSON record under the token's SHA-256, EX ttl.
      const record = { email: `person${i}@example.com`, purpose: 'signup', createdAt: now, userId: new Types.ObjectId().toString() }
      await redis.set(redisKeys.magicLink(hashToken(randomToken())), JSON.stringify(record), 'EX', 900)
    })

    console.log(`\n## Redis memory per live entry (used_memory delta / ${fmt(entries)} entries, redis-server ${/redis_version:(\S+)/.exec(await redis.info('server'))![1]})`)
    console.log(table(['entry', 'key example', 'bytes/entry', 'target'], [
      ['blacklisted access token', `${sample} = "1" PX`, fmt(blacklist, 1), '≤ 120'],
      ['live one-time code (hash h/a/c)', `${redisKeys.otp(addressKey('a@example.com'))}`, fmt(otp, 1), ''],
      ['live magic link (JSON record)', `${redisKeys.magicLink(hashToken('x')).slice(0, 20)}…`, fmt(magicLink, 1), '']
    ]))
    console.log(`MEMORY USAGE of one blacklist key: ${sampleUsage} bytes (excludes the expires-table entry and the dict bucket). ` +
      `Session mark (once per revoked session, not per token): ${fmt(sessionsOnly, 1)} bytes.`)
  } finally {
    await server.close()
  }
}

// ------------------------------------------------------------------ /auth/me with a big blacklist
// Two Latchkey servers, same app, database and JWT secret, each on its own redis-server: one empty,
// one holding the blacklist. They are measured in turn inside every round (order rotated), so both
// conditions see the same machine noise; the figure is the paired ratio full/empty of each round.
const stack = await startStack()
const fullRedis = await startRedisServer()
await fullRedis.admin.connect()
const servers: Server[] = []
try {
  const env = latchkeyEnv(stack)
  // Mass insert server-side (Lua, 100k per call): keys shaped like the app's (lk:b{tag}<16-char jti>), TTL 15 min.
  const started = performance.now()
  const chunk = 100_000
  for (let from = 0; from < fill; from += chunk) {
    await fullRedis.admin.eval(`
      for i = tonumber(ARGV[1]), tonumber(ARGV[2]) do
        redis.call('SET', 'lk:b{' .. string.format('%04x', i % 65536) .. '}' .. string.format('%016d', i), '1', 'PX', 900000)
      end
      return 1`, 0, from, Math.min(fill, from + chunk) - 1)
  }
  console.log(`\n## GET /auth/me with 0 vs ${fmt(fill)} blacklisted tokens (${rounds} rounds × ${seconds} s per server, ${connections} connections, order rotated)`)
  console.log(`filled ${fmt(fill)} blacklist entries in ${fmt((performance.now() - started) / 1000, 1)} s (dbsize ${fmt(await fullRedis.admin.dbsize())}, used_memory ${fmt(await usedMemory(fullRedis.admin) / 1e6, 1)} MB)`)

  const empty = await startServer('latchkey', env)
  servers.push(empty)
  const full = await startServer('latchkey', { ...env, REDIS_URL: fullRedis.url })
  servers.push(full)
  const session = await signUp(empty, stack, `memory.${process.pid}@example.com`)
  const user = session.user as Record<string, string>
  const bare = await startServer('bare', { BENCH_USER_ID: user.id!, BENCH_USER_EMAIL: user.email!, BENCH_USER_NAME: user.name!, BENCH_USER_CREATED_AT: user.createdAt! })
  servers.push(bare)
  const headers = { authorization: `Bearer ${session.accessToken}` }
  const run = async (server: Server, duration = seconds): Promise<LoadResult> =>
    await load({ url: `${server.url}/auth/me`, connections, duration, headers }) // same request for all; bare ignores the header

  for (const server of [bare, empty, full]) await run(server, 2)
  const rows: string[][] = []
  const paired: number[] = []
  let non2xx = 0
  for (let round = 1; round <= rounds; round++) {
    const order = [bare, empty, full]
    for (let shift = 0; shift < (round - 1) % 3; shift++) order.push(order.shift()!)
    const results = new Map<Server, LoadResult>()
    for (const server of order) results.set(server, await run(server))
    const [b, e, f] = [results.get(bare)!, results.get(empty)!, results.get(full)!]
    non2xx += e.non2xx + f.non2xx
    paired.push(f.rps / e.rps)
    rows.push([String(round), fmt(b.rps), fmt(e.rps), `${e.p50}/${e.p99}`, fmt(e.rps / b.rps, 3), fmt(f.rps), `${f.p50}/${f.p99}`, fmt(f.rps / b.rps, 3), fmt(f.rps / e.rps, 3)])
  }
  console.log(table(['round', 'bare req/s', 'empty req/s', 'empty p50/p99', 'empty ratio', `${fmt(fill)} req/s`, `${fmt(fill)} p50/p99`, `${fmt(fill)} ratio`, 'full/empty'], rows))
  // Redis's own time per MGET on each server, immune to load-generator noise.
  const usecPerMget = async (redis: Redis): Promise<number> => Number(/^cmdstat_mget:.*usec_per_call=([\d.]+)/m.exec(await redis.info('commandstats'))?.[1] ?? NaN)
  console.log(`redis-server time per MGET (INFO commandstats usec_per_call): empty ${fmt(await usecPerMget(stack.redis.admin), 2)} µs, ${fmt(fill)} blacklisted ${fmt(await usecPerMget(fullRedis.admin), 2)} µs`)
  const change = (median(paired) - 1) * 100
  console.log(`median full/empty: ${fmt(median(paired), 3)} → ${change >= 0 ? '+' : ''}${fmt(change, 1)}% with ${fmt(fill)} blacklisted tokens (target: within ±5%); non-2xx: ${non2xx}`)
} finally {
  for (const server of servers) await server.stop()
  await fullRedis.close()
  await stack.close()
}
