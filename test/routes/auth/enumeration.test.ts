import type { FastifyInstance, InjectOptions } from 'fastify'
import t, { type Test } from 'tap'
import { buildApp, json, signUp, startStack, tokenFrom, uniqueEmail } from '../../helper.js'

/**
 * Invariant 7 (no enumeration), measured: known and unknown addresses get the same status, body and
 * headers, and the median time over 200 interleaved samples differs by less than the tolerance.
 * Medians over interleaved samples are steady enough on this machine to run in CI.
 */
const stack = await startStack(t)
const SAMPLES = 200
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!
const comparableHeaders = ({ date: _date, 'ratelimit-remaining': _remaining, 'ratelimit-reset': _reset, 'content-length': length, ...rest }: Record<string, unknown>) => ({ ...rest, length })

async function compare (t: Test, app: FastifyInstance, known: () => InjectOptions, unknown: () => InjectOptions, between?: () => Promise<unknown>) {
  const times = { known: [] as number[], unknown: [] as number[] }
  let first: Record<'known' | 'unknown', { status: number, body: string, headers: Record<string, unknown> } | undefined> = { known: undefined, unknown: undefined }
  for (let i = 0; i < SAMPLES; i++) {
    for (const kind of (i % 2 === 0 ? ['known', 'unknown'] : ['unknown', 'known']) as Array<'known' | 'unknown'>) {
      const started = performance.now()
      const response = await app.inject(kind === 'known' ? known() : unknown())
      times[kind].push(performance.now() - started)
      first[kind] ??= { status: response.statusCode, body: response.body, headers: comparableHeaders(response.headers) }
      if (kind === 'known') await between?.()
    }
  }
  t.equal(first.known!.status, first.unknown!.status, `same status (${first.known!.status})`)
  t.equal(first.known!.body, first.unknown!.body, 'same body')
  t.same(first.known!.headers, first.unknown!.headers, 'same headers (apart from Date and the rate-limit countdown)')
  const [k, u] = [median(times.known), median(times.unknown)]
  const difference = Math.abs(k - u)
  t.ok(difference < Math.max(1, 0.25 * Math.max(k, u)), `medians over ${SAMPLES} samples: known ${k.toFixed(2)} ms, unknown ${u.toFixed(2)} ms`)
  first = { known: undefined, unknown: undefined }
}

for (const url of ['/auth/magic-link', '/auth/otp']) {
  t.test(`POST ${url}`, async (t) => {
    const app = await buildApp(t, stack, { EMAIL_COOLDOWN: '0', EMAIL_HOURLY_LIMIT: '100000' })
    const { user } = await signUp(app, stack)
    await compare(t, app,
      () => ({ method: 'POST', url, payload: { email: user.email } }),
      () => ({ method: 'POST', url, payload: { email: uniqueEmail('nobody') } }))
  })
}

t.test('POST /auth/login', async (t) => {
  const app = await buildApp(t, stack)
  const email = uniqueEmail('pw')
  await app.inject({ method: 'POST', url: '/auth/magic-link', payload: { email } })
  const token = tokenFrom(await stack.smtp.waitForMail(email))
  await app.inject({ method: 'POST', url: '/auth/signup', payload: { token, email, name: 'P', password: 'correct horse battery' } })
  // A correct login after each wrong one keeps the known address clear of the failure back-off.
  await compare(t, app,
    () => ({ method: 'POST', url: '/auth/login', payload: { email, password: 'wrong password' } }),
    () => ({ method: 'POST', url: '/auth/login', payload: { email: uniqueEmail('nobody'), password: 'wrong password' } }),
    async () => json(await app.inject({ method: 'POST', url: '/auth/login', payload: { email, password: 'correct horse battery' } })))
})
