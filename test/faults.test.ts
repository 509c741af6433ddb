import type { InjectOptions } from 'fastify'
import t from 'tap'
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
