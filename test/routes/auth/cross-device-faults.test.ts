/**
 * Cross-device waits when Redis fails: a clear final event or a 503, never a hang; the pub/sub
 * subscriber recovers by itself (Redis restarted, or only its connection killed). Its own stack,
 * since it stops, freezes and restarts Redis.
 */
import t from 'tap'
import { json, pollUntil, startStack, testConfig, uniqueEmail } from '../../helper.js'
import { browser, csrfOf } from '../pages/page-client.js'
import { approvalTokenFrom, askCrossDevice, openEvents, secretHeader, serveInstance } from '../../cross-device.js'

const stack = await startStack(t)

const subscribers = async (): Promise<number> => ((await stack.redis.admin.pubsub('NUMSUB', 'lk:xd:events')) as [string, number])[1]

t.test('Redis stopped: the open stream ends with `unavailable`; new waits and requests get 503; after the restart pub/sub works again', async (t) => {
  const config = testConfig(stack, { EMAIL_COOLDOWN: '0' })
  const a = await serveInstance(t, config, { recheckMs: 3_600_000, degradedPollMs: 200 })
  const b = await serveInstance(t, config, { recheckMs: 3_600_000, degradedPollMs: 200 })
  const ticket = await askCrossDevice(a.app, uniqueEmail('xd.down'))
  const stream = await openEvents(`${a.origin}/auth/magic-link/requests/${ticket.requestId}/events`, secretHeader(ticket.deviceSecret))
  t.equal((await stream.next())?.event, 'pending')

  await stack.redis.stop()
  t.match(await stream.next(5_000), { event: 'unavailable', data: { retryAfter: 1, message: /unavailable/ } }, 'a clear final event, not silence')
  t.equal(await stream.next(), null, 'and the stream ends')

  const again = await openEvents(`${a.origin}/auth/magic-link/requests/${ticket.requestId}/events`, secretHeader(ticket.deviceSecret))
  t.equal(again.status, 503, 'a new stream: 503')
  t.equal(again.headers['retry-after'], '1')
  const longPoll = await b.app.inject({ method: 'GET', url: `/auth/magic-link/requests/${ticket.requestId}/outcome?wait=5`, headers: secretHeader(ticket.deviceSecret) })
  t.equal(longPoll.statusCode, 503, 'a long-poll: 503')
  t.equal(json(longPoll).code, 'SERVICE_UNAVAILABLE')
  const asked = await a.app.inject({ method: 'POST', url: '/auth/magic-link', payload: { email: uniqueEmail(), crossDevice: true } })
  t.equal(asked.statusCode, 503, 'a new request: 503')
  t.equal(asked.headers['retry-after'], '1')

  await stack.redis.start()
  const back = await pollUntil(async () => a.app.crossDeviceEvents.available && b.app.crossDeviceEvents.available, (ready) => ready, { timeoutMs: 10_000 })
  t.ok(back, 'both subscribers are back without a restart of the app')
  t.equal(await subscribers(), 2, 'and subscribed again')

  // The restarted Redis is empty: a new request, a stream on A, approval on B, delivered by pub/sub
  // alone (no re-read for an hour).
  const email = uniqueEmail('xd.recovered')
  const fresh = await askCrossDevice(a.app, email)
  const token = approvalTokenFrom(await stack.smtp.waitForMail(email))
  const onA = await openEvents(`${a.origin}/auth/magic-link/requests/${fresh.requestId}/events`, secretHeader(fresh.deviceSecret))
  t.equal((await onA.next())?.event, 'pending')
  const phone = browser(b.app)
  const page = await phone.request({ method: 'GET', url: `/auth/magic-link/approve?token=${token}` })
  await phone.submit('/auth/magic-link/approve', { csrf: csrfOf(page.body), token, choice: String(fresh.matchNumber), name: 'Recovered' })
  t.match(await onA.next(), { event: 'approved', data: { user: { email }, accessToken: String } })
})

t.test('the subscriber connection alone is killed: waits carry on by polling, and the subscriber reconnects and resubscribes', async (t) => {
  const config = testConfig(stack, { EMAIL_COOLDOWN: '0' })
  const a = await serveInstance(t, config, { recheckMs: 3_600_000, degradedPollMs: 200 })
  const email = uniqueEmail('xd.killed')
  const ticket = await askCrossDevice(a.app, email)
  const token = approvalTokenFrom(await stack.smtp.waitForMail(email))
  const stream = await openEvents(`${a.origin}/auth/magic-link/requests/${ticket.requestId}/events`, secretHeader(ticket.deviceSecret))
  t.equal((await stream.next())?.event, 'pending')
  t.equal(await subscribers(), 1)

  await stack.redis.admin.call('CLIENT', 'KILL', 'TYPE', 'pubsub')
  const phone = browser(a.app)
  const page = await phone.request({ method: 'GET', url: `/auth/magic-link/approve?token=${token}` })
  await phone.submit('/auth/magic-link/approve', { csrf: csrfOf(page.body), token, choice: String(ticket.matchNumber), name: 'Killed' })
  t.match(await stream.next(5_000), { event: 'approved', data: { user: { email } } }, 'the approval still arrives')
  t.equal(await pollUntil(subscribers, (count) => count === 1), 1, 'the subscriber is back')
  t.ok(a.app.crossDeviceEvents.available)

  const second = uniqueEmail('xd.killed.after')
  const next = await askCrossDevice(a.app, second)
  const nextToken = approvalTokenFrom(await stack.smtp.waitForMail(second))
  const after = await openEvents(`${a.origin}/auth/magic-link/requests/${next.requestId}/events`, secretHeader(next.deviceSecret))
  t.equal((await after.next())?.event, 'pending')
  const again = await phone.request({ method: 'GET', url: `/auth/magic-link/approve?token=${nextToken}` })
  await phone.submit('/auth/magic-link/approve', { csrf: csrfOf(again.body), token: nextToken, decision: 'deny' })
  t.match(await after.next(), { event: 'denied' }, 'delivered through the new subscription (no re-read for an hour)')
})

t.test('Redis frozen: an open stream ends with `unavailable` (bounded by REDIS_TIMEOUT), a new one gets 503', async (t) => {
  const config = testConfig(stack, { EMAIL_COOLDOWN: '0' })
  const a = await serveInstance(t, config, { recheckMs: 300 })
  const ticket = await askCrossDevice(a.app, uniqueEmail('xd.frozen'))
  const stream = await openEvents(`${a.origin}/auth/magic-link/requests/${ticket.requestId}/events`, secretHeader(ticket.deviceSecret))
  t.equal((await stream.next())?.event, 'pending')

  stack.redis.pause()
  t.teardown(() => stack.redis.resume())
  t.match(await stream.next(5_000), { event: 'unavailable' }, 'the safety re-read times out and says so')
  const started = performance.now()
  const again = await openEvents(`${a.origin}/auth/magic-link/requests/${ticket.requestId}/events`, secretHeader(ticket.deviceSecret))
  const ms = performance.now() - started
  t.equal(again.status, 503)
  t.ok(ms < 3_000, `503 in ${Math.round(ms)} ms (bound 3 s; REDIS_TIMEOUT is 500 ms)`)
  stack.redis.resume()
})
