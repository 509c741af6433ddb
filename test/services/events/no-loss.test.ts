import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { FastifyInstance } from 'fastify'
import t, { type Test } from 'tap'
import { setFaultHook } from '../../../services/infrastructure/fault-points.js'
import { PENDING_WINDOW_MS } from '../../../services/events/outbox.js'
import { bearer, buildApp, codeFrom, json, signUp, startStack, testConfig, tokenFrom, uniqueEmail, type Stack } from '../../helper.js'

/**
 * Nothing lost between an action and its event (issue 21 item 2). A request is stopped dead at
 * each fault point of a sign-in, a sign-up, a logout and an account deletion: the hook parks it
 * forever, so nothing after that point ever runs, which is what `kill -9` there leaves in MongoDB.
 * A fresh instance then starts on the same databases ("the restart"). Afterwards a committed action
 * has its event and an action that did not commit has none.
 */
const stack = await startStack(t)
const relaxed = { EMAIL_COOLDOWN: '0', EMAIL_HOURLY_LIMIT: '100000' }
let now = Date.now()
const clock = { now: () => now }

async function requestCode (app: FastifyInstance, stack: Stack, email: string): Promise<string> {
  const before = stack.smtp.inbox(email).length
  await app.inject({ method: 'POST', url: '/auth/otp', payload: { email } })
  return codeFrom(await stack.smtp.waitForMail(email, { count: before + 1 }))
}

/** The doomed instance: no background work of its own (it is about to die). */
async function instance (test: Test, config: ReturnType<typeof testConfig>, restart = false) {
  return await buildApp(test, stack, {}, { config, clock, dataLossCheckMs: restart ? 10_000 : 3_600_000, events: { background: false } })
}

/** Runs `action` on `app` and stops it dead at `point`; resolves once the point is reached. */
async function killAt (point: string, action: () => Promise<unknown>): Promise<void> {
  let reached!: () => void
  const atPoint = new Promise<void>((resolve) => { reached = resolve })
  setFaultHook((name) => {
    if (name !== point) return undefined
    setFaultHook(undefined)
    reached()
    return new Promise<void>(() => {}) // never continues
  })
  void action().catch(() => {})
  await atPoint
}

/** The restarted instance settles everything: boot (the data-loss watch completes journal entries), then the outbox, then again past the pending window. */
async function restartAndSettle (test: Test, config: ReturnType<typeof testConfig>): Promise<FastifyInstance> {
  const app = await instance(test, config, true)
  await app.outbox.reconcile()
  now += PENDING_WINDOW_MS + 1000
  await app.outbox.reconcile()
  return app
}

/** A user's event types, sorted (the frozen clock gives many of them one millisecond). */
const typesOf = async (app: FastifyInstance, userId: string): Promise<string[]> =>
  (await app.auditLog.list({ userId, limit: 100 })).events.map((event) => event.type).sort()

for (const [point, committed] of [['session:event-written', false], ['session:inserted', true]] as const) {
  t.test(`sign-in killed at ${point}: ${committed ? 'the session exists and so does its event' : 'no session, no event'}`, async (t) => {
    const config = testConfig(stack, relaxed)
    const doomed = await instance(t, config)
    const email = uniqueEmail('crash')
    const { user } = await signUp(doomed, stack, email)
    await doomed.outbox.reconcile()
    const code = await requestCode(doomed, stack, email)
    await killAt(point, async () => await doomed.inject({ method: 'POST', url: '/auth/otp/verify', payload: { email, code } }))

    const app = await restartAndSettle(t, config)
    const sessions = await app.mongo.models.Session.countDocuments({ userId: user.id })
    t.equal(sessions, committed ? 2 : 1)
    t.same(await typesOf(app, user.id), committed ? ['session.created', 'session.created', 'user.created'] : ['session.created', 'user.created'])
    t.equal(await app.mongo.models.AuditEvent.countDocuments({ pending: true }), 0, 'nothing left pending')
  })
}

for (const [point, committed] of [['session:event-written', false], ['session:inserted', false], ['signup:user-inserted', true]] as const) {
  t.test(`sign-up killed at ${point}: ${committed ? 'the account and its events' : 'no account, no event'}`, async (t) => {
    const config = testConfig(stack, relaxed)
    const doomed = await instance(t, config)
    const email = uniqueEmail('crash')
    await doomed.inject({ method: 'POST', url: '/auth/magic-link', payload: { email } })
    const token = tokenFrom(await stack.smtp.waitForMail(email))
    await killAt(point, async () => await doomed.inject({ method: 'POST', url: `/auth/signup?token=${token}`, payload: { email, name: 'Crash' } }))

    const app = await restartAndSettle(t, config)
    const user = await app.mongo.models.User.findOne({ email }).lean()
    t.equal(user !== null, committed, committed ? 'the account exists' : 'no account')
    const events = await app.mongo.models.AuditEvent.find({}).lean()
    t.same(events.map((event) => event.type).sort(), committed ? ['session.created', 'user.created'] : [])
    if (committed) t.ok(events.every((event) => event.userId === user!._id.toString() && event.pending === false))
  })
}

for (const point of ['revoke:journal-written', 'revoke:applied']) {
  t.test(`logout killed at ${point}: the journal entry is the commit point, so the session dies and its event exists`, async (t) => {
    const config = testConfig(stack, relaxed)
    const doomed = await instance(t, config)
    const { user, accessToken } = await signUp(doomed, stack)
    await killAt(point, async () => await doomed.inject({ method: 'POST', url: '/auth/logout', headers: bearer(accessToken) }))

    const app = await restartAndSettle(t, config)
    t.equal((await app.inject({ method: 'GET', url: '/auth/me', headers: bearer(accessToken) })).statusCode, 401, 'the logout completed')
    t.same(await typesOf(app, user.id), ['session.created', 'session.revoked', 'user.created'])
    const [revoked] = (await app.auditLog.list({ userId: user.id, type: 'session.revoked', limit: 5 })).events
    t.equal(revoked?.data.reason, 'logout')
  })

  t.test(`account deletion killed at ${point}: the account goes, with user.deleted and one session.revoked per session`, async (t) => {
    const config = testConfig(stack, relaxed)
    const doomed = await instance(t, config)
    const email = uniqueEmail('crash')
    const { user, accessToken } = await signUp(doomed, stack, email)
    const second = json(await doomed.inject({ method: 'POST', url: '/auth/otp/verify', payload: { email, code: await requestCode(doomed, stack, email) } }))
    t.ok(second.accessToken)
    await killAt(point, async () => await doomed.inject({ method: 'DELETE', url: '/auth/me', headers: bearer(accessToken) }))

    const app = await restartAndSettle(t, config)
    t.equal(await app.mongo.models.User.countDocuments({ _id: user.id }), 0, 'the deletion completed')
    // The sign-ins' sessions are gone with the account: their recorded end confirms them.
    t.same(await typesOf(app, user.id), ['session.created', 'session.created', 'session.revoked', 'session.revoked', 'user.created', 'user.deleted'])
  })
}

t.test('a kill before the journal entry leaves a live session and no revocation event', async (t) => {
  const config = testConfig(stack, relaxed)
  const app = await instance(t, config, true)
  const { user, accessToken } = await signUp(app, stack)
  await app.outbox.reconcile()
  t.equal((await app.inject({ method: 'GET', url: '/auth/me', headers: bearer(accessToken) })).statusCode, 200)
  t.same(await typesOf(app, user.id), ['session.created', 'user.created'])
})

t.test('the events of actions killed after their commit point are delivered by the restarted instance', async (t) => {
  const received: string[] = []
  const server = createServer((request, response) => {
    request.resume()
    request.on('end', () => { received.push(String(request.headers['webhook-id'])); response.writeHead(204).end() })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { server.close() })
  const { port } = server.address() as AddressInfo
  const config = testConfig(stack, { ...relaxed, WEBHOOK_ALLOW_PRIVATE: 'true', WEBHOOK_URL: `http://127.0.0.1:${port}/hook`, WEBHOOK_SECRET: `whsec_${Buffer.from('a'.repeat(32)).toString('base64')}` })
  const doomed = await instance(t, config)
  const email = uniqueEmail('crash')
  const { user, accessToken } = await signUp(doomed, stack, email)
  const code = await requestCode(doomed, stack, email)
  await killAt('session:inserted', async () => await doomed.inject({ method: 'POST', url: '/auth/otp/verify', payload: { email, code } }))
  await killAt('revoke:journal-written', async () => await doomed.inject({ method: 'POST', url: '/auth/logout', headers: bearer(accessToken) }))

  const app = await restartAndSettle(t, config)
  await app.webhooks.runDue()
  await app.webhooks.settle()
  const events = (await app.auditLog.list({ userId: user.id, limit: 10 })).events
  t.same(events.map((event) => event.type).sort(), ['session.created', 'session.created', 'session.revoked', 'user.created'])
  t.same(received.sort(), events.map((event) => event.id).sort(), 'each committed event delivered once')
})
