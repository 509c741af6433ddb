/**
 * Ceilings on open cross-device waits (SSE streams and long-polls): per client IP and per
 * instance, 429 beyond, places given back when a wait ends however it ends, and the count in
 * /metrics. Counts only: no timing is asserted.
 */
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import t from 'tap'
import { buildApp, json, pollUntil, startStack, testConfig, uniqueEmail } from '../../helper.js'
import { askCrossDevice, openEvents, secretHeader, serveInstance, type Ticket } from '../../cross-device.js'

const stack = await startStack(t)

/** A long-poll that waits (up to 30 s) from `remoteAddress`; not awaited by the caller until it ends. */
const longPoll = async (app: FastifyInstance, ticket: Ticket, remoteAddress: string): Promise<LightMyRequestResponse> =>
  await app.inject({ method: 'GET', url: `/auth/magic-link/requests/${ticket.requestId}/outcome?wait=30`, headers: secretHeader(ticket.deviceSecret), remoteAddress })

const gauge = async (app: FastifyInstance): Promise<number> => {
  const text = (await app.inject({ method: 'GET', url: '/metrics' })).body
  return Number(/^latchkey_cross_device_waits (\d+)$/m.exec(text)?.[1] ?? NaN)
}
const openWaits = async (app: FastifyInstance, expected: number): Promise<number> =>
  await pollUntil(async () => app.crossDeviceWaits.open, (open) => open === expected, { timeoutMs: 10_000 })

t.test('per-IP and per-instance ceilings on open long-polls: 429 beyond, counted in /metrics', async (t) => {
  const app = await buildApp(t, stack, { EMAIL_COOLDOWN: '0', CROSS_DEVICE_WAITS_PER_IP: '3', CROSS_DEVICE_WAITS_PER_INSTANCE: '5' })
  const tickets = await Promise.all(Array.from({ length: 4 }, async (_, i) => await askCrossDevice(app, uniqueEmail(`xd.waits.${i}`))))
  t.equal(await gauge(app), 0, 'no open wait yet')

  // 12 parallel long-polls from one IP (3 per request, under the per-request cap): exactly 3 wait.
  const first = Array.from({ length: 12 }, (_, i) => longPoll(app, tickets[i % 3]!, '198.51.100.1'))
  const settledEarly = await pollUntil(async () => (await Promise.all(first.map(async (poll) => await Promise.race([poll, null])))).filter((r) => r !== null) as LightMyRequestResponse[],
    (done) => done.length === 9, { timeoutMs: 10_000 })
  t.equal(settledEarly.filter((response) => response.statusCode === 429).length, 9, '9 of 12 parallel waits from one IP: 429')
  t.equal(json(settledEarly[0]!).code, 'RATE_LIMITED')
  t.ok(Number(settledEarly[0]!.headers['retry-after']) > 0, 'with Retry-After')
  t.equal(await openWaits(app, 3), 3, 'the other 3 are open')
  t.equal(app.crossDeviceWaits.openOf('198.51.100.1'), 3)

  // Another IP may open waits until the instance is full.
  const second = [longPoll(app, tickets[3]!, '198.51.100.2'), longPoll(app, tickets[3]!, '198.51.100.2')]
  t.equal(await openWaits(app, 5), 5)
  const full = await longPoll(app, tickets[3]!, '198.51.100.3')
  t.equal(full.statusCode, 429, 'a third IP, the instance full: 429')
  t.equal(await gauge(app), 5, 'the gauge: 5 open waits')
  const metrics = (await app.inject({ method: 'GET', url: '/metrics' })).body
  t.match(metrics, /^latchkey_cross_device_waits_refused_total\{ceiling="ip"\} 9$/m)
  t.match(metrics, /^latchkey_cross_device_waits_refused_total\{ceiling="instance"\} 1$/m)
  t.equal((await app.inject({ method: 'GET', url: `/auth/magic-link/requests/${tickets[3]!.requestId}/outcome?wait=0`, headers: secretHeader(tickets[3]!.deviceSecret), remoteAddress: '198.51.100.3' })).statusCode, 200,
    'a look without waiting (wait=0) holds no place and is answered')

  // A wait that ends gives its place back: closing the instance ends every wait.
  await app.close()
  const ended = await Promise.all([...first, ...second])
  t.equal(ended.filter((response) => response.statusCode === 503).length, 5, 'the 5 open waits end with the instance (503, reconnect elsewhere)')
  t.equal(app.crossDeviceWaits.open, 0, 'every place given back')
})

t.test('SSE streams: the same ceilings; a closed or finished stream gives its place back', async (t) => {
  const config = testConfig(stack, { EMAIL_COOLDOWN: '0', CROSS_DEVICE_WAITS_PER_IP: '2', CROSS_DEVICE_WAITS_PER_INSTANCE: '1000' })
  const { app, origin } = await serveInstance(t, config, { recheckMs: 3_600_000 })
  const [a, b, c] = await Promise.all([1, 2, 3].map(async (i) => await askCrossDevice(app, uniqueEmail(`xd.waits.sse.${i}`))))
  const events = (ticket: Ticket) => openEvents(`${origin}/auth/magic-link/requests/${ticket.requestId}/events`, secretHeader(ticket.deviceSecret))

  const one = await events(a!)
  const two = await events(b!)
  t.equal((await one.next())?.event, 'pending')
  t.equal((await two.next())?.event, 'pending')
  const three = await events(c!)
  t.equal(three.status, 429, 'a third stream from this IP: 429')
  t.equal(JSON.parse(await three.body()).code, 'RATE_LIMITED')

  one.close()
  t.equal(await openWaits(app, 1), 1, 'the closed stream gave its place back')
  const gone = await openEvents(`${origin}/auth/magic-link/requests/${'A'.repeat(22)}/events`, secretHeader('B'.repeat(43)))
  t.equal(gone.status, 410, 'a wait refused after its admission (unknown request)...')
  t.equal(app.crossDeviceWaits.open, 1, '...holds no place')
  const again = await events(c!)
  t.equal(again.status, 200, 'so a new stream is admitted')
  t.equal((await again.next())?.event, 'pending')

  two.close()
  again.close()
  t.equal(await openWaits(app, 0), 0)
  t.equal(await gauge(app), 0)
})
