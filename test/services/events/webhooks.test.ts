import { createServer, type IncomingHttpHeaders, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { FastifyInstance } from 'fastify'
import { Webhook } from 'standardwebhooks'
import t, { type Test } from 'tap'
import { refusal, safePost, type Resolver } from '../../../services/events/ssrf.js'
import { DISABLE_AFTER_MS, RETRY_SCHEDULE_MS } from '../../../services/events/webhooks.js'
import { withMongoBudget } from '../../../services/infrastructure/mongo-budget.js'
import { bearer, buildApp, pollUntil, signUp, startStack, testConfig } from '../../helper.js'

/**
 * Webhooks with a real HTTP receiver on loopback (issue 21 items 3, 4, 5, 8). Delivery passes are
 * driven by hand (background off) and time moves through an injected clock, never by waiting.
 */
const stack = await startStack(t)

type Behaviour = number | 'hang' | { status: number, headers: Record<string, string> }
interface Received { headers: IncomingHttpHeaders, body: string }

/** A receiver on 127.0.0.1 answering each request with the next behaviour (then `fallback`). */
async function receiver (t: Test, fallback: Behaviour = 204) {
  const received: Received[] = []
  const script: Behaviour[] = []
  let inFlight = 0
  let maxInFlight = 0
  const hanging: Array<() => void> = []
  const server: Server = createServer((request, response) => {
    let body = ''
    request.on('data', (chunk: Buffer) => { body += chunk.toString() })
    request.on('end', () => {
      received.push({ headers: request.headers, body })
      inFlight++
      maxInFlight = Math.max(maxInFlight, inFlight)
      const behaviour = script.shift() ?? fallback
      const done = (): void => { inFlight-- }
      if (behaviour === 'hang') {
        hanging.push(() => { response.destroy(); done() })
        response.on('close', done)
        return
      }
      const { status, headers } = typeof behaviour === 'number' ? { status: behaviour, headers: {} } : behaviour
      setTimeout(() => { response.writeHead(status, headers).end('ok'); done() }, 20)
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(async () => {
    for (const release of hanging) release()
    server.closeAllConnections()
    await new Promise((resolve) => server.close(resolve))
  })
  const { port } = server.address() as AddressInfo
  return { url: `http://127.0.0.1:${port}/hook`, port, received, script, maxInFlight: () => maxInFlight }
}

const base = { WEBHOOK_ALLOW_PRIVATE: 'true', EMAIL_COOLDOWN: '0', EMAIL_HOURLY_LIMIT: '100000' }

function fakeClock () {
  const clock = { at: Date.now(), now: () => clock.at }
  return clock
}

/** One worker pass on each app, then waits for their attempts. */
async function deliver (...apps: FastifyInstance[]): Promise<void> {
  await Promise.all(apps.map(async (app) => await app.webhooks.runDue()))
  await Promise.all(apps.map(async (app) => await app.webhooks.settle()))
}

t.test('the env endpoint gets signed events that verify with standardwebhooks, with no token in them', async (t) => {
  const hook = await receiver(t)
  const secret = `whsec_${Buffer.from('0123456789abcdef0123456789abcdef').toString('base64')}`
  const app = await buildApp(t, stack, { ...base, WEBHOOK_URL: hook.url, WEBHOOK_SECRET: secret }, { events: { background: false } })
  t.match(await app.webhooks.listEndpoints(), [{ id: 'wh_env', url: hook.url, events: [], source: 'env', disabledAt: null }])

  const { user, accessToken, refreshToken } = await signUp(app, stack)
  await app.outbox.reconcile()
  await deliver(app)
  t.equal(hook.received.length, 2, 'user.created and session.created')
  const verifier = new Webhook(secret)
  for (const { headers, body } of hook.received) {
    const event = verifier.verify(body, headers as Record<string, string>) as { id: string, type: string, userId: string }
    t.equal(event.id, headers['webhook-id'], 'webhook-id is the event id')
    t.equal(event.userId, user.id)
    t.notOk(body.includes(accessToken) || body.includes(refreshToken), 'no token in a delivered event')
  }
  t.throws(() => verifier.verify(hook.received[0]!.body.replace('}', ',"x":1}'), hook.received[0]!.headers as Record<string, string>), 'a changed body does not verify')
  t.equal(await app.metrics.value('latchkey_webhook_deliveries_total', { outcome: 'delivered' }), 2)
  t.equal(await app.metrics.value('latchkey_events_total', { type: 'session.created' }), 1)
  t.match(await app.inject({ method: 'GET', url: '/metrics' }), { body: /latchkey_webhook_pending_deliveries 0/ })

  // Events the endpoint did not ask for are not sent; an unknown id is null / false.
  t.equal(await app.webhooks.listDeliveries('wh_nope', { limit: 10 }), null)
  t.equal(await app.webhooks.deleteEndpoint('wh_nope'), false)
  t.equal((await app.inject({ method: 'POST', url: '/auth/logout', headers: bearer(accessToken) })).statusCode, 204)
})

t.test('500 then 204: two attempts of one delivery, one webhook-id, on the retry schedule; the log shows both', async (t) => {
  const hook = await receiver(t)
  hook.script.push(500)
  const clock = fakeClock()
  const app = await buildApp(t, stack, base, { clock, events: { background: false } })
  const endpoint = await app.webhooks.createEndpoint({ url: hook.url })
  t.match(endpoint, { id: /^wh_/, url: hook.url, events: [], secret: /^whsec_/ })
  await app.auditLog.record({ type: 'user.updated', userId: 'u1', data: { fields: ['name'] } })

  await deliver(app)
  t.equal(hook.received.length, 1)
  await deliver(app)
  t.equal(hook.received.length, 1, 'not again before its time')
  clock.at += RETRY_SCHEDULE_MS[0]! - 1
  await deliver(app)
  t.equal(hook.received.length, 1, 'not a millisecond early')
  clock.at += 1
  await deliver(app)
  t.equal(hook.received.length, 2, 'retried after about 5 s')
  t.equal(hook.received[0]!.headers['webhook-id'], hook.received[1]!.headers['webhook-id'], 'same webhook-id')
  clock.at += 3_600_000
  await deliver(app)
  t.equal(hook.received.length, 2, 'delivered once: never again')

  const log = await app.webhooks.listDeliveries(endpoint.id, { limit: 10 })
  t.match(log?.deliveries, [
    { attempt: 2, status: 204, outcome: 'delivered', nextAttemptAt: null, eventType: 'user.updated' },
    { attempt: 1, status: 500, outcome: 'http_error', nextAttemptAt: String }
  ])
  t.type(log?.deliveries[0]?.durationMs, 'number')
  const page = await app.webhooks.listDeliveries(endpoint.id, { limit: 1 })
  const rest = await app.webhooks.listDeliveries(endpoint.id, { limit: 1, cursor: page!.next! })
  t.same([page!.deliveries[0]!.attempt, rest!.deliveries[0]!.attempt, rest!.next], [2, 1, null], 'paged by cursor')
})

t.test('an answer that comes after the pass\'s MongoDB budget ran out is still recorded: the attempt has a budget of its own', async (t) => {
  // A receiver slower than the pass's budget (100 ms here, 10 s in the plugin; attempts may take
  // the whole 10 s receiver timeout).
  const slow = createServer((_request, response) => { setTimeout(() => { response.writeHead(204).end() }, 400) })
  await new Promise<void>((resolve) => slow.listen(0, '127.0.0.1', resolve))
  t.teardown(async () => { slow.closeAllConnections(); await new Promise((resolve) => slow.close(resolve)) })
  const app = await buildApp(t, stack, base, { events: { background: false } })
  const endpoint = await app.webhooks.createEndpoint({ url: `http://127.0.0.1:${(slow.address() as AddressInfo).port}/hook` })
  await app.auditLog.record({ type: 'user.updated', userId: 'u1', data: { fields: ['name'] } })

  t.equal(await withMongoBudget(100, async () => await app.webhooks.runDue()), 1, 'one attempt started by a pass with a 100 ms budget')
  await app.webhooks.settle()
  const log = await app.webhooks.listDeliveries(endpoint.id, { limit: 10 })
  t.match(log?.deliveries, [{ attempt: 1, status: 204, outcome: 'delivered', nextAttemptAt: null }], 'recorded, 400 ms later')
  await app.webhooks.runDue()
  await app.webhooks.settle()
  t.equal((await app.webhooks.listDeliveries(endpoint.id, { limit: 10 }))?.deliveries.length, 1, 'and not attempted again')
})

t.test('a failing endpoint: seven attempts then failed; five days of failures disable it, which is itself an event', async (t) => {
  const hook = await receiver(t, 503)
  const clock = fakeClock()
  const app = await buildApp(t, stack, base, { clock, events: { background: false } })
  const endpoint = await app.webhooks.createEndpoint({ url: hook.url, events: ['user.updated'] })
  await app.auditLog.record({ type: 'user.created', userId: 'u0', data: {} })
  await app.auditLog.record({ type: 'user.updated', userId: 'u1', data: {} })
  await deliver(app)
  for (const wait of RETRY_SCHEDULE_MS) {
    clock.at += wait
    await deliver(app)
  }
  clock.at += 86_400_000
  await deliver(app)
  t.equal(hook.received.length, 7, 'the first attempt and six retries, then no more')
  t.same(new Set(hook.received.map((request) => request.headers['webhook-id'])).size, 1, 'one event (the endpoint asked for user.updated only), one id')
  t.equal(await app.mongo.models.WebhookDelivery.countDocuments({ state: 'failed' }), 1)

  clock.at += DISABLE_AFTER_MS
  await app.auditLog.record({ type: 'user.updated', userId: 'u2', data: {} })
  await deliver(app)
  const [listed] = await app.webhooks.listEndpoints()
  t.type(listed?.disabledAt, 'string', 'disabled after five days of failures')
  const disabled = (await app.auditLog.list({ type: 'webhook.disabled', limit: 5 })).events
  t.match(disabled, [{ data: { endpointId: endpoint.id, host: `127.0.0.1:${hook.port}` } }])
  t.equal(await app.metrics.value('latchkey_webhook_endpoints_disabled_total'), 1)
  await app.auditLog.record({ type: 'user.updated', userId: 'u3', data: {} })
  await deliver(app)
  t.equal(hook.received.length, 8, 'nothing more is sent to a disabled endpoint')
  t.equal(await app.webhooks.deleteEndpoint(endpoint.id), true)
  t.same(await app.webhooks.listEndpoints(), [])
})

t.test('a receiver that hangs: the attempt times out and is retried with the same id', async (t) => {
  const hook = await receiver(t)
  hook.script.push('hang')
  const clock = fakeClock()
  const app = await buildApp(t, stack, base, { clock, events: { background: false, timeoutMs: 300 } })
  const endpoint = await app.webhooks.createEndpoint({ url: hook.url })
  await app.auditLog.record({ type: 'user.updated', userId: 'u1', data: {} })
  await deliver(app)
  const [first] = (await app.webhooks.listDeliveries(endpoint.id, { limit: 5 }))!.deliveries
  t.match(first, { attempt: 1, outcome: 'timeout', status: null })
  clock.at += RETRY_SCHEDULE_MS[0]!
  await deliver(app)
  t.equal(hook.received.length, 2)
  t.equal(hook.received[0]!.headers['webhook-id'], hook.received[1]!.headers['webhook-id'])
  t.equal(await app.mongo.models.WebhookDelivery.countDocuments({ state: 'delivered' }), 1)
})

t.test('an instance killed while its delivery hangs: another delivers it once the claim lapses', async (t) => {
  const hook = await receiver(t)
  hook.script.push('hang')
  const clock = fakeClock()
  const config = testConfig(stack, base)
  const doomed = await buildApp(t, stack, {}, { config, clock, events: { background: false, timeoutMs: 60_000 } })
  await doomed.webhooks.createEndpoint({ url: hook.url })
  await doomed.auditLog.record({ type: 'user.updated', userId: 'u1', data: {} })
  await doomed.webhooks.runDue()
  await pollUntil(async () => hook.received.length, (count) => count === 1)
  doomed.webhooks.halt()

  const restarted = await buildApp(t, stack, {}, { config, clock, events: { background: false, timeoutMs: 60_000 } })
  await deliver(restarted)
  t.equal(hook.received.length, 1, 'the dead instance\'s claim still holds')
  clock.at += 80_000
  await deliver(restarted)
  t.equal(hook.received.length, 2, 'delivered after the claim lapsed')
  t.equal(hook.received[0]!.headers['webhook-id'], hook.received[1]!.headers['webhook-id'])
  t.match(await restarted.mongo.models.WebhookDelivery.findOne({}).lean(), { state: 'delivered', attempts: 1 })
})

t.test('two instances: every attempt is made once, and a slow endpoint never has more than four at once', async (t) => {
  const hook = await receiver(t)
  const config = testConfig(stack, base)
  const [a, b] = await Promise.all([0, 1].map(async () => await buildApp(t, stack, {}, { config, events: { background: false } })))
  await a!.webhooks.createEndpoint({ url: hook.url })
  for (let i = 0; i < 30; i++) await a!.auditLog.record({ type: 'user.updated', userId: `u${i}`, data: {} })
  for (let pass = 0; pass < 20 && hook.received.length < 30; pass++) await deliver(a!, b!, a!, b!)
  const ids = hook.received.map((request) => request.headers['webhook-id'])
  t.equal(ids.length, 30, 'thirty deliveries')
  t.equal(new Set(ids).size, 30, 'each once')
  t.ok(hook.maxInFlight() <= 4, `at most four in flight to the endpoint (saw ${hook.maxInFlight()})`)
  t.equal(await a!.mongo.models.WebhookAttempt.countDocuments({}), 30, 'one logged attempt each')
})

t.test('SSRF: URLs and addresses that are refused', async (t) => {
  const strict = await buildApp(t, stack, { EMAIL_COOLDOWN: '0' }, { events: { background: false } })
  const hook = await receiver(t)
  for (const url of [
    hook.url, // http:// without WEBHOOK_ALLOW_PRIVATE
    `https://127.0.0.1:${hook.port}/hook`,
    'https://169.254.169.254/latest/meta-data',
    'https://[::1]/hook',
    'https://[::ffff:127.0.0.1]/hook',
    'https://[fe80::1]/hook',
    'https://[fd00::1]/hook',
    'https://0.0.0.0/hook',
    'https://user:pass@example.com/hook',
    'ftp://example.com/hook',
    'not a url'
  ]) {
    await t.rejects(strict.webhooks.createEndpoint({ url }), { code: 'VALIDATION_FAILED', statusCode: 400 }, url)
  }
  await t.rejects(strict.webhooks.createEndpoint({ url: 'https://example.com/hook', events: ['nope' as 'user.created'] }), { code: 'VALIDATION_FAILED' })

  const permissive = await buildApp(t, stack, base, { events: { background: false } })
  await t.rejects(permissive.webhooks.createEndpoint({ url: 'http://169.254.169.254/latest/meta-data' }), { code: 'VALIDATION_FAILED' }, 'metadata stays refused with WEBHOOK_ALLOW_PRIVATE')

  for (const address of ['127.0.0.1', '10.1.2.3', '172.16.0.1', '192.168.1.1', '169.254.169.254', '100.64.0.1', '0.0.0.0', '::1', '::', 'fc00::1', 'fd12::1', 'fe80::1', '::ffff:10.0.0.1', '::ffff:7f00:1', '0:0:0:0:0:ffff:a00:1']) {
    t.not(refusal(address, false), null, `${address} refused`)
  }
  for (const address of ['93.184.216.34', '2606:4700::1111']) t.equal(refusal(address, false), null, `${address} allowed`)
  for (const address of ['169.254.169.254', 'fe80::1', '::ffff:127.0.0.1']) t.not(refusal(address, true), null, `${address} refused even with WEBHOOK_ALLOW_PRIVATE`)
})

t.test('SSRF at delivery: a name resolving to 10.x is refused before any connection; a checked address is the one connected to', async (t) => {
  const asked: string[] = []
  const resolver: Resolver = async (hostname) => {
    asked.push(hostname)
    return [{ address: hostname === 'hook.test' ? '127.0.0.1' : '10.0.0.7', family: 4 }]
  }
  const clock = fakeClock()
  const strict = await buildApp(t, stack, {}, { clock, events: { background: false, resolver } })
  const endpoint = await strict.webhooks.createEndpoint({ url: 'https://internal.example/hook' })
  await strict.auditLog.record({ type: 'user.updated', userId: 'u1', data: {} })
  await deliver(strict)
  t.same(asked, ['internal.example'], 'resolved once')
  t.match((await strict.webhooks.listDeliveries(endpoint.id, { limit: 5 }))!.deliveries, [{ attempt: 1, outcome: 'blocked', status: null }])
  t.equal(await strict.metrics.value('latchkey_webhook_deliveries_total', { outcome: 'blocked' }), 1)

  // With the flag, hook.test (which no DNS knows) reaches the loopback receiver through the checked address.
  const hook = await receiver(t)
  const result = await safePost({ url: `http://hook.test:${hook.port}/hook`, headers: {}, body: '{}', allowPrivate: true, resolver, timeoutMs: 5000 })
  t.same(result, { kind: 'answered', status: 204 })
  t.equal(hook.received[0]?.headers.host, `hook.test:${hook.port}`, 'the Host header names the endpoint')

  // A redirect is an answer, never followed.
  hook.script.push({ status: 302, headers: { location: 'http://169.254.169.254/' } })
  const redirected = await safePost({ url: hook.url, headers: {}, body: '{}', allowPrivate: true, resolver, timeoutMs: 5000 })
  t.same(redirected, { kind: 'answered', status: 302 })
  t.equal(hook.received.length, 2, 'one request, no follow-up')
})

t.test('in the background, with no pass driven by hand: a sign-up reaches the endpoint', async (t) => {
  const hook = await receiver(t)
  const secret = `whsec_${Buffer.from('0123456789abcdef0123456789abcdef').toString('base64')}`
  const app = await buildApp(t, stack, { ...base, WEBHOOK_URL: hook.url, WEBHOOK_SECRET: secret }, { events: { intervalMs: 50 } })
  await signUp(app, stack)
  const count = await pollUntil(async () => hook.received.length, (received) => received >= 2, { timeoutMs: 10_000 })
  t.equal(count, 2, 'user.created and session.created delivered by the background passes')
})
