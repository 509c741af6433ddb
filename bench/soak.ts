/**
 * npm run bench:soak: a bounded soak of the real app on loopback. For SOAK_SECONDS (60) at a fixed
 * SOAK_RATE (1000 req/s overall) GET /auth/me is sent with a mix of tokens: valid ones (two live
 * sessions) and revoked ones (a logged-out token, and a token of a user who logged out
 * everywhere). Checks: zero 5xx, every revoked request answered 401 TOKEN_REVOKED, every valid one
 * 200, and the server's memory (RSS, heap) sampled every 10 s stays flat.
 * Not part of the CI test run.
 */
import { readFileSync } from 'node:fs'
import autocannon from 'autocannon'
import { fmt, http, latchkeyEnv, machine, pinSelf, signUp, sleep, startServer, startStack, stats, table, type Server } from './lib.js'

const seconds = Number(process.env.SOAK_SECONDS ?? 60)
const rate = Number(process.env.SOAK_RATE ?? 1000)
const connections = Number(process.env.SOAK_CONNECTIONS ?? 20)

const vmRss = (pid: number): number => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) * 1024

console.log(`Latchkey soak — ${new Date().toISOString()} — ${machine()}`)
console.log(pinSelf())
const stack = await startStack()
let server: Server | undefined
let failed = false
try {
  server = await startServer('latchkey', latchkeyEnv(stack))
  const base = server.url
  const a = await signUp(server, stack, `soak.a.${process.pid}@example.com`)
  const b = await signUp(server, stack, `soak.b.${process.pid}@example.com`)
  const c = await signUp(server, stack, `soak.c.${process.pid}@example.com`)
  // A second live session of A (a refresh gives a new access token of the same session; a new
  // sign-in would need another link, so a refresh is enough for a second token).
  const a2 = (await http('POST', `${base}/auth/refresh`, { refreshToken: a.refreshToken })).json as { accessToken: string }
  const d = await signUp(server, stack, `soak.d.${process.pid}@example.com`)
  const auth = (token: string) => ({ authorization: `Bearer ${token}` })
  if ((await http('POST', `${base}/auth/logout`, undefined, auth(b.accessToken))).status !== 204) throw new Error('logout failed')
  if ((await http('POST', `${base}/auth/logout-all`, undefined, auth(c.accessToken))).status !== 204) throw new Error('logout-all failed')

  const kinds = [
    { kind: 'valid', token: a.accessToken },
    { kind: 'revoked', token: b.accessToken }, // logged out: jti blacklisted, session revoked
    { kind: 'valid', token: a2.accessToken },
    { kind: 'revoked', token: c.accessToken }, // logout-all: issued before validAfter
    { kind: 'valid', token: d.accessToken }
  ] as const
  const counts: Record<string, Record<string, number>> = { valid: {}, revoked: {} }
  let wrongRevokedCode = 0
  const requests = kinds.map(({ kind, token }) => ({
    method: 'GET' as const,
    path: '/auth/me',
    headers: auth(token),
    onResponse: (status: number, body: string) => {
      counts[kind]![status] = (counts[kind]![status] ?? 0) + 1
      if (kind === 'revoked' && status === 401 && !body.includes('"TOKEN_REVOKED"')) wrongRevokedCode++
    }
  }))

  console.log(`\n## Soak: GET /auth/me at ${fmt(rate)} req/s for ${seconds} s, ${connections} connections, 3 valid : 2 revoked tokens`)
  const samples: string[][] = []
  const sample = async (label: string): Promise<{ rss: number, heap: number }> => {
    const { memory } = await stats(server!)
    samples.push([label, fmt(vmRss(server!.pid) / 1e6, 1), fmt(memory.heapUsed / 1e6, 1), fmt(memory.heapTotal / 1e6, 1), fmt(memory.external / 1e6, 1)])
    return { rss: vmRss(server!.pid), heap: memory.heapUsed }
  }
  const start = await sample('start')
  const instance = autocannon({ url: base, connections, duration: seconds, overallRate: rate, requests })
  let elapsed = 0
  const sampler = (async () => {
    while (elapsed + 10 < seconds) { await sleep(10_000); elapsed += 10; await sample(`${elapsed} s`) }
  })()
  const result = await instance
  await sampler
  const end = await sample('end')

  console.log(table(['when', 'RSS MB', 'heapUsed MB', 'heapTotal MB', 'external MB'], samples))
  const statuses = (kind: string) => Object.entries(counts[kind]!).map(([code, n]) => `${code}: ${fmt(n)}`).join(', ')
  const fivexx = Object.values(counts).flatMap((byCode) => Object.entries(byCode)).filter(([code]) => code.startsWith('5')).reduce((sum, [, n]) => sum + n, 0)
  const revokedNot401 = Object.entries(counts.revoked!).filter(([code]) => code !== '401').reduce((sum, [, n]) => sum + n, 0)
  const validNot200 = Object.entries(counts.valid!).filter(([code]) => code !== '200').reduce((sum, [, n]) => sum + n, 0)
  console.log(`requests: ${fmt(result.requests.total)} (${fmt(result.requests.average)} req/s average), latency p50 ${result.latency.p50} ms, p99 ${result.latency.p99} ms, max ${result.latency.max} ms, socket errors ${result.errors}, timeouts ${result.timeouts}`)
  console.log(`valid tokens:   ${statuses('valid')}`)
  console.log(`revoked tokens: ${statuses('revoked')}${wrongRevokedCode > 0 ? ` (${wrongRevokedCode} 401s with another code)` : ''}`)
  const rssGrowth = (end.rss - start.rss) / 1e6
  const heapGrowth = (end.heap - start.heap) / 1e6
  console.log(`memory start → end: RSS ${rssGrowth >= 0 ? '+' : ''}${fmt(rssGrowth, 1)} MB, heapUsed ${heapGrowth >= 0 ? '+' : ''}${fmt(heapGrowth, 1)} MB`)
  const checks: Array<[string, boolean]> = [
    ['zero 5xx', fivexx === 0],
    ['every revoked request 401 TOKEN_REVOKED', revokedNot401 === 0 && wrongRevokedCode === 0 && (counts.revoked!['401'] ?? 0) > 0],
    ['every valid request 200', validNot200 === 0],
    ['no socket errors or timeouts', result.errors === 0 && result.timeouts === 0]
  ]
  for (const [name, ok] of checks) console.log(`${ok ? 'PASS' : 'FAIL'}  ${name}`)
  failed = checks.some(([, ok]) => !ok)
} finally {
  await server?.stop()
  await stack.close()
}
process.exitCode = failed ? 1 : 0
