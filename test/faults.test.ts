import type { InjectOptions } from 'fastify'
import { Redis } from 'ioredis'
import t from 'tap'
import { freePort } from './stack/ports.js'
import { bearer, buildApp, codeFrom, json, pollUntil, signUp, startStack, timed, uniqueEmail } from './helper.js'

/**
 * Faults across the whole API, with the real servers stopped and restarted (issue 5, invariants 3,
 * 4 and 9): which routes answer 503, how fast, what keeps working, and that service comes back by itself.
 */
const stack = await startStack(t)

t.test('Redis down: every route that needs it is a 503 within ~1 s; /ready says why; it comes back by itself', async (t) => {
  const app = await buildApp(t, stack, { EMAIL_COOLDOWN: '0' })
  const { accessToken, refreshToken, user } = await signUp(app, stack)
  const headers = bearer(accessToken)

  await stack.redis.stop()
  let restarted = false
  t.teardown(async () => { if (!restarted) await stack.redis.start() })
  const requests: InjectOptions[] = [
    { method: 'GET', url: '/auth/me', headers },
    { method: 'GET', url: '/todos', headers },
    { method: 'POST', url: '/todos', headers, payload: { title: 'lost?' } },
    { method: 'GET', url: '/auth/sessions', headers },
    { method: 'POST', url: '/auth/logout', headers },
    { method: 'POST', url: '/auth/refresh', payload: { refreshToken } },
    { method: 'POST', url: '/auth/magic-link', payload: { email: uniqueEmail('down') } },
    { method: 'POST', url: '/auth/otp', payload: { email: uniqueEmail('down') } },
    { method: 'POST', url: '/auth/otp/verify', payload: { email: user.email, code: '123456' } },
    { method: 'POST', url: '/auth/login', payload: { email: user.email, password: 'whatever-it-is' } },
    { method: 'POST', url: '/auth/magic-link/consume', payload: { token: 'x'.repeat(43) } }
  ]
  for (const request of requests) {
    const { result, ms } = await timed(async () => await app.inject(request))
    t.equal(result.statusCode, 503, `${request.method} ${request.url} → 503`)
    t.equal(json(result).code, 'SERVICE_UNAVAILABLE')
    t.equal(result.headers['retry-after'], '1')
    t.ok(ms < 1_000, `answered in ${Math.round(ms)} ms`)
  }
  t.equal(await app.mongo.models.Todo.countDocuments({}), 0, 'nothing half-written while Redis was down')
  const ready = await app.inject({ method: 'GET', url: '/ready' })
  t.equal(ready.statusCode, 503)
  t.same(json(ready).checks, { redis: 'failed', mongodb: 'ok' })

  await stack.redis.start()
  restarted = true
  t.equal(await pollUntil(async () => (await app.inject({ method: 'GET', url: '/ready' })).statusCode, (code) => code === 200, { timeoutMs: 10_000 }), 200, '/ready recovers')
  t.equal((await app.inject({ method: 'GET', url: '/auth/me', headers })).statusCode, 200, 'the token works again')
  t.equal((await app.inject({ method: 'POST', url: '/todos', headers, payload: { title: 'kept' } })).statusCode, 201)
})

t.test('MongoDB down: cached /auth/me keeps working; routes that need MongoDB are a bounded 503; recovery', async (t) => {
  const app = await buildApp(t, stack, { EMAIL_COOLDOWN: '0', MONGODB_TIMEOUT: '1000' })
  const { accessToken, refreshToken, user } = await signUp(app, stack)
  const headers = bearer(accessToken)
  t.equal((await app.inject({ method: 'GET', url: '/auth/me', headers })).statusCode, 200, 'user cached')

  await stack.mongo.stop()
  let restarted = false
  t.teardown(async () => { if (!restarted) await stack.mongo.start() })

  const me = await app.inject({ method: 'GET', url: '/auth/me', headers })
  t.equal(me.statusCode, 200, 'cached /auth/me does not need MongoDB')
  t.equal(json(me).email, user.email)
  for (const request of [
    { method: 'GET', url: '/todos', headers },
    { method: 'POST', url: '/todos', headers, payload: { title: 'lost?' } },
    { method: 'GET', url: '/auth/sessions', headers },
    { method: 'POST', url: '/auth/refresh', payload: { refreshToken } },
    { method: 'POST', url: '/auth/login', payload: { email: user.email, password: 'whatever-it-is' } },
    { method: 'POST', url: '/auth/magic-link', payload: { email: uniqueEmail('mongo-down') } }
  ] satisfies InjectOptions[]) {
    const { result, ms } = await timed(async () => await app.inject(request))
    t.equal(result.statusCode, 503, `${request.method} ${request.url} → 503`)
    t.equal(json(result).code, 'SERVICE_UNAVAILABLE')
    t.ok(ms < 2_500, `answered in ${Math.round(ms)} ms (MONGODB_TIMEOUT 1000 ms)`)
  }
  const ready = await app.inject({ method: 'GET', url: '/ready' })
  t.equal(ready.statusCode, 503)
  t.same(json(ready).checks, { redis: 'ok', mongodb: 'failed' })

  // A code needs no MongoDB until it is verified: it can be requested, and used after recovery.
  const email = uniqueEmail('later')
  t.equal((await app.inject({ method: 'POST', url: '/auth/otp', payload: { email } })).statusCode, 202, 'codes can still be requested')
  const code = codeFrom(await stack.smtp.waitForMail(email))

  await stack.mongo.start()
  restarted = true
  t.equal(await pollUntil(async () => (await app.inject({ method: 'GET', url: '/ready' })).statusCode, (code) => code === 200, { timeoutMs: 10_000 }), 200, '/ready recovers')
  t.equal((await app.inject({ method: 'GET', url: '/todos', headers })).statusCode, 200, 'todos are back')
  const refreshed = await app.inject({ method: 'POST', url: '/auth/refresh', payload: { refreshToken } })
  t.equal(refreshed.statusCode, 200, 'the refresh token was not burnt by the outage')
  t.equal((await app.inject({ method: 'POST', url: '/auth/otp/verify', payload: { email, code } })).statusCode, 200, 'the code works')
})

t.test('invariant 3: a dump of Redis and MongoDB holds no usable secret', async (t) => {
  const app = await buildApp(t, stack, { EMAIL_COOLDOWN: '0' })
  const password = 'correct horse battery staple'
  const email = uniqueEmail('dump')
  await app.inject({ method: 'POST', url: '/auth/magic-link', payload: { email } })
  const mail = await stack.smtp.waitForMail(email)
  const linkToken = /token=([A-Za-z0-9_-]+)/.exec(mail.text ?? '')![1]!
  const signup = json(await app.inject({ method: 'POST', url: `/auth/signup?token=${linkToken}`, payload: { email, name: 'Dumped', password } }))
  const rotated = json(await app.inject({ method: 'POST', url: '/auth/refresh', payload: { refreshToken: signup.refreshToken } }))
  await app.inject({ method: 'POST', url: '/auth/otp', payload: { email } })
  const code = codeFrom(await stack.smtp.waitForMail(email, { count: 2 }))
  // A second link stays live, unused, in Redis.
  await app.inject({ method: 'POST', url: '/auth/magic-link', payload: { email } })
  const liveLink = /token=([A-Za-z0-9_-]+)/.exec((await stack.smtp.waitForMail(email, { count: 3 })).text ?? '')![1]!

  const dump: string[] = []
  for (const key of await stack.redis.admin.keys('*')) {
    dump.push(key)
    const type = await stack.redis.admin.type(key)
    if (type === 'string') dump.push(await stack.redis.admin.get(key) ?? '')
    if (type === 'hash') dump.push(JSON.stringify(await stack.redis.admin.hgetall(key)))
  }
  const db = app.mongo.connection.db!
  for (const { name } of await db.listCollections().toArray()) {
    dump.push(JSON.stringify(await db.collection(name).find({}).toArray()))
  }
  const text = dump.join('\n')
  t.ok(text.includes(email), 'the dump is real (it holds the address)')
  for (const [name, secret] of Object.entries({
    linkToken, liveLink, password, refreshToken: signup.refreshToken, rotatedRefresh: rotated.refreshToken, rotatedAccess: rotated.accessToken
  })) {
    t.notOk(text.includes(secret), `no ${name}`)
  }
  t.notMatch(text, new RegExp(`(?<![0-9])${code}(?![0-9])`), 'no live code')
})

t.test('15.8: Redis error replies describing its state are a 503 with Retry-After, never a 500', async (t) => {
  const app = await buildApp(t, stack, { EMAIL_COOLDOWN: '0' }, { dataLossCheckMs: 3_600_000 })
  const { accessToken, user } = await signUp(app, stack)
  const admin = stack.redis.admin
  const me = { method: 'GET' as const, url: '/auth/me', headers: bearer(accessToken) }
  const write = { method: 'POST' as const, url: '/auth/otp', payload: { email: user.email } }
  const expect503 = async (state: string, request: InjectOptions) => {
    const response = await app.inject(request)
    t.same([response.statusCode, json(response).code, response.headers['retry-after']], [503, 'SERVICE_UNAVAILABLE', '1'], `${state}: ${request.method} ${request.url} → 503 with Retry-After`)
  }
  t.equal((await app.inject(me)).statusCode, 200)

  // OOM: out of memory under maxmemory, every write refused.
  await admin.config('SET', 'maxmemory', '1')
  await expect503('OOM', write)
  await expect503('OOM', { method: 'POST', url: '/auth/logout', headers: bearer(accessToken) })
  await admin.config('SET', 'maxmemory', '0')

  // NOREPLICAS: min-replicas-to-write not met.
  await admin.config('SET', 'min-replicas-to-write', '1')
  await expect503('NOREPLICAS', write)
  await admin.config('SET', 'min-replicas-to-write', '0')

  // READONLY: the server became a replica (a failover demoted it); MASTERDOWN: a replica whose
  // master is gone and that serves no stale data refuses reads too.
  const nowhere = await freePort()
  await admin.replicaof('127.0.0.1', nowhere)
  t.teardown(async () => { await admin.replicaof('NO', 'ONE').catch(() => {}) })
  await expect503('READONLY', write)
  await admin.config('SET', 'replica-serve-stale-data', 'no')
  await expect503('MASTERDOWN', me)
  await admin.config('SET', 'replica-serve-stale-data', 'yes')
  await admin.replicaof('NO', 'ONE')

  // BUSY: a script is running past busy-reply-threshold.
  const blocker = new Redis(stack.redis.url, { maxRetriesPerRequest: 0 })
  const killer = new Redis(stack.redis.url, { maxRetriesPerRequest: 0, enableReadyCheck: false })
  await Promise.all([blocker.ping(), killer.ping()])
  t.teardown(async () => { await killer.script('KILL').catch(() => {}); blocker.disconnect(); killer.disconnect() })
  await admin.config('SET', 'busy-reply-threshold', '50')
  const busy = blocker.eval('local i = 0 while true do i = i + 1 end', 0).catch(() => {})
  await new Promise((resolve) => setTimeout(resolve, 200))
  await expect503('BUSY', me)
  await killer.script('KILL')
  await busy
  await admin.config('SET', 'busy-reply-threshold', '5000')

  t.equal((await app.inject(me)).statusCode, 200, 'back to normal')
  t.ok(await app.metrics.value('latchkey_dependency_errors_total', { dependency: 'redis' }) >= 6, 'each counted as a Redis outage')
})

t.test('15.8: error logs carry no address or secret, though Redis errors carry their command\'s arguments', async (t) => {
  const lines: string[] = []
  const app = await buildApp(t, stack, { EMAIL_COOLDOWN: '0', LOG_LEVEL: 'warn' }, { dataLossCheckMs: 3_600_000, logStream: { write: (line: string) => { lines.push(line) } } })
  const email = uniqueEmail('logged')
  // Refused writes to magic-link records only (an ACL, so the rate limit and throttle still work):
  // the SET that fails carries the record, address included, as its argument.
  await stack.redis.admin.acl('SETUSER', 'default', 'resetkeys', '~lk:[^m]*', '~lk:mc*', '~lk:mh*', '~lk:marker*', '%R~lk:ml*')
  t.teardown(async () => { await stack.redis.admin.acl('SETUSER', 'default', 'resetkeys', '~*') })
  const refused = await app.inject({ method: 'POST', url: '/auth/magic-link', payload: { email } })
  t.equal(refused.statusCode, 500, 'a permission error is a bug in the deployment, not an outage')
  await stack.redis.admin.acl('SETUSER', 'default', 'resetkeys', '~*')
  await stack.redis.admin.config('SET', 'maxmemory', '1')
  t.teardown(async () => { await stack.redis.admin.config('SET', 'maxmemory', '0') })
  t.equal((await app.inject({ method: 'POST', url: '/auth/otp', payload: { email } })).statusCode, 503)
  await stack.redis.admin.config('SET', 'maxmemory', '0')

  const log = lines.join('')
  t.match(log, /unhandled error/, 'the 500 was logged')
  t.match(log, /NOPERM/, 'with its reason')
  t.match(log, /dependency unavailable/, 'the 503 was logged')
  t.notMatch(log, new RegExp(email.replace(/[.+]/g, '\\$&')), 'the address is not in the logs')
  t.notMatch(log, /"args"/, 'nor any command arguments')
})

t.test('15.7: MongoDB frozen (SIGSTOP) → 503 bounded by one budget for the whole request, not one per call', async (t) => {
  const lines: string[] = []
  const app = await buildApp(t, stack, { EMAIL_COOLDOWN: '0', MONGODB_TIMEOUT: '1000', LOG_LEVEL: 'warn' }, { dataLossCheckMs: 3_600_000, logStream: { write: (line: string) => { lines.push(line) } } })
  const { accessToken, refreshToken } = await signUp(app, stack)
  stack.mongo.pause()
  t.teardown(() => { stack.mongo.resume() })
  for (const request of [
    { method: 'POST', url: '/auth/magic-link', payload: { email: uniqueEmail('frozen') } },
    { method: 'POST', url: '/auth/refresh', payload: { refreshToken } },
    { method: 'GET', url: '/todos', headers: bearer(accessToken) },
    { method: 'POST', url: '/todos', headers: bearer(accessToken), payload: { title: 'written while MongoDB is frozen' } }
  ] satisfies InjectOptions[]) {
    const { result, ms } = await timed(async () => await app.inject(request))
    t.same([result.statusCode, json(result).code, result.headers['retry-after']], [503, 'SERVICE_UNAVAILABLE', '1'], `${request.method} ${request.url} → 503, never 500`)
    // The driver's own bound on a frozen server is its 5 s socket timeout; the budget is 1 s.
    t.ok(ms < 4_000, `answered in ${Math.round(ms)} ms, within the 1 s budget plus slack (the driver alone waits 5 s)`)
  }
  t.equal(lines.filter((line) => line.includes('did not answer within the 1000 ms budget')).length, 4, 'each was cut off by its request\'s budget')
  stack.mongo.resume()
  await pollUntil(async () => (await app.inject({ method: 'GET', url: '/ready' })).statusCode, (status) => status === 200, { timeoutMs: 15_000 })
  t.equal((await app.inject({ method: 'GET', url: '/todos', headers: bearer(accessToken) })).statusCode, 200, 'and it recovers by itself')
})
