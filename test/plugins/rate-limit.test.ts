import type { FastifyInstance } from 'fastify'
import t, { type Test } from 'tap'
import { redisCommandsDuring } from '../counters.js'
import { bearer, buildApp, json, pollUntil, signUp, startStack, testConfig, uniqueEmail } from '../helper.js'
import { startTcpProxy } from '../stack/tcp-proxy.js'

const stack = await startStack(t)
// Counters are per route and IP: each test starts from zero.
t.beforeEach(async () => { await stack.redis.admin.flushall() })

const requestLink = (app: Awaited<ReturnType<typeof buildApp>>, options: { remoteAddress?: string, headers?: Record<string, string> } = {}) =>
  app.inject({ method: 'POST', url: '/auth/magic-link', payload: { email: uniqueEmail('rl') }, ...options })

t.test('sign-in endpoints: tight per-IP limit with Retry-After and RateLimit headers', async (t) => {
  const app = await buildApp(t, stack, { RATE_LIMIT_AUTH: '3', EMAIL_COOLDOWN: '0' })
  const statuses = []
  for (let i = 0; i < 4; i++) statuses.push((await requestLink(app)).statusCode)
  t.same(statuses, [202, 202, 202, 429])

  const limited = await requestLink(app)
  t.equal(limited.statusCode, 429)
  t.match(json(limited), { statusCode: 429, code: 'RATE_LIMITED', error: 'Too Many Requests', message: String })
  t.ok(Number(limited.headers['retry-after']) > 0 && Number(limited.headers['retry-after']) <= 60, 'Retry-After')
  t.equal(limited.headers['ratelimit-limit'], '3')
  t.equal(limited.headers['ratelimit-remaining'], '0')
  t.ok(Number(limited.headers['ratelimit-reset']) > 0)

  t.equal((await requestLink(app, { remoteAddress: '198.51.100.7' })).statusCode, 202, 'another IP is not affected')
  t.equal((await app.inject({ method: 'GET', url: '/health' })).statusCode, 200, '/health is never limited')
})

t.test('every sign-in route has the tight per-IP limit, not the plugin\'s 1,000/min', async (t) => {
  const app = await buildApp(t, stack, { RATE_LIMIT_AUTH: '2', RATE_LIMIT_REFRESH: '2', EMAIL_COOLDOWN: '0' })
  const routes: Array<[string, () => Record<string, unknown>]> = [
    ['/auth/otp', () => ({ email: uniqueEmail('otp') })],
    ['/auth/otp/verify', () => ({ email: uniqueEmail('otp'), code: '123456' })],
    ['/auth/magic-link', () => ({ email: uniqueEmail('ml') })],
    ['/auth/login', () => ({ email: uniqueEmail('pw'), password: 'guess' })],
    ['/auth/signup', () => ({ email: uniqueEmail('su'), name: 'S', token: 'x'.repeat(43) })],
    ['/auth/magic-link/consume', () => ({ token: 'x'.repeat(43) })],
    ['/auth/refresh', () => ({ refreshToken: 'x'.repeat(43) })]
  ]
  for (const [url, payload] of routes) {
    const statuses = []
    for (let i = 0; i < 3; i++) statuses.push((await app.inject({ method: 'POST', url, payload: payload() })).statusCode)
    t.equal(statuses[2], 429, `${url}: third request from one IP → 429 (${statuses.join(', ')})`)
    t.not(statuses[0], 429, `${url}: the first was answered`)
  }
})

t.test('IPv6 clients are grouped by /64', async (t) => {
  const app = await buildApp(t, stack, { RATE_LIMIT_AUTH: '2', EMAIL_COOLDOWN: '0' })
  t.equal((await requestLink(app, { remoteAddress: '2001:db8:aa:1::1' })).statusCode, 202)
  t.equal((await requestLink(app, { remoteAddress: '2001:db8:aa:1:ffff::2' })).statusCode, 202)
  t.equal((await requestLink(app, { remoteAddress: '2001:db8:aa:1:1234:5678:9abc:def0' })).statusCode, 429, 'a third address of the same /64 is over the limit')
  t.equal((await requestLink(app, { remoteAddress: '2001:db8:aa:2::1' })).statusCode, 202, 'the next /64 is another client')
  t.equal((await requestLink(app, { remoteAddress: '::ffff:203.0.113.9' })).statusCode, 202)
  t.equal((await requestLink(app, { remoteAddress: '203.0.113.9' })).statusCode, 202)
  t.equal((await requestLink(app, { remoteAddress: '203.0.113.9' })).statusCode, 429, 'IPv4-mapped IPv6 counts as the IPv4 address')
})

t.test('X-Forwarded-For cannot dodge the limit unless TRUST_PROXY names the proxy', async (t) => {
  const direct = await buildApp(t, stack, { RATE_LIMIT_AUTH: '2', EMAIL_COOLDOWN: '0' })
  const spoofed = []
  for (let i = 0; i < 3; i++) spoofed.push((await requestLink(direct, { headers: { 'x-forwarded-for': `192.0.2.${i + 1}` } })).statusCode)
  t.same(spoofed, [202, 202, 429], 'a forged X-Forwarded-For is ignored by default')

  const behindProxy = await buildApp(t, stack, { RATE_LIMIT_AUTH: '2', EMAIL_COOLDOWN: '0', TRUST_PROXY: '127.0.0.1' })
  const forwarded = []
  for (let i = 0; i < 3; i++) forwarded.push((await requestLink(behindProxy, { headers: { 'x-forwarded-for': `192.0.2.${i + 10}` } })).statusCode)
  t.same(forwarded, [202, 202, 202], 'behind the named proxy, each forwarded client has its own counter')
  const fromElsewhere = []
  for (let i = 0; i < 3; i++) fromElsewhere.push((await requestLink(behindProxy, { remoteAddress: '198.51.100.99', headers: { 'x-forwarded-for': `192.0.2.${i + 20}` } })).statusCode)
  t.same(fromElsewhere, [202, 202, 429], 'a client that is not the proxy cannot forge the header')
})

t.test('limits are shared by every instance through Redis', async (t) => {
  const config = testConfig(stack, { RATE_LIMIT_AUTH: '2', EMAIL_COOLDOWN: '0' })
  const one = await buildApp(t, stack, {}, { config })
  const two = await buildApp(t, stack, {}, { config })
  const address = '198.51.100.200'
  t.equal((await requestLink(one, { remoteAddress: address })).statusCode, 202)
  t.equal((await requestLink(two, { remoteAddress: address })).statusCode, 202)
  t.equal((await requestLink(one, { remoteAddress: address })).statusCode, 429)
  t.equal((await requestLink(two, { remoteAddress: address })).statusCode, 429)
})

t.test('per-address limit on password login runs after body parsing, whatever the IP', async (t) => {
  const app = await buildApp(t, stack, { RATE_LIMIT_ADDRESS: '3' })
  const email = uniqueEmail('target')
  const statuses = []
  for (let i = 0; i < 4; i++) {
    const response = await app.inject({ method: 'POST', url: '/auth/login', payload: { email: i % 2 === 0 ? email : email.toUpperCase(), password: 'guess' }, remoteAddress: `198.51.100.${i + 1}` })
    statuses.push(response.statusCode)
  }
  t.same(statuses, [401, 401, 401, 429], 'the fourth guess for one address is refused, from any IP and any spelling')
  const other = await app.inject({ method: 'POST', url: '/auth/login', payload: { email: uniqueEmail('other'), password: 'guess' } })
  t.equal(other.statusCode, 401, 'other addresses are not affected')
})

t.test('per-address limit on code verification, whatever the IP', async (t) => {
  const app = await buildApp(t, stack, { RATE_LIMIT_ADDRESS: '3' })
  const email = uniqueEmail('otp-target')
  const statuses = []
  for (let i = 0; i < 4; i++) {
    const response = await app.inject({ method: 'POST', url: '/auth/otp/verify', payload: { email, code: '123456' }, remoteAddress: `198.51.100.${i + 1}` })
    statuses.push(`${response.statusCode} ${json(response).code}`)
  }
  t.same(statuses, ['401 OTP_EXPIRED', '401 OTP_EXPIRED', '401 OTP_EXPIRED', '429 RATE_LIMITED'])
})

t.test('Bearer routes, far from the limit: one Redis command per request; the limit\'s counts go in rare batches', async (t) => {
  const app = await buildApp(t, stack, { RATE_LIMIT_BEARER: '3000' })
  const { accessToken } = await signUp(app, stack)
  const me = async () => await app.inject({ method: 'GET', url: '/auth/me', headers: bearer(accessToken) })
  await me()
  t.same(await redisCommandsDuring(stack.redis.admin, me), { mget: 1 }, 'no rate-limit round trip on the hot path')

  const statuses: number[] = []
  const commands = await redisCommandsDuring(stack.redis.admin, async () => { for (let i = 0; i < 200; i++) statuses.push((await me()).statusCode) })
  t.ok(statuses.every((status) => status === 200), 'all answered')
  const { mget, evalsha = 0, eval: firstSend = 0, ...insideScript } = commands
  t.equal(mget, 200, 'one revocation check per request')
  // Each batch is one script call (EVALSHA; the first after a Redis start is re-sent as EVAL); the
  // INCRBY/PEXPIRE that INFO counts run inside it.
  t.ok(evalsha >= 1 && evalsha <= 10, `the limit's counts reached Redis in ${evalsha} batches for 200 requests (${JSON.stringify(commands)})`)
  t.ok(firstSend <= 1)
  t.same(Object.keys(insideScript).filter((name) => name !== 'incrby' && name !== 'pexpire'), [], 'nothing else')
  const counted = Number(await stack.redis.admin.get((await stack.redis.admin.keys('lk:rb:*'))[0]!))
  t.ok(counted > 150 && counted <= 202, `Redis holds the instance's count (${counted} of 202, the rest still local)`)
})

t.test('Bearer routes, near the limit: the limit\'s hit and the revocation check leave together (one round trip, not two)', async (t) => {
  // Redis reached through a proxy that holds what the app sends: a request that waited for the
  // limiter's answer before checking revocation would have sent only the limiter's script.
  const proxy = await startTcpProxy(stack.redis.port)
  t.teardown(async () => { proxy.resume(); await proxy.close() })
  // A limit of 50: every hit is decided by Redis (the batch, 1% of what is left, is below 2).
  const app = await buildApp(t, stack, { RATE_LIMIT_BEARER: '50', REDIS_URL: `redis://127.0.0.1:${proxy.port}`, REDIS_TIMEOUT: '5000' })
  const { accessToken } = await signUp(app, stack)
  const me = async () => await app.inject({ method: 'GET', url: '/auth/me', headers: bearer(accessToken) })
  t.equal((await me()).statusCode, 200, 'the user is cached')

  proxy.pause()
  const answer = me()
  const sent = await pollUntil(async () => proxy.held(), (bytes) => /evalsha/i.test(bytes) && /mget/i.test(bytes), { timeoutMs: 2_000 })
  t.match(sent, /evalsha/i, 'the limiter\'s script was sent')
  t.match(sent, /mget/i, 'and the revocation check with it, before any answer came back')
  proxy.resume()
  t.equal((await answer).statusCode, 200)
  t.same(await redisCommandsDuring(stack.redis.admin, me), { evalsha: 1, incrby: 1, mget: 1 }, 'one script and one MGET per request near the limit')
})

/** Ten instances sharing Redis, MongoDB and configuration, with one signed-in user. */
async function tenInstances (t: Test, bearerLimit: number): Promise<{ apps: FastifyInstance[], accessToken: string }> {
  const config = testConfig(stack, { RATE_LIMIT_BEARER: String(bearerLimit) })
  const apps: FastifyInstance[] = []
  for (let i = 0; i < 10; i++) apps.push(await buildApp(t, stack, {}, { config }))
  return { apps, accessToken: (await signUp(apps[0]!, stack)).accessToken }
}

t.test('Bearer routes: the limit holds across instances (10 instances behind round-robin, limit 20)', async (t) => {
  const { apps, accessToken } = await tenInstances(t, 20)
  const statuses: number[] = []
  for (let i = 0; i < 200; i++) statuses.push((await apps[i % 10]!.inject({ method: 'GET', url: '/auth/me', headers: bearer(accessToken) })).statusCode)
  const allowed = statuses.filter((status) => status === 200).length
  t.equal(allowed, 20, `${allowed} of 200 requests allowed (per-instance counting let 200 through)`)
  t.same([...new Set(statuses)].sort(), [200, 429])
  t.ok(statuses.slice(0, 20).every((status) => status === 200), 'the first 20 pass, wherever they land')

  const limited = await apps[3]!.inject({ method: 'GET', url: '/auth/me', headers: bearer(accessToken) })
  t.equal(json(limited).code, 'RATE_LIMITED')
  t.ok(Number(limited.headers['retry-after']) > 0 && Number(limited.headers['retry-after']) <= 60, 'Retry-After')
  t.equal(limited.headers['ratelimit-limit'], '20')
  t.equal((await apps[3]!.inject({ method: 'GET', url: '/auth/me', headers: bearer(accessToken), remoteAddress: '198.51.100.50' })).statusCode, 200, 'per IP')
})

t.test('Bearer routes: parallel bursts over 10 instances stay within 10% of the limit', async (t) => {
  const { apps, accessToken } = await tenInstances(t, 400)
  const statuses: number[] = []
  for (let burst = 0; burst < 10; burst++) {
    const responses = await Promise.all(Array.from({ length: 80 }, async (_, i) =>
      await apps[i % 10]!.inject({ method: 'GET', url: '/auth/me', headers: bearer(accessToken), remoteAddress: '198.51.100.77' })))
    statuses.push(...responses.map((response) => response.statusCode))
  }
  const allowed = statuses.filter((status) => status === 200).length
  t.ok(allowed >= 400 && allowed <= 440, `${allowed} of 800 allowed for a limit of 400 (per-instance counting: 800)`)
  t.same([...new Set(statuses)].sort(), [200, 429], 'nothing but 200 and 429')
})

t.test('one per-IP budget over all the sign-in routes, shared by every instance', async (t) => {
  const config = testConfig(stack, { RATE_LIMIT_AUTH: '10', RATE_LIMIT_AUTH_TOTAL: '4', EMAIL_COOLDOWN: '0' })
  const one = await buildApp(t, stack, {}, { config })
  const two = await buildApp(t, stack, {}, { config })
  const address = '198.51.100.201'
  const post = async (app: typeof one, url: string, payload: Record<string, unknown>, remoteAddress = address) =>
    (await app.inject({ method: 'POST', url, payload, remoteAddress })).statusCode
  t.equal(await post(one, '/auth/magic-link', { email: uniqueEmail('budget') }), 202)
  t.equal(await post(two, '/auth/otp', { email: uniqueEmail('budget') }), 202)
  t.equal(await post(one, '/auth/otp/verify', { email: uniqueEmail('budget'), code: '123456' }), 401)
  t.equal(await post(two, '/auth/magic-link/consume', { token: 'x'.repeat(43) }), 403)
  t.equal((await one.inject({ method: 'POST', url: '/auth/refresh', payload: { refreshToken: 'x'.repeat(43) }, remoteAddress: address })).statusCode, 401, 'refresh is not a sign-in: outside the budget')
  t.equal((await one.inject({ method: 'GET', url: `/auth/magic-link/verify?token=${'x'.repeat(43)}`, remoteAddress: address })).statusCode, 410, 'looking at a link is outside it too')

  const spent = await one.inject({ method: 'POST', url: '/auth/login', payload: { email: uniqueEmail('budget'), password: 'guess' }, remoteAddress: address })
  t.equal(spent.statusCode, 429, 'the fifth sign-in request from the IP, on a route it had not used yet')
  t.equal(json(spent).code, 'RATE_LIMITED')
  t.ok(Number(spent.headers['retry-after']) > 0 && Number(spent.headers['retry-after']) <= 60, 'Retry-After')
  t.equal(spent.headers['ratelimit-limit'], '4')
  t.equal(await post(two, '/auth/signup', { email: uniqueEmail('budget'), name: 'S', token: 'x'.repeat(43) }), 429, 'on the other instance too')
  t.equal(await post(two, '/auth/otp', { email: uniqueEmail('budget') }, '198.51.100.202'), 202, 'another IP has its own budget')
})

t.test('Redis down: rate-limited routes fail closed with 503, never a free pass', async (t) => {
  const app = await buildApp(t, stack, { RATE_LIMIT_AUTH: '1000' })
  await stack.redis.stop()
  t.teardown(async () => { await stack.redis.start() })
  const started = Date.now()
  const response = await app.inject({ method: 'POST', url: '/auth/login', payload: { email: uniqueEmail('down'), password: 'whatever' } })
  t.equal(response.statusCode, 503)
  t.equal(json(response).code, 'SERVICE_UNAVAILABLE')
  t.ok(Date.now() - started < 1_000)
})
