import t from 'tap'
import { redisCommandsDuring } from '../counters.js'
import { bearer, buildApp, json, signUp, startStack, testConfig, uniqueEmail } from '../helper.js'

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

t.test('Bearer routes: a per-instance limit and still one Redis command per request', async (t) => {
  const app = await buildApp(t, stack, { RATE_LIMIT_BEARER: '5' })
  const { accessToken } = await signUp(app, stack)
  await app.inject({ method: 'GET', url: '/auth/me', headers: bearer(accessToken) })
  const commands = await redisCommandsDuring(stack.redis.admin, async () => {
    await app.inject({ method: 'GET', url: '/auth/me', headers: bearer(accessToken) })
  })
  t.same(commands, { mget: 1 }, 'no rate-limit round trip on the hot path')
  const statuses = []
  for (let i = 0; i < 4; i++) statuses.push((await app.inject({ method: 'GET', url: '/auth/me', headers: bearer(accessToken) })).statusCode)
  t.same(statuses, [200, 200, 200, 429], 'the sixth request within the minute is refused')
  const limited = await app.inject({ method: 'GET', url: '/auth/me', headers: bearer(accessToken) })
  t.equal(json(limited).code, 'RATE_LIMITED')
  t.ok(Number(limited.headers['retry-after']) > 0)
  t.equal(limited.headers['ratelimit-limit'], '5')
  t.equal((await app.inject({ method: 'GET', url: '/auth/me', headers: bearer(accessToken), remoteAddress: '198.51.100.50' })).statusCode, 200, 'per IP')
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
