/**
 * npm run bench:memory: Redis memory per blacklisted access token, per live one-time code and
 * per live magic link (INFO memory used_memory before/after 100,000 entries written exactly as
 * the services write them, on a fresh redis-server), then GET /auth/me throughput with 0 vs
 * 1,000,000 blacklisted tokens (each condition as a ratio to a bare Fastify route measured
 * alongside it, so machine noise cancels).
 *
 * Environment: MEMORY_ENTRIES (100000), BLACKLIST_FILL (1000000), BENCH_ROUNDS (3),
 * BENCH_SECONDS (5), BENCH_CONNECTIONS (50).
 */
import { randomBytes } from 'node:crypto'
import { Types } from 'mongoose'
import type { Redis } from 'ioredis'
import { createAddressKeyer } from '../services/email-address.js'
import type { Metrics } from '../services/metrics.js'
import type { Models } from '../services/models/index.js'
import { redisKeys } from '../services/redis-keys.js'
import { createRevocationService } from '../services/revocation.js'
import { hashToken, hmac, randomCode, randomToken } from '../services/token-crypto.js'
import { startRedisServer } from '../test/stack/redis-server.js'
import { fmt, latchkeyEnv, load, machine, median, pinSelf, signUp, startServer, startStack, table, type LoadResult, type Server } from './lib.js'

const entries = Number(process.env.MEMORY_ENTRIES ?? 100_000)
const fill = Number(process.env.BLACKLIST_FILL ?? 1_000_000)
const rounds = Number(process.env.BENCH_ROUNDS ?? 3)
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

    // revokeAccessToken also marks the session; with one session per user that mark is shared
    // by all of that session's tokens, so it is measured separately and subtracted.
    const sessionsOnly = await perEntry(redis, userIds.length, async (i) => { await revocation.revokeSessions(userIds[i]!, [sessionId]) })
    const blacklist = await perEntry(redis, entries, async (i) => {
      const claims = { sub: userIds[i % userIds.length]!, sid: sessionId, jti: randomToken(12), iat: Math.floor(now / 1000), exp: Math.floor(now / 1000) + accessTokenTtl }
      await redis.set(redisKeys.revokedToken(claims.sub, claims.jti), '1', 'PX', claims.exp * 1000 - now)
    })
    const sample = redisKeys.revokedToken(userIds[0]!, randomToken(12))
    await revocation.revokeAccessToken({ sub: userIds[0]!, sid: sessionId, jti: sample.slice(-16), iat: Math.floor(now / 1000), exp: Math.floor(now / 1000) + accessTokenTtl })
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
const stack = await startStack()
const servers: Server[] = []
try {
  const latchkey = await startServer('latchkey', latchkeyEnv(stack))
  servers.push(latchkey)
  const session = await signUp(latchkey, stack, `memory.${process.pid}@example.com`)
  const user = session.user as Record<string, string>
  const bare = await startServer('bare', { BENCH_USER_ID: user.id!, BENCH_USER_EMAIL: user.email!, BENCH_USER_NAME: user.name!, BENCH_USER_CREATED_AT: user.createdAt! })
  servers.push(bare)
  const headers = { authorization: `Bearer ${session.accessToken}` }
  const run = async (server: Server, duration = seconds): Promise<LoadResult> =>
    await load({ url: `${server.url}/auth/me`, connections, duration, headers }) // same request for both; bare ignores the header

  const measure = async (label: string): Promise<{ ratio: number, rps: number, p99: number, non2xx: number }> => {
    await run(bare, 2); await run(latchkey, 2)
    const ratios: number[] = []; const rps: number[] = []; const p99: number[] = []; let non2xx = 0
    for (let round = 0; round < rounds; round++) {
      const [b, l] = round % 2 === 0 ? [await run(bare), await run(latchkey)] : (([x, y]) => [y, x])([await run(latchkey), await run(bare)]) as [LoadResult, LoadResult]
      ratios.push(l.rps / b.rps); rps.push(l.rps); p99.push(l.p99); non2xx += l.non2xx
    }
    console.log(`${label}: ratios ${ratios.map((r) => fmt(r, 3)).join(', ')}`)
    return { ratio: median(ratios), rps: median(rps), p99: median(p99), non2xx }
  }

  console.log(`\n## GET /auth/me with 0 vs ${fmt(fill)} blacklisted tokens (${rounds} rounds × ${seconds} s, ${connections} connections, ratio to bare in the same round)`)
  const empty = await measure('0 blacklisted')
  // Mass insert server-side (Lua, 100k per call): keys shaped like the app's (lk:b{tag}<16-char jti>), TTL 15 min.
  const started = performance.now()
  const chunk = 100_000
  for (let from = 0; from < fill; from += chunk) {
    await stack.redis.admin.eval(`
      for i = tonumber(ARGV[1]), tonumber(ARGV[2]) do
        redis.call('SET', 'lk:b{' .. string.format('%04x', i % 65536) .. '}' .. string.format('%016d', i), '1', 'PX', 900000)
      end
      return 1`, 0, from, Math.min(fill, from + chunk) - 1)
  }
  const keys = await stack.redis.admin.dbsize()
  console.log(`filled ${fmt(fill)} blacklist entries in ${fmt((performance.now() - started) / 1000, 1)} s (dbsize ${fmt(keys)}, used_memory ${fmt(await usedMemory(stack.redis.admin) / 1e6, 1)} MB)`)
  const full = await measure(`${fmt(fill)} blacklisted`)
  console.log(table(['blacklist', 'median req/s', 'median p99 ms', 'median ratio to bare', 'non-2xx'], [
    ['empty', fmt(empty.rps), fmt(empty.p99, 1), fmt(empty.ratio, 3), String(empty.non2xx)],
    [fmt(fill), fmt(full.rps), fmt(full.p99, 1), fmt(full.ratio, 3), String(full.non2xx)]
  ]))
  const change = (full.ratio / empty.ratio - 1) * 100
  console.log(`change with ${fmt(fill)} entries: ${change >= 0 ? '+' : ''}${fmt(change, 1)}% (target: within ±5%)`)
} finally {
  for (const server of servers) await server.stop()
  await stack.close()
}
