import { randomBytes } from 'node:crypto'
import type { FastifyInstance } from 'fastify'
import t from 'tap'
import { redisKeys } from '../../../services/infrastructure/redis-keys.js'
import { randomCode } from '../../../services/tokens/token-crypto.js'
import { bearer, buildApp, codeFrom, freshDatabaseUrl, json, signUp, startStack, timed, uniqueEmail, type Stack } from '../../helper.js'

/**
 * Email one-time codes (SPEC §3, invariants 2, 3, 7, 9): codes are read out of the delivered email,
 * races are fired in parallel at the real Redis, and Redis is scanned for anything resembling a code.
 */
const stack = await startStack(t)
const relaxed = { EMAIL_COOLDOWN: '0', EMAIL_HOURLY_LIMIT: '100000' }

/** Asks for a code and reads it from the email, as a person would. */
async function requestCode (app: FastifyInstance, stack: Stack, email: string): Promise<string> {
  const before = stack.smtp.inbox(email).length
  const response = await app.inject({ method: 'POST', url: '/auth/otp', payload: { email } })
  if (response.statusCode !== 202) throw new Error(`otp request failed: ${response.statusCode} ${response.body}`)
  return codeFrom(await stack.smtp.waitForMail(email, { count: before + 1 }))
}

const verify = async (app: FastifyInstance, payload: Record<string, unknown>) =>
  await app.inject({ method: 'POST', url: '/auth/otp/verify', payload })

/** Any code but this one. */
const wrong = (code: string): string => ((Number(code) + 1) % 1_000_000).toString().padStart(6, '0')

t.test('sign-up and sign-in with a code; a code works once', async (t) => {
  const app = await buildApp(t, stack, relaxed)
  const email = uniqueEmail('otp')

  const code = await requestCode(app, stack, email)
  t.match(code, /^\d{6}$/)
  const signup = await verify(app, { email: email.toUpperCase(), code, name: 'Grace Hopper' })
  t.equal(signup.statusCode, 200)
  const created = json(signup)
  t.equal(created.created, true, 'an unknown address is signed up')
  t.equal(created.user.name, 'Grace Hopper')
  t.equal(created.user.email, email)
  t.equal(signup.headers['cache-control'], 'no-store')
  const me = await app.inject({ method: 'GET', url: '/auth/me', headers: bearer(created.accessToken) })
  t.equal(me.statusCode, 200, 'the access token works at once')
  t.equal(json(me).id, created.user.id)

  const again = await verify(app, { email, code })
  t.equal(again.statusCode, 401, 'a used code is dead')
  t.equal(json(again).code, 'OTP_EXPIRED')

  const second = await requestCode(app, stack, email)
  const signin = await verify(app, { email, code: second })
  t.equal(signin.statusCode, 200)
  t.equal(json(signin).created, false, 'the known address signs in')
  t.equal(json(signin).user.id, created.user.id)
  const session = await app.mongo.models.Session.findOne({ userId: created.user.id, method: 'otp' })
  t.ok(session, 'sessions record the method')
})

t.test('an account made by magic link signs in with a code; a code without a name gets the local part', async (t) => {
  const app = await buildApp(t, stack, relaxed)
  const { user } = await signUp(app, stack)
  const signin = await verify(app, { email: user.email, code: await requestCode(app, stack, user.email) })
  t.equal(signin.statusCode, 200)
  t.same([json(signin).created, json(signin).user.id], [false, user.id])

  const email = uniqueEmail('nameless')
  const nameless = await verify(app, { email, code: await requestCode(app, stack, email) })
  t.equal(json(nameless).user.name, email.split('@')[0])
})

t.test('invariant 2: 100 parallel wrong guesses → exactly OTP_MAX_ATTEMPTS evaluated, then the code is gone', async (t) => {
  const app = await buildApp(t, stack, relaxed)
  const email = uniqueEmail('race')
  const code = await requestCode(app, stack, email)
  const address = app.addressKey(email)

  const responses = await Promise.all(Array.from({ length: 100 }, async () => await verify(app, { email, code: wrong(code) })))
  const codes = responses.map((response) => `${response.statusCode} ${json(response).code}${response.headers['retry-after'] === undefined ? '' : ' (backing off)'}`)
  const count = (what: string) => codes.filter((c) => c === what).length
  t.equal(count('401 OTP_INVALID'), 4, 'four guesses answered "wrong, try again"')
  t.equal(count('429 OTP_LOCKED'), 1, 'the fifth used the last attempt')
  t.equal(count('401 OTP_EXPIRED') + count('429 OTP_LOCKED (backing off)'), 95,
    'the other 95 found no code to guess at, or were refused by the failure back-off before looking')
  t.same(responses.filter((r) => json(r).code === 'OTP_INVALID').map((r) => json(r).attemptsRemaining).sort(), [1, 2, 3, 4])
  t.equal(Number(await stack.redis.admin.get(redisKeys.otpFailures(address))), 5, 'the stored counter saw exactly five guesses')
  t.equal(await stack.redis.admin.exists(redisKeys.otp(address)), 0, 'the code is deleted')
  const right = await verify(app, { email, code })
  t.ok(['401 OTP_EXPIRED', '429 OTP_LOCKED'].includes(`${right.statusCode} ${json(right).code}`), `even the right code is refused now (${right.statusCode} ${json(right).code}: gone, or the address is backing off)`)
})

t.test('invariants 1 and 3: 50 parallel correct submissions over two instances → one 200, 49 × 401 OTP_EXPIRED, nothing counted against the address', async (t) => {
  // Two instances of one deployment: same Redis, same database, same secrets.
  const shared = { ...relaxed, MONGODB_URL: freshDatabaseUrl(stack), JWT_SECRET: randomBytes(32).toString('base64url') }
  const apps = [await buildApp(t, stack, shared), await buildApp(t, stack, shared)] as const
  for (const known of [true, false]) {
    const email = known ? (await signUp(apps[0], stack)).user.email : uniqueEmail('once')
    const address = apps[0].addressKey(email)
    const code = await requestCode(apps[0], stack, email)
    const responses = await Promise.all(Array.from({ length: 50 }, async (_, i) => await verify(apps[i % 2]!, { email, code, name: 'Racer' })))
    const answers: Record<string, number> = {}
    for (const response of responses) {
      const answer = response.statusCode === 200 ? '200' : `${response.statusCode} ${json(response).code}`
      answers[answer] = (answers[answer] ?? 0) + 1
    }
    t.same(answers, { 200: 1, '401 OTP_EXPIRED': 49 }, `${known ? 'known' : 'new'} address: one sign-in; the others found the code used, none was a failed guess`)
    const userId = json(responses.find((r) => r.statusCode === 200)!).user.id
    t.equal(await apps[0].mongo.models.Session.countDocuments({ userId, method: 'otp' }), 1, 'one session')
    t.equal(await apps[0].mongo.models.User.countDocuments({ email }), 1, 'one user')
    t.equal(await stack.redis.admin.exists(redisKeys.verifyFailures(address)), 0, 'the address is not backing off')
    t.equal(await stack.redis.admin.exists(redisKeys.otpFailures(address)), 0, 'and nothing was spent from its budget')
    const next = await requestCode(apps[1], stack, email)
    t.equal((await verify(apps[1], { email, code: next })).statusCode, 200, 'a new code signs in at once')
  }
})

t.test('a lock, then a new code that meets the short back-off: "try again in 1 second", not "request a new code"', async (t) => {
  let time = Date.now()
  const app = await buildApp(t, stack, relaxed, { clock: { now: () => time } })
  const email = uniqueEmail('wording')
  const first = await requestCode(app, stack, email)
  let last
  for (let guess = 0; guess < 5; guess++) last = await verify(app, { email, code: wrong(first) })
  t.same([last!.statusCode, json(last!).code, json(last!).message], [429, 'OTP_LOCKED', 'Too many wrong codes; request a new code later'], 'the code is used up')
  t.equal(last!.headers['retry-after'], undefined)

  const second = await requestCode(app, stack, email)
  t.equal(json(await verify(app, { email, code: wrong(second) })).code, 'OTP_INVALID', 'the sixth failure starts the back-off')
  const waiting = await verify(app, { email, code: second })
  t.same([waiting.statusCode, json(waiting).code], [429, 'OTP_LOCKED'])
  t.equal(waiting.headers['retry-after'], '1')
  t.equal(json(waiting).message, 'Too many wrong codes; try again in 1 second', 'a new code was just requested: the wait is what helps')
  time += 1_000
  t.equal((await verify(app, { email, code: second })).statusCode, 200, 'and after it the new code signs in')
})

t.test('the address budget survives resends: request, guess, repeat → locked, and a new code does not unlock it', async (t) => {
  // The failure ceiling's back-off would answer first after five failures; a clock that jumps
  // past it isolates the hourly budget (whose window Redis keeps in real time).
  let offset = 0
  const app = await buildApp(t, stack, relaxed, { clock: { now: () => Date.now() + offset } })
  const email = uniqueEmail('budget')
  const remaining: number[] = []
  let locked
  for (let round = 0; round < 10 && locked === undefined; round++) {
    const code = await requestCode(app, stack, email)
    for (let guess = 0; guess < 5; guess++) {
      offset += 20 * 60 * 1000
      const response = await verify(app, { email, code: wrong(code) })
      if (json(response).code === 'OTP_INVALID') { remaining.push(json(response).attemptsRemaining); continue }
      if (response.headers['retry-after'] !== undefined) { locked = response; break }
      t.equal(json(response).code, 'OTP_LOCKED', 'a code dies with its last attempt')
      break
    }
  }
  t.same(remaining, [4, 3, 2, 1, 4, 3, 2, 1], 'the first code died with its fifth guess; the second with the budget')
  t.ok(locked, 'the tenth wrong guess locked the address')
  t.equal(locked!.statusCode, 429)
  t.equal(json(locked!).code, 'OTP_LOCKED')
  t.ok(Number(locked!.headers['retry-after']) > 3000, `with Retry-After ${locked!.headers['retry-after']} s (the rest of the hour)`)

  const fresh = await requestCode(app, stack, email)
  offset += 20 * 60 * 1000
  const refused = await verify(app, { email, code: fresh })
  t.equal(refused.statusCode, 429, 'a new, correct code is refused while the budget is spent')
  t.equal(json(refused).code, 'OTP_LOCKED')
  t.ok(Number(refused.headers['retry-after']) > 3000)
  t.equal(await stack.redis.admin.hget(redisKeys.otp(app.addressKey(email)), 'a'), '0', 'and it was not even evaluated')
})

t.test('Retry-After reports the real lock: once the hourly budget is spent, the rest of the hour, not the back-off', async (t) => {
  let offset = 0
  const app = await buildApp(t, stack, relaxed, { clock: { now: () => Date.now() + offset } })
  const email = uniqueEmail('lock')
  let spent
  for (let round = 0; round < 3 && spent === undefined; round++) {
    const code = await requestCode(app, stack, email)
    for (let guess = 0; guess < 5; guess++) {
      offset += 20 * 60 * 1000 // past each back-off
      const response = await verify(app, { email, code: wrong(code) })
      if (response.headers['retry-after'] !== undefined) { spent = response; break }
      if (json(response).code !== 'OTP_INVALID') break
    }
  }
  t.ok(Number(spent!.headers['retry-after']) > 3000, 'the guess that spends the budget says: the rest of the hour')
  // The next guess comes during the failure back-off too (no time passed): the lock that matters
  // is the hour's, which outlasts it.
  const next = await verify(app, { email, code: '123456' })
  t.same([next.statusCode, json(next).code], [429, 'OTP_LOCKED'])
  t.ok(Number(next.headers['retry-after']) > 3000, `Retry-After ${next.headers['retry-after']} s, the rest of the hour (not the back-off's few seconds)`)
})

t.test('a code is bound to its address: A\'s code for B → 401, and A\'s code still works', async (t) => {
  const app = await buildApp(t, stack, relaxed)
  const [a, b] = [uniqueEmail('a'), uniqueEmail('b')]
  const codeA = await requestCode(app, stack, a)
  const forB = await verify(app, { email: b, code: codeA })
  t.equal(forB.statusCode, 401)
  t.equal(json(forB).code, 'OTP_EXPIRED', 'B has no code')
  const codeB = await requestCode(app, stack, b)
  if (codeB !== codeA) {
    const crossed = await verify(app, { email: b, code: codeA })
    t.equal(json(crossed).code, 'OTP_INVALID', 'B\'s live code is not A\'s')
  }
  t.equal((await verify(app, { email: a, code: codeA })).statusCode, 200, 'A\'s code signs A in')
  t.equal((await verify(app, { email: b, code: codeB })).statusCode, 200, 'B\'s code signs B in')
})

t.test('a new code replaces the old one', async (t) => {
  const app = await buildApp(t, stack, relaxed)
  const email = uniqueEmail('replace')
  const first = await requestCode(app, stack, email)
  const second = await requestCode(app, stack, email)
  if (first !== second) t.equal(json(await verify(app, { email, code: first })).code, 'OTP_INVALID', 'the first code is dead')
  t.equal((await verify(app, { email, code: second })).statusCode, 200, 'the second works')
})

t.test('a code expires after OTP_TTL', async (t) => {
  const app = await buildApp(t, stack, { ...relaxed, OTP_TTL: '1' })
  const email = uniqueEmail('ttl')
  const code = await requestCode(app, stack, email)
  const ttl = await stack.redis.admin.pttl(redisKeys.otp(app.addressKey(email)))
  t.ok(ttl > 0 && ttl <= 1000, `stored with a TTL (${ttl} ms)`)
  await new Promise((resolve) => setTimeout(resolve, 1_200))
  const late = await verify(app, { email, code })
  t.equal(late.statusCode, 401)
  t.equal(json(late).code, 'OTP_EXPIRED')
})

t.test('codes are six CSPRNG digits, leading zeros included', async (t) => {
  const codes = Array.from({ length: 1_000 }, randomCode)
  t.ok(codes.every((code) => /^\d{6}$/.test(code)), 'all six digits')
  t.ok(codes.some((code) => code.startsWith('0')), `some start with 0 (${codes.filter((c) => c.startsWith('0')).length} of 1000)`)
  t.ok(new Set(codes).size > 990, 'practically no repeats')
})

t.test('1,000 emailed codes: no plaintext code anywhere in Redis', async (t) => {
  const app = await buildApp(t, stack, relaxed)
  await stack.redis.admin.flushall()
  const emails = Array.from({ length: 1_000 }, () => uniqueEmail('scan'))
  for (let i = 0; i < emails.length; i += 50) {
    await Promise.all(emails.slice(i, i + 50).map(async (email) => {
      const response = await app.inject({ method: 'POST', url: '/auth/otp', payload: { email } })
      if (response.statusCode !== 202) throw new Error(response.body)
    }))
  }
  const codes = new Set(await Promise.all(emails.map(async (email) => codeFrom(await stack.smtp.waitForMail(email)))))
  t.ok([...codes].some((code) => code.startsWith('0')), 'some delivered codes have a leading zero')

  const stored: string[] = []
  for (const key of await stack.redis.admin.keys('*')) {
    stored.push(key)
    const type = await stack.redis.admin.type(key)
    if (type === 'hash') stored.push(...Object.values(await stack.redis.admin.hgetall(key)))
    if (type === 'string') stored.push(await stack.redis.admin.get(key) ?? '')
  }
  t.equal((await stack.redis.admin.keys('lk:otp*')).filter((key) => key.startsWith('lk:otp{')).length, 1_000, 'one hash per address')
  const leaks = stored.filter((value) => [...(value.match(/(?<!\d)\d{6}(?!\d)/g) ?? [])].some((digits) => codes.has(digits)))
  t.same(leaks, [], `no key or value holds a code (${stored.length} strings scanned)`)
  const sample = await stack.redis.admin.hgetall(redisKeys.otp(app.addressKey(emails[0]!)))
  t.same(Object.keys(sample).sort(), ['a', 'c', 'h'], 'the hash holds the HMAC, attempts and creation time only')
  t.match(sample.h, /^[A-Za-z0-9_-]{43}$/, 'an HMAC-SHA256')
})

t.test('input: code must be a string of exactly six ASCII digits; nothing is spent on bad input', async (t) => {
  const app = await buildApp(t, stack, relaxed)
  const email = uniqueEmail('input')
  const code = await requestCode(app, stack, email)
  const bad: unknown[] = [Number(code) + 1_000_000, 123456, [code], { $gt: '' }, '１２３４５６', ` ${code.slice(1)}`, `${code.slice(1)} `,
    `${code}\n`, code.slice(1), `${code}0`, '12a456', '', null]
  for (const value of bad) {
    const response = await verify(app, { email, code: value })
    t.equal(response.statusCode, 400, `code ${JSON.stringify(value)} → 400`)
    t.equal(json(response).code, 'VALIDATION_FAILED')
  }
  t.equal((await verify(app, { email, code, extra: 1 })).statusCode, 400, 'unknown properties → 400')
  t.equal((await verify(app, { email: { $gt: '' }, code })).statusCode, 400, 'operator objects → 400')
  t.equal((await app.inject({ method: 'POST', url: '/auth/otp', payload: { email: `${email}\r\nBcc: x@example.com` } })).statusCode, 400)
  t.equal(await stack.redis.admin.get(redisKeys.otpFailures(app.addressKey(email))), null, 'no guess was counted')
  t.equal((await verify(app, { email, code })).statusCode, 200, 'the code still works')
})

t.test('codes share the email cooldown and hourly cap with magic links', async (t) => {
  const app = await buildApp(t, stack, { EMAIL_COOLDOWN: '60', EMAIL_HOURLY_LIMIT: '5' })
  const email = uniqueEmail('shared')
  t.equal((await app.inject({ method: 'POST', url: '/auth/magic-link', payload: { email } })).statusCode, 202)
  const second = await app.inject({ method: 'POST', url: '/auth/otp', payload: { email } })
  t.equal(second.statusCode, 429)
  t.equal(json(second).code, 'EMAIL_RATE_LIMITED')
  t.ok(Number(second.headers['retry-after']) > 0, 'with Retry-After')
  t.equal(stack.smtp.inbox(email).length, 1, 'one email sent')
})

t.test('invariant 9: SMTP refusing or hanging → 503 EMAIL_UNAVAILABLE and no live code', async (t) => {
  const app = await buildApp(t, stack, { ...relaxed, SMTP_TIMEOUT: '700' })
  for (const mode of ['refuse', 'hang'] as const) {
    const email = uniqueEmail(mode)
    stack.smtp.setMode(mode)
    t.teardown(() => stack.smtp.setMode('accept'))
    const { result, ms } = await timed(async () => await app.inject({ method: 'POST', url: '/auth/otp', payload: { email } }))
    stack.smtp.setMode('accept')
    t.equal(result.statusCode, 503, mode)
    t.equal(json(result).code, 'EMAIL_UNAVAILABLE')
    // Bounded by SMTP_TIMEOUT (700 ms; nodemailer alone would wait minutes), generous slack for a busy machine.
    t.ok(ms < 3_000, `${mode}: answered in ${Math.round(ms)} ms`)
    t.equal(await stack.redis.admin.exists(redisKeys.otp(app.addressKey(email))), 0, 'no code left behind')
    t.equal((await app.inject({ method: 'POST', url: '/auth/otp', payload: { email } })).statusCode, 202, 'and no cooldown started')
  }
})

t.test('invariant 9: MongoDB down at verification → 503, and the same code works after recovery', async (t) => {
  const app = await buildApp(t, stack, { ...relaxed, MONGODB_TIMEOUT: '1000' })
  const email = uniqueEmail('mongo')
  const code = await requestCode(app, stack, email)
  await stack.mongo.stop()
  let restarted = false
  t.teardown(async () => { if (!restarted) await stack.mongo.start() })
  const down = await verify(app, { email, code, name: 'Patient' })
  t.equal(down.statusCode, 503)
  t.equal(json(down).code, 'SERVICE_UNAVAILABLE')
  await stack.mongo.start()
  restarted = true
  const after = await verify(app, { email, code, name: 'Patient' })
  t.equal(after.statusCode, 200, 'the code was put back')
  t.equal(json(after).created, true)
})
