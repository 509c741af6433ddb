/**
 * npm run bench:profile: where an authenticated request's CPU goes. Runs the real Latchkey server
 * (bench/servers/latchkey.ts) under `node --cpu-prof`, loads GET /auth/me for PROFILE_SECONDS (10)
 * with PROFILE_CONNECTIONS (50) connections, either one token or PROFILE_TOKENS distinct users'
 * tokens (spread over the connections), stops it, and sums the profile's self time by function
 * and by area (our code, Fastify, ioredis, node:http and sockets, GC, ...).
 *
 * PROFILE_SERVER=bare or bare-mget profiles a reference server instead (the bare route; the bare route
 * plus one 5-key MGET), so the areas can be compared with what any server pays.
 *
 * Environment: PROFILE_TOKENS (1), PROFILE_ALGORITHM (HS256), PROFILE_TOP (25), PROFILE_SERVER (latchkey).
 */
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fmt, latchkeyEnv, load, machine, pinSelf, signUpMany, spreadTokens, startServer, startStack, table } from './lib.js'

const seconds = Number(process.env.PROFILE_SECONDS ?? 10)
const connections = Number(process.env.PROFILE_CONNECTIONS ?? 50)
const tokens = Number(process.env.PROFILE_TOKENS ?? 1)
const algorithm = process.env.PROFILE_ALGORITHM ?? 'HS256'
const top = Number(process.env.PROFILE_TOP ?? 25)
const target = process.env.PROFILE_SERVER ?? 'latchkey'

interface ProfileNode { id: number, callFrame: { functionName: string, url: string, lineNumber: number }, children?: number[] }
interface Profile { nodes: ProfileNode[], samples: number[], timeDeltas: number[], startTime: number }

/** Which part of the stack a frame belongs to. */
function area (url: string, name: string): string {
  if (name === '(garbage collector)') return 'GC'
  if (name === '(idle)' || name === '(program)') return name
  if (url === '') return `native (${name})`
  if (url.startsWith('node:')) {
    if (/_http_|http/.test(url)) return 'node:http'
    if (/net|stream|internal\/streams/.test(url)) return 'node:net + streams'
    return 'node (other)'
  }
  const modules = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url)
  if (modules !== null) return modules[1]!
  const ours = /\/(app|plugins|routes|services|bench)\/|\/app\.ts/.exec(url)
  return ours !== null ? `latchkey ${ours[1] ?? 'app'}/` : url
}

console.log(`Latchkey profile — ${new Date().toISOString()} — ${machine()}`)
console.log(pinSelf())
const stack = await startStack()
const dir = mkdtempSync(join(tmpdir(), 'latchkey-profile-'))
try {
  const env = latchkeyEnv(stack, { JWT_ALGORITHM: algorithm })
  const setup = await startServer('latchkey', env)
  const sessions = await signUpMany(setup, stack, tokens)
  await setup.stop()
  process.env.BENCH_NODE_ARGS = `--cpu-prof --cpu-prof-dir=${dir}`
  const spawned = performance.now()
  const server = target === 'latchkey'
    ? await startServer('latchkey', env)
    : await startServer('bare', target === 'bare-mget' ? { BENCH_REDIS_URL: stack.redis.url } : {})
  delete process.env.BENCH_NODE_ARGS
  const spread = spreadTokens(sessions.map((session) => session.accessToken), connections)
  await load({ url: server.url, connections, duration: 3, ...spread })
  // Only the measured run counts: boot, module loading and the warm-up are cut off.
  const skipMicros = (performance.now() - spawned) * 1000
  const result = await load({ url: server.url, connections, duration: seconds, ...spread })
  await server.stop()
  console.log(`\n## ${target}: GET /auth/me, ${tokens} token(s), ${algorithm}, ${connections} connections, ${seconds} s (+3 s warm-up): ${fmt(result.rps)} req/s under --cpu-prof, non-2xx ${result.non2xx}`)

  const file = readdirSync(dir).find((name) => name.endsWith('.cpuprofile'))
  if (file === undefined) throw new Error('no profile written')
  const profile = JSON.parse(readFileSync(join(dir, file), 'utf8')) as Profile
  const byId = new Map(profile.nodes.map((node) => [node.id, node]))
  const selfByFunction = new Map<string, number>()
  const selfByArea = new Map<string, number>()
  let total = 0
  let elapsed = 0
  profile.samples.forEach((id, i) => {
    const node = byId.get(id)!
    const micros = profile.timeDeltas[i] ?? 0
    elapsed += micros
    if (elapsed < skipMicros) return
    const { functionName, url, lineNumber } = node.callFrame
    const name = `${functionName || '(anonymous)'} ${url.replace(/^.*node_modules\//, '').replace(/^file:\/\/.*?\/(?=(app|plugins|routes|services|bench)\b)/, '')}:${lineNumber + 1}`
    selfByFunction.set(name, (selfByFunction.get(name) ?? 0) + micros)
    const where = area(url, functionName)
    selfByArea.set(where, (selfByArea.get(where) ?? 0) + micros)
    total += micros
  })
  const idle = selfByArea.get('(idle)') ?? 0
  const busy = total - idle
  const share = (micros: number): string => `${fmt((micros / busy) * 100, 1)}%  ${fmt(micros / result.total, 2)} µs/req`
  const sorted = (map: Map<string, number>) => [...map].filter(([key]) => !key.startsWith('(idle)')).sort((a, b) => b[1] - a[1])
  console.log(`\nbusy CPU ${fmt(busy / 1000)} ms of ${fmt(total / 1000)} ms sampled (idle ${fmt((idle / total) * 100, 1)}%), ${fmt(busy / result.total, 1)} µs per request; shares below are of busy time`)
  console.log('\n### self time by area')
  console.log(table(['area', 'share'], sorted(selfByArea).slice(0, top).map(([key, micros]) => [key, share(micros)])))
  console.log(`\n### top ${top} functions by self time`)
  console.log(table(['function', 'share'], sorted(selfByFunction).slice(0, top).map(([key, micros]) => [key.slice(0, 110), share(micros)])))
} finally {
  await stack.close()
}
