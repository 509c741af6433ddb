import type { FastifyInstance, InjectOptions } from 'fastify'
import t, { type Test } from 'tap'
import { mongoCommandsDuring, redisCommandsDuring } from '../../counters.js'
import { buildApp, signUp, startStack, tokenFrom, uniqueEmail } from '../../helper.js'

/**
 * Invariant 7 (no enumeration): known and unknown addresses get the same status, body and headers,
 * and cost the same work: the same Redis commands, the same MongoDB commands, the same emails and
 * the same argon2 verifications. Work is counted, not timed: timing comparisons belong in bench/
 * (a busy machine makes them fail for reasons unrelated to the code).
 */
const stack = await startStack(t)
const SAMPLES = 5
// No background mirror check while Redis commands are being counted.
const quiet = { dataLossCheckMs: 3_600_000 }
const comparableHeaders = ({ date: _date, 'ratelimit-remaining': _remaining, 'ratelimit-reset': _reset, 'content-length': length, ...rest }: Record<string, unknown>) => ({ ...rest, length })

interface Work { status: number, body: string, headers: Record<string, unknown>, redis: Record<string, number>, mongo: string[], emails: number, argon2: number }

async function workOf (app: FastifyInstance, request: InjectOptions): Promise<Work> {
  let response: Awaited<ReturnType<FastifyInstance['inject']>> | undefined
  const emailsBefore = stack.smtp.messages.length
  const argon2Before = app.passwords.verificationCount()
  let redis: Record<string, number> = {}
  const mongo = await mongoCommandsDuring(app, async () => {
    redis = await redisCommandsDuring(stack.redis.admin, async () => { response = await app.inject(request) })
  })
  // Delivery finishes before the answer (a failed send is a 503), so the count is settled here.
  return {
    status: response!.statusCode,
    body: response!.body,
    headers: comparableHeaders(response!.headers),
    redis,
    mongo: mongo.sort(),
    emails: stack.smtp.messages.length - emailsBefore,
    argon2: app.passwords.verificationCount() - argon2Before
  }
}

async function compare (t: Test, app: FastifyInstance, known: () => InjectOptions, unknown: () => InjectOptions) {
  // The first pair warms what is made once (script loading, the decoy hash); the others must match.
  for (let i = 0; i <= SAMPLES; i++) {
    const a = await workOf(app, known())
    const b = await workOf(app, unknown())
    if (i === 0) continue
    const same = a.status === b.status && a.body === b.body && JSON.stringify(a.headers) === JSON.stringify(b.headers) &&
      JSON.stringify(a.redis) === JSON.stringify(b.redis) && JSON.stringify(a.mongo) === JSON.stringify(b.mongo) &&
      a.emails === b.emails && a.argon2 === b.argon2
    if (same && i < SAMPLES) continue
    t.equal(b.status, a.status, `same status (${a.status})`)
    t.equal(b.body, a.body, 'same body')
    t.same(b.headers, a.headers, 'same headers (apart from Date and the rate-limit countdown)')
    t.same(b.redis, a.redis, `same Redis commands (${JSON.stringify(a.redis)})`)
    t.same(b.mongo, a.mongo, `same MongoDB commands ([${a.mongo.join(', ')}])`)
    t.equal(b.emails, a.emails, `same number of emails sent (${a.emails})`)
    t.equal(b.argon2, a.argon2, `same number of argon2 verifications (${a.argon2})`)
    if (!same) return
  }
}

for (const url of ['/auth/magic-link', '/auth/otp']) {
  t.test(`POST ${url}`, async (t) => {
    const app = await buildApp(t, stack, { EMAIL_COOLDOWN: '0', EMAIL_HOURLY_LIMIT: '100000' }, quiet)
    const { user } = await signUp(app, stack)
    await compare(t, app,
      () => ({ method: 'POST', url, payload: { email: user.email } }),
      () => ({ method: 'POST', url, payload: { email: uniqueEmail('nobody') } }))
  })
}

t.test('POST /auth/login', async (t) => {
  const app = await buildApp(t, stack, {}, quiet)
  // Each sample uses an address seen for the first time, known or not, so the per-address
  // counters (rate limit, failure ceiling) start from the same state on both sides.
  const accounts: string[] = []
  for (let i = 0; i <= SAMPLES; i++) {
    const email = uniqueEmail('pw')
    await app.inject({ method: 'POST', url: '/auth/magic-link', payload: { email } })
    const token = tokenFrom(await stack.smtp.waitForMail(email))
    await app.inject({ method: 'POST', url: '/auth/signup', payload: { token, email, name: 'P', password: 'correct horse battery' } })
    accounts.push(email)
  }
  await compare(t, app,
    () => ({ method: 'POST', url: '/auth/login', payload: { email: accounts.shift()!, password: 'wrong password' } }),
    () => ({ method: 'POST', url: '/auth/login', payload: { email: uniqueEmail('nobody'), password: 'wrong password' } }))
})
