import type { FastifyInstance } from 'fastify'
import t from 'tap'
import { bearer, buildApp, codeFrom, json, signUp, startStack, tokenFrom, uniqueEmail, type Stack } from '../../helper.js'

/**
 * The event catalogue from the existing flows (SPEC "Events", issue 21 item 1): each flow's events,
 * one session.revoked per revoked session (logout-all included), and no secret in any event.
 */
const stack = await startStack(t)
const relaxed = { EMAIL_COOLDOWN: '0', EMAIL_HOURLY_LIMIT: '100000' }
const browser = { 'user-agent': 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Safari/605.1.15' }

async function requestCode (app: FastifyInstance, stack: Stack, email: string): Promise<string> {
  const before = stack.smtp.inbox(email).length
  const response = await app.inject({ method: 'POST', url: '/auth/otp', payload: { email } })
  if (response.statusCode !== 202) throw new Error(`otp request failed: ${response.statusCode}`)
  return codeFrom(await stack.smtp.waitForMail(email, { count: before + 1 }))
}

/** Every event of a user, oldest first, once the outbox has settled (and derived) what is pending. */
async function eventsOf (app: FastifyInstance, userId: string) {
  await app.outbox.reconcile()
  return (await app.auditLog.list({ userId, limit: 100 })).events.reverse()
}

t.test('sign-up, sign-ins, rename, logouts and deletion each leave their events, and only them', async (t) => {
  const app = await buildApp(t, stack, relaxed, { events: { background: false } })
  const email = uniqueEmail('events')
  const secrets: string[] = []

  // Sign-up with a magic link: user.created then session.created, with method, IP and device.
  await app.inject({ method: 'POST', url: '/auth/magic-link', payload: { email } })
  const linkToken = tokenFrom(await stack.smtp.waitForMail(email))
  secrets.push(linkToken)
  const signup = await app.inject({ method: 'POST', url: `/auth/signup?token=${linkToken}`, headers: browser, payload: { email, name: 'Ada' } })
  t.equal(signup.statusCode, 201)
  const first = json(signup)
  secrets.push(first.accessToken, first.refreshToken)
  const userId: string = first.user.id

  t.same((await app.auditLog.list({ userId, limit: 10 })).events, [], 'prepared events are not listed before the outbox confirms them')
  let events = await eventsOf(app, userId)
  t.same(events.map((event) => event.type), ['user.created', 'session.created'])
  t.match(events[0], { data: { email, name: 'Ada' } })
  t.match(events[1], { sessionId: String, ip: '127.0.0.1', userAgent: browser['user-agent'], data: { method: 'magic_link', device: 'Safari on macOS' } })

  // A code sign-in, then a second and third device.
  const code = await requestCode(app, stack, email)
  secrets.push(code)
  const otp = json(await app.inject({ method: 'POST', url: '/auth/otp/verify', payload: { email, code } }))
  secrets.push(otp.accessToken, otp.refreshToken)
  const third = json(await app.inject({ method: 'POST', url: '/auth/otp/verify', payload: { email, code: await requestCode(app, stack, email) } }))
  const fourth = json(await app.inject({ method: 'POST', url: '/auth/otp/verify', payload: { email, code: await requestCode(app, stack, email) } }))
  secrets.push(third.accessToken, third.refreshToken, fourth.accessToken, fourth.refreshToken)

  t.equal((await app.inject({ method: 'PATCH', url: '/auth/me', headers: bearer(first.accessToken), payload: { name: 'Ada L.' } })).statusCode, 200)
  t.equal((await app.inject({ method: 'POST', url: '/auth/logout', headers: bearer(otp.accessToken) })).statusCode, 204)
  const sessions = json(await app.inject({ method: 'GET', url: '/auth/sessions', headers: bearer(first.accessToken) }))
  const fourthSession = sessions.find((session: { current: boolean, id: string }) => !session.current && session.id !== undefined && session.id !== events[1]!.sessionId)
  // One session of the three left, revoked from the first.
  t.equal((await app.inject({ method: 'DELETE', url: `/auth/sessions/${fourthSession.id as string}`, headers: bearer(first.accessToken) })).statusCode, 204)
  t.equal((await app.inject({ method: 'POST', url: '/auth/logout-all', headers: bearer(first.accessToken) })).statusCode, 204)

  events = await eventsOf(app, userId)
  t.same(events.map((event) => event.type), [
    'user.created', 'session.created', 'session.created', 'session.created', 'session.created',
    'user.updated', 'session.revoked', 'session.revoked', 'session.revoked', 'session.revoked'
  ])
  t.same(events.slice(2, 5).map((event) => event.data.method), ['otp', 'otp', 'otp'])
  t.match(events[5], { data: { fields: ['name'] } })
  const revoked = events.filter((event) => event.type === 'session.revoked')
  t.same(revoked.map((event) => event.data.reason), ['logout', 'session_deleted', 'logout_all', 'logout_all'], 'logout-all: one event per session it revoked')
  t.same(new Set(revoked.map((event) => event.sessionId)).size, 4, 'each session once')

  // Deletion: user.deleted and one session.revoked for each live session.
  const again = json(await app.inject({ method: 'POST', url: '/auth/otp/verify', payload: { email, code: await requestCode(app, stack, email) } }))
  const other = json(await app.inject({ method: 'POST', url: '/auth/otp/verify', payload: { email, code: await requestCode(app, stack, email) } }))
  secrets.push(again.accessToken, again.refreshToken, other.accessToken, other.refreshToken)
  t.equal((await app.inject({ method: 'DELETE', url: '/auth/me', headers: bearer(again.accessToken) })).statusCode, 204)
  events = await eventsOf(app, userId)
  const tail = events.slice(-3)
  t.same(tail.map((event) => event.type).sort(), ['session.revoked', 'session.revoked', 'user.deleted'])
  t.same(tail.filter((event) => event.type === 'session.revoked').map((event) => event.data.reason), ['account_deleted', 'account_deleted'])

  // A second pass derives nothing twice.
  const report = await app.outbox.reconcile()
  t.same(report, { confirmed: 0, dropped: 0, derived: 0 })
  t.equal((await eventsOf(app, userId)).length, events.length)

  // No secret, code, token or password anywhere in the stored events.
  const stored = JSON.stringify(await app.mongo.models.AuditEvent.find({}).lean())
  for (const secret of secrets) t.notOk(stored.includes(secret), 'no token or code in any event')
})

t.test('otp.locked when a wrong guess uses the last attempt', async (t) => {
  const app = await buildApp(t, stack, relaxed, { events: { background: false } })
  const email = uniqueEmail('locked')
  const { user } = await signUp(app, stack, email)
  const code = await requestCode(app, stack, email)
  const wrong = ((Number(code) + 1) % 1_000_000).toString().padStart(6, '0')
  const answers = []
  for (let i = 0; i < 5; i++) answers.push((await app.inject({ method: 'POST', url: '/auth/otp/verify', payload: { email, code: wrong } })).statusCode)
  t.equal(answers.at(-1), 429)
  const locked = (await eventsOf(app, user.id)).filter((event) => event.type === 'otp.locked')
  t.equal(locked.length, 1, 'one otp.locked')
  t.notOk(JSON.stringify(locked).includes(code) || JSON.stringify(locked).includes(wrong), 'neither the code nor the guess')
})

t.test('no token, code or webhook secret in any log line, at trace level, through sign-ins, deliveries and failures', async (t) => {
  const lines: string[] = []
  const secret = `whsec_${Buffer.from('fedcba9876543210fedcba9876543210').toString('base64')}`
  // A receiver that is never there: every attempt fails and is logged as it may be.
  const app = await buildApp(t, stack, { ...relaxed, LOG_LEVEL: 'trace', NOTIFY_NEW_DEVICE: 'true', WEBHOOK_ALLOW_PRIVATE: 'true', WEBHOOK_URL: 'http://127.0.0.1:9/hook', WEBHOOK_SECRET: secret },
    { events: { background: false, timeoutMs: 500 }, logStream: { write: (line) => { lines.push(line) } } })
  const email = uniqueEmail('logs')
  const first = await signUp(app, stack, email)
  const code = await requestCode(app, stack, email)
  const second = json(await app.inject({ method: 'POST', url: '/auth/otp/verify', headers: browser, payload: { email, code } }))
  await app.outbox.reconcile()
  await app.webhooks.runDue()
  await app.webhooks.settle()
  await app.inject({ method: 'GET', url: '/auth/activity', headers: bearer(second.accessToken) })
  await app.inject({ method: 'POST', url: '/auth/logout', headers: bearer(first.accessToken) })
  t.ok(lines.length > 0, `${lines.length} log lines`)
  const log = lines.join('\n')
  for (const value of [first.accessToken, first.refreshToken, second.accessToken, second.refreshToken, code, secret, secret.slice(6)]) {
    t.notOk(log.includes(value), 'not in the log')
  }
})
