/**
 * Cross-device sign-in through the API and the approval page: the request, the emailed link, number
 * matching, exactly-once approval and claim (raced on two instances), the SSE stream and the
 * long-poll across instances, denial, expiry, secrets at rest and in logs, limits, shutdown.
 */
import type { FastifyInstance } from 'fastify'
import t, { type Test } from 'tap'
import { bearer, buildApp, json, pollUntil, signUp, startStack, testConfig, uniqueEmail } from '../../helper.js'
import { browser, csrfOf } from '../pages/page-client.js'
import { MATCH_NUMBERS, matchNumber } from '../../../services/links/cross-device.js'
import { approvalTokenFrom, askCrossDevice, asksToTypeNumber, openEvents, secretHeader, serveInstance, twoDigits, wrongNumber } from '../../cross-device.js'

const stack = await startStack(t)

const CHROME_ON_MAC = 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36'

/** Asks on `desktop`, opens the emailed link on `phone`: the phone's cookie jar, the token and the page's CSRF token. */
async function askAndOpen (desktop: FastifyInstance, phone: FastifyInstance, email: string, mailCount = 1) {
  const ticket = await askCrossDevice(desktop, email, { 'user-agent': CHROME_ON_MAC }, '203.0.113.7')
  const token = approvalTokenFrom(await stack.smtp.waitForMail(email, { count: mailCount }))
  const person = browser(phone)
  const page = await person.request({ method: 'GET', url: `/auth/magic-link/approve?token=${token}` })
  return { ticket, token, person, page, csrf: csrfOf(page.body) }
}

async function poll (app: FastifyInstance, requestId: string, deviceSecret: string, wait = 0) {
  return await app.inject({ method: 'GET', url: `/auth/magic-link/requests/${requestId}/outcome?wait=${wait}`, headers: secretHeader(deviceSecret) })
}

const sleep = async (ms: number): Promise<void> => { await new Promise((resolve) => setTimeout(resolve, ms)) }

/**
 * Holds every session `app` starts (a claim, after its script ran and its session was written)
 * until `release()`: the window in which a wait's deadline, a shutdown or the client leaving used
 * to drop the token pair. `entered(n)` resolves once n claims are held.
 */
function stallClaims (t: Test, app: FastifyInstance) {
  const start = app.sessions.startSession.bind(app.sessions)
  let open = (): void => {}
  const gate = new Promise<void>((resolve) => { open = resolve })
  let held = 0
  app.sessions.startSession = async (...args: Parameters<typeof start>) => {
    const started = await start(...args)
    held++
    await gate
    return started
  }
  const restore = (): void => { app.sessions.startSession = start; open() }
  t.teardown(restore)
  return { entered: async (n = 1) => await pollUntil(async () => held, (count) => count >= n, { timeoutMs: 5_000 }), release: open, restore }
}

/** Live cross-device sessions of a user (a session whose tokens nobody holds would be an orphan). */
const liveSessions = async (app: FastifyInstance, userId: string): Promise<number> =>
  await app.mongo.models.Session.countDocuments({ userId, method: 'cross-device', revokedAt: null })

t.test('crossDevice: the same 202 body shape for known and unknown addresses; the email carries the approval link, never the device secret', async (t) => {
  const app = await buildApp(t, stack, { EMAIL_COOLDOWN: '0' })
  const { user } = await signUp(app, stack)
  const unknown = uniqueEmail('xd.unknown')

  const known = await app.inject({ method: 'POST', url: '/auth/magic-link', payload: { email: user.email, crossDevice: true } })
  const fresh = await app.inject({ method: 'POST', url: '/auth/magic-link', payload: { email: unknown, crossDevice: true } })
  t.equal(known.statusCode, 202)
  t.equal(fresh.statusCode, 202)
  const [a, b] = [json(known), json(fresh)]
  t.same(Object.keys(a).sort(), ['deviceSecret', 'expiresIn', 'matchNumber', 'message', 'requestId'])
  t.same(Object.keys(b).sort(), Object.keys(a).sort(), 'same keys for known and unknown')
  t.equal(a.message, b.message, 'same message')
  t.equal(a.expiresIn, 900, 'the link TTL')
  for (const body of [a, b]) {
    t.match(body.requestId, /^[A-Za-z0-9_-]{22}$/)
    t.match(body.deviceSecret, /^[A-Za-z0-9_-]{43}$/)
    t.ok(Number.isInteger(body.matchNumber) && body.matchNumber >= 0 && body.matchNumber <= 99, 'a match number of 00 to 99')
  }
  t.not(a.deviceSecret, b.deviceSecret)
  t.same(Object.keys(json(await app.inject({ method: 'POST', url: '/auth/magic-link', payload: { email: uniqueEmail() } }))), ['message'], 'a plain link request answers as before')

  const loginMail = await stack.smtp.waitForMail(user.email, { count: 2 })
  const signupMail = await stack.smtp.waitForMail(unknown)
  t.match(loginMail.subject, /Approve your Latchkey sign-in/)
  t.match(signupMail.subject, /Approve creating your Latchkey account/)
  for (const [mail, body] of [[loginMail, a], [signupMail, b]] as const) {
    const token = approvalTokenFrom(mail)
    t.match(mail.text, `http://latchkey.test/auth/magic-link/approve?token=${token}`, 'the link is built from APP_URL')
    t.notOk(`${mail.text}${mail.html}${mail.subject}`.includes(body.deviceSecret), 'the device secret is not in the email')
    t.notOk(new RegExp(`\\b${twoDigits(body.matchNumber)}\\b`).test((mail.text ?? '').replace(/expires in \d+ minutes/, '')), 'the match number is not in the email')
  }

  const withRedirect = await app.inject({ method: 'POST', url: '/auth/magic-link', payload: { email: uniqueEmail(), crossDevice: true, redirectTo: '/x' } })
  t.equal(withRedirect.statusCode, 400, 'redirectTo has no meaning here: the tokens come back to the client that asked')
  t.equal(json(withRedirect).code, 'VALIDATION_FAILED')
  const notBoolean = await app.inject({ method: 'POST', url: '/auth/magic-link', payload: { email: uniqueEmail(), crossDevice: 'true' } })
  t.equal(notBoolean.statusCode, 400, 'crossDevice must be a boolean')
})

t.test('the approval page: who asks, from where, when; a field to type the number, never the number; GET and HEAD change nothing', async (t) => {
  // A clock that stands still: "still pending after every GET" compares the whole body, expiresIn
  // included, which a slow machine would otherwise see tick from 900 to 899 between the GETs.
  const now = Date.now()
  const app = await buildApp(t, stack, {}, { clock: { now: () => now } })
  const email = uniqueEmail('xd.page')
  const { ticket, token, person, page } = await askAndOpen(app, app, email)

  t.equal(page.statusCode, 200)
  t.equal(page.headers['cache-control'], 'no-store')
  t.equal(page.headers['referrer-policy'], 'no-referrer')
  t.match(page.body, /Chrome on macOS/, 'the browser and system of the asking device')
  t.match(page.body, /near <strong>203\.0\.113\.x<\/strong>/, 'a coarse network location, not the full address')
  t.notMatch(page.body, /203\.0\.113\.7/)
  t.match(page.body, /just now\?/)
  t.match(page.body, /Type the number shown on the device that asked/)
  t.ok(asksToTypeNumber(page.body), 'a field to type the number, no numbers to pick from')
  t.notMatch(page.body.replace(/<input type="hidden"[^>]*>/g, ''), new RegExp(`\\b${twoDigits(ticket.matchNumber)}\\b`), 'the number is not on the page')
  t.notOk(page.body.includes(ticket.deviceSecret))

  for (let i = 0; i < 3; i++) {
    const again = await person.request({ method: 'GET', url: `/auth/magic-link/approve?token=${token}` })
    t.ok(asksToTypeNumber(again.body), `load #${i + 2}: still only the field (reloading reveals nothing)`)
  }
  const head = await app.inject({ method: 'HEAD', url: `/auth/magic-link/approve?token=${token}` })
  t.equal(head.statusCode, 200, 'a scanner HEAD answers')
  const scanner = await app.inject({ method: 'GET', url: `/auth/magic-link/approve?token=${token}`, headers: { 'user-agent': 'SafeLinks-Scanner/1.0' } })
  t.equal(scanner.statusCode, 200)
  t.same(json(await poll(app, ticket.requestId, ticket.deviceSecret)), { status: 'pending', matchNumber: ticket.matchNumber, expiresIn: 900 }, 'still pending after every GET')

  t.equal((await app.inject({ method: 'GET', url: `/auth/magic-link/approve?token=${token.slice(0, 22)}${'A'.repeat(43)}` })).statusCode, 410, 'a forged token for the same request → 410')
  t.equal((await app.inject({ method: 'GET', url: '/auth/magic-link/approve?token=nope' })).statusCode, 410)
  t.equal((await app.inject({ method: 'GET', url: '/auth/magic-link/approve' })).statusCode, 410, 'no token → the expired-link page')
})

t.test('approving with the right number: the waiting device gets one token pair, exactly once; the phone is not signed in', async (t) => {
  const app = await buildApp(t, stack, { EMAIL_COOLDOWN: '0' })
  const { user } = await signUp(app, stack)
  const { ticket, person, csrf, token } = await askAndOpen(app, app, user.email, 2)
  const sessionsBefore = await app.mongo.models.Session.countDocuments({ userId: user.id })

  const forged = await person.submit('/auth/magic-link/approve', { token, choice: String(ticket.matchNumber) })
  t.equal(forged.statusCode, 403, 'no CSRF token → 403')
  t.equal(json(await poll(app, ticket.requestId, ticket.deviceSecret)).status, 'pending', 'and nothing was decided')

  const approved = await person.submit('/auth/magic-link/approve', { csrf, token, choice: String(ticket.matchNumber) })
  t.equal(approved.statusCode, 200)
  t.match(approved.body, /Approved/)
  t.match(approved.body, /Chrome on macOS is signing in now/)
  t.notOk(approved.cookies.some((cookie) => cookie.name === 'lk_at'), 'the phone got no session cookie')
  t.equal(await app.mongo.models.Session.countDocuments({ userId: user.id }), sessionsBefore, 'approving started no session')

  const claimed = await poll(app, ticket.requestId, ticket.deviceSecret)
  t.equal(claimed.statusCode, 200)
  const body = json(claimed)
  t.match(body, { status: 'approved', user: { id: user.id, email: user.email }, accessToken: String, refreshToken: String, expiresIn: 900 })
  t.notOk('sessionId' in body)
  const me = await app.inject({ method: 'GET', url: '/auth/me', headers: bearer(body.accessToken) })
  t.equal(me.statusCode, 200, 'the access token works')
  const session = await app.mongo.models.Session.findOne({ userId: user.id }).sort({ _id: -1 }).lean()
  t.equal(session?.method, 'cross-device')
  t.equal(await app.mongo.models.Session.countDocuments({ userId: user.id }), sessionsBefore + 1, 'one session, for the waiting device')

  const again = await poll(app, ticket.requestId, ticket.deviceSecret)
  t.equal(again.statusCode, 410, 'the device secret is used up')
  t.equal(json(again).code, 'MAGIC_LINK_INVALID')
  const reapprove = await person.submit('/auth/magic-link/approve', { csrf, token, choice: String(ticket.matchNumber) })
  t.equal(reapprove.statusCode, 410, 'the request cannot be approved twice')
  t.match(reapprove.body, /already answered/)
})

t.test('here=1: the phone asks to be signed in too and gets a session of its own', async (t) => {
  const app = await buildApp(t, stack, { EMAIL_COOLDOWN: '0' })
  const { user } = await signUp(app, stack)
  const { ticket, person, csrf, token } = await askAndOpen(app, app, user.email, 2)
  const approved = await person.submit('/auth/magic-link/approve', { csrf, token, choice: String(ticket.matchNumber), here: '1' })
  t.equal(approved.statusCode, 303)
  t.equal(approved.headers.location, '/account')
  t.ok(person.jar.get('lk_at'), 'the phone has a session cookie')
  t.equal((await person.request({ method: 'GET', url: '/account' })).statusCode, 200)
  t.equal(json(await poll(app, ticket.requestId, ticket.deviceSecret)).status, 'approved', 'the asking device still gets its own')
  t.equal(await app.mongo.models.Session.countDocuments({ userId: user.id, method: 'cross-device' }), 2, 'two sessions: phone and desktop')
})

t.test('a wrong number denies and kills the request; Deny denies', async (t) => {
  const app = await buildApp(t, stack, { EMAIL_COOLDOWN: '0' })
  const { user } = await signUp(app, stack)

  const first = await askAndOpen(app, app, user.email, 2)
  const wrong = await first.person.submit('/auth/magic-link/approve', { csrf: first.csrf, token: first.token, choice: String(wrongNumber(first.ticket.matchNumber)) })
  t.equal(wrong.statusCode, 200)
  t.match(wrong.body, /That was not the number/)
  t.same(json(await poll(app, first.ticket.requestId, first.ticket.deviceSecret)), { status: 'denied', reason: 'wrong-number' })
  const right = await first.person.submit('/auth/magic-link/approve', { csrf: first.csrf, token: first.token, choice: String(first.ticket.matchNumber) })
  t.equal(right.statusCode, 410, 'the right number afterwards is too late')
  t.equal((await first.person.request({ method: 'GET', url: `/auth/magic-link/approve?token=${first.token}` })).statusCode, 410, 'the link shows it was answered')
  t.same(json(await poll(app, first.ticket.requestId, first.ticket.deviceSecret)), { status: 'denied', reason: 'wrong-number' }, 'still denied, never approved')
  const typed = await askAndOpen(app, app, user.email, 3)
  for (const malformed of ['', '123', 'ab', '-1', '4 2']) {
    const refused = await typed.person.submit('/auth/magic-link/approve', { csrf: typed.csrf, token: typed.token, choice: malformed })
    t.equal(refused.statusCode, 400, `"${malformed}" is not a number typed: the page again`)
    t.match(refused.body, /Type the number shown on the device that asked: one or two digits/)
  }
  t.equal(json(await poll(app, typed.ticket.requestId, typed.ticket.deviceSecret)).status, 'pending', 'a malformed entry decides nothing')
  const padded = await typed.person.submit('/auth/magic-link/approve', { csrf: typed.csrf, token: typed.token, choice: twoDigits(typed.ticket.matchNumber) })
  t.match(padded.body, /Approved/, 'the number as shown (two digits) approves')

  const second = await askAndOpen(app, app, user.email, 4)
  const denied = await second.person.submit('/auth/magic-link/approve', { csrf: second.csrf, token: second.token, decision: 'deny' })
  t.equal(denied.statusCode, 200)
  t.match(denied.body, /Denied/)
  t.same(json(await poll(app, second.ticket.requestId, second.ticket.deviceSecret)), { status: 'denied', reason: 'denied' })
  const none = await second.person.submit('/auth/magic-link/approve', { csrf: second.csrf, token: second.token })
  t.equal(none.statusCode, 410, 'nothing more can be decided')
  t.equal(await app.mongo.models.Session.countDocuments({ userId: user.id, method: 'cross-device' }), 0, 'nobody was signed in')
})

t.test('an unknown address: the approval page asks for a name, creates the account, and the waiting device is signed in to it', async (t) => {
  const app = await buildApp(t, stack)
  const email = uniqueEmail('xd.signup')
  const { ticket, person, page, csrf, token } = await askAndOpen(app, app, email)
  t.match(page.body, /Create your account on another device\?/)
  t.match(page.body, /<label for="name">Your name<\/label>/)

  const noName = await person.submit('/auth/magic-link/approve', { csrf, token, choice: String(ticket.matchNumber) })
  t.equal(noName.statusCode, 400)
  t.match(noName.body, /Enter your name/)
  t.equal(await app.mongo.models.User.countDocuments({ email }), 0, 'no account yet')
  t.equal(json(await poll(app, ticket.requestId, ticket.deviceSecret)).status, 'pending', 'still pending')

  const noChoice = await person.submit('/auth/magic-link/approve', { csrf, token, name: 'Ada' })
  t.equal(noChoice.statusCode, 400)
  t.match(noChoice.body, /Type the number shown on the device that asked/)
  t.match(noChoice.body, /id="choice"[^>]* autofocus aria-invalid="true"/, 'the number field is focused and marked')

  const approved = await person.submit('/auth/magic-link/approve', { csrf, token, choice: String(ticket.matchNumber), name: 'Ada Cross' })
  t.equal(approved.statusCode, 200)
  const claimed = json(await poll(app, ticket.requestId, ticket.deviceSecret))
  t.match(claimed, { status: 'approved', user: { email, name: 'Ada Cross' } })
  t.equal(await app.mongo.models.User.countDocuments({ email }), 1, 'one account')

  const wrongFirst = await askAndOpen(app, app, uniqueEmail('xd.signup.wrong'))
  await wrongFirst.person.submit('/auth/magic-link/approve', { csrf: wrongFirst.csrf, token: wrongFirst.token, choice: String(wrongNumber(wrongFirst.ticket.matchNumber)), name: 'Mallory' })
  t.equal(await app.mongo.models.User.countDocuments({ name: 'Mallory' }), 0, 'a wrong number creates no account')
})

t.test('races on two instances: 50 parallel approvals → one approval; 50 parallel claims → one token pair, one session', async (t) => {
  const config = testConfig(stack, { EMAIL_COOLDOWN: '0' })
  const a = await buildApp(t, stack, {}, { config })
  const b = await buildApp(t, stack, {}, { config })
  const { user } = await signUp(a, stack)
  const { ticket, person, csrf, token } = await askAndOpen(a, b, user.email, 2)
  const cookie = [...person.jar].map(([name, value]) => `${name}=${value}`).join('; ')
  const form = (choice: number) => ({
    method: 'POST' as const,
    url: '/auth/magic-link/approve',
    headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' },
    payload: new URLSearchParams({ csrf, token, choice: String(choice) }).toString()
  })

  const approvals = await Promise.all(Array.from({ length: 50 }, (_, i) => (i % 2 === 0 ? a : b).inject(form(ticket.matchNumber))))
  const approvedPages = approvals.filter((response) => response.statusCode === 200 && /Approved/.test(response.body))
  t.equal(approvedPages.length, 1, 'exactly one approval')
  t.equal(approvals.filter((response) => response.statusCode === 410).length, 49, 'the 49 others: already answered')

  const claims = await Promise.all(Array.from({ length: 50 }, (_, i) => poll(i % 2 === 0 ? a : b, ticket.requestId, ticket.deviceSecret)))
  const winners = claims.filter((response) => response.statusCode === 200)
  t.equal(winners.length, 1, 'exactly one claim gets the tokens')
  t.equal(json(winners[0]!).status, 'approved')
  t.equal(claims.filter((response) => response.statusCode === 410).length, 49)
  t.equal(await a.mongo.models.Session.countDocuments({ userId: user.id, method: 'cross-device' }), 1, 'one session')

  // Right and wrong numbers racing: one decision, whichever came first, and never both.
  const raced = await askAndOpen(a, b, user.email, 3)
  const mixed = await Promise.all(Array.from({ length: 40 }, (_, i) => (i % 2 === 0 ? a : b).inject({
    ...form(i % 4 < 2 ? raced.ticket.matchNumber : wrongNumber(raced.ticket.matchNumber)),
    headers: { cookie: [...raced.person.jar].map(([name, value]) => `${name}=${value}`).join('; '), 'content-type': 'application/x-www-form-urlencoded' },
    payload: new URLSearchParams({ csrf: raced.csrf, token: raced.token, choice: String(i % 4 < 2 ? raced.ticket.matchNumber : wrongNumber(raced.ticket.matchNumber)) }).toString()
  })))
  t.equal(mixed.filter((response) => response.statusCode === 200).length, 1, 'one decision among 40 mixed numbers')
  t.equal(mixed.filter((response) => response.statusCode === 410).length, 39)
})

t.test('SSE across instances: the stream on A hears the approval made on B (pub/sub) and gets the tokens once', async (t) => {
  const config = testConfig(stack, { EMAIL_COOLDOWN: '0' })
  // No safety re-read for an hour: only a published message can wake the stream. The clock stands
  // still, so the first frame's expiresIn is 900 however long the setup took.
  const now = Date.now()
  const clock = { now: () => now }
  const a = await serveInstance(t, config, { recheckMs: 3_600_000 }, { clock })
  const b = await serveInstance(t, config, { recheckMs: 3_600_000 }, { clock })
  const { user } = await signUp(a.app, stack)
  const { ticket, person, csrf, token } = await askAndOpen(a.app, b.app, user.email, 2)

  const stream = await openEvents(`${a.origin}/auth/magic-link/requests/${ticket.requestId}/events`, secretHeader(ticket.deviceSecret))
  t.equal(stream.status, 200)
  t.match(stream.headers['content-type'], /^text\/event-stream/)
  t.equal(stream.headers['cache-control'], 'no-store')
  t.same(await stream.next(), { event: 'pending', data: { matchNumber: ticket.matchNumber, expiresIn: 900 } })

  t.equal((await person.submit('/auth/magic-link/approve', { csrf, token, choice: String(ticket.matchNumber) })).statusCode, 200, 'approved on B')
  const approved = await stream.next()
  t.equal(approved?.event, 'approved')
  t.match(approved?.data, { user: { id: user.id }, accessToken: String, refreshToken: String, expiresIn: 900 })
  t.same(Object.keys(approved?.data ?? {}).sort(), ['accessToken', 'expiresIn', 'refreshToken', 'user'])
  t.equal(await stream.next(), null, 'the server ends the stream after the final event')
  t.equal((await a.app.inject({ method: 'GET', url: '/auth/me', headers: bearer(approved?.data.accessToken) })).statusCode, 200)

  const late = await openEvents(`${b.origin}/auth/magic-link/requests/${ticket.requestId}/events`, secretHeader(ticket.deviceSecret))
  t.equal(late.status, 410, 'a second stream after the claim: gone')

  // Deny on A reaches a stream on B.
  const second = await askAndOpen(a.app, a.app, user.email, 3)
  const onB = await openEvents(`${b.origin}/auth/magic-link/requests/${second.ticket.requestId}/events`, secretHeader(second.ticket.deviceSecret))
  t.equal((await onB.next())?.event, 'pending')
  await second.person.submit('/auth/magic-link/approve', { csrf: second.csrf, token: second.token, decision: 'deny' })
  t.match(await onB.next(), { event: 'denied', data: { reason: 'denied', message: /denied/ } })
  t.equal(await onB.next(), null)
})

t.test('SSE and long-poll: expiry is a clear final event; the long-poll answers when decided or after its wait', async (t) => {
  const config = testConfig(stack, { EMAIL_COOLDOWN: '0', MAGIC_LINK_TTL: '2' })
  const a = await serveInstance(t, config, { recheckMs: 3_600_000 })
  const b = await serveInstance(t, config, { recheckMs: 3_600_000 })

  const expiring = await askCrossDevice(a.app, uniqueEmail('xd.expiry'))
  const stream = await openEvents(`${a.origin}/auth/magic-link/requests/${expiring.requestId}/events`, secretHeader(expiring.deviceSecret))
  t.equal((await stream.next())?.event, 'pending')
  t.match(await stream.next(5_000), { event: 'expired', data: { message: /expired/ } }, 'the stream says the request expired')
  t.equal(await stream.next(), null)
  t.equal((await poll(a.app, expiring.requestId, expiring.deviceSecret)).statusCode, 410, 'and it is gone')

  const pending = await askCrossDevice(a.app, uniqueEmail('xd.longpoll'))
  const waited = await poll(b.app, pending.requestId, pending.deviceSecret, 1)
  t.same(json(waited), { status: 'pending', matchNumber: pending.matchNumber, expiresIn: waited.json().expiresIn }, 'after its wait: still pending')

  const config2 = testConfig(stack, { EMAIL_COOLDOWN: '0' })
  const c = await serveInstance(t, config2, { recheckMs: 3_600_000 })
  const d = await serveInstance(t, config2, { recheckMs: 3_600_000 })
  const email = uniqueEmail('xd.longpoll.approve')
  const { ticket, person, csrf, token } = await askAndOpen(c.app, d.app, email)
  const longPoll = fetch(`${c.origin}/auth/magic-link/requests/${ticket.requestId}/outcome?wait=20`, { headers: secretHeader(ticket.deviceSecret) })
  await new Promise((resolve) => setTimeout(resolve, 200)) // let it start waiting
  await person.submit('/auth/magic-link/approve', { csrf, token, choice: String(ticket.matchNumber), name: 'Long Poll' })
  const answered = await longPoll
  t.equal(answered.status, 200)
  t.match(await answered.json(), { status: 'approved', user: { email, name: 'Long Poll' }, accessToken: String }, 'the long-poll on C answers with the approval made on D')
})

t.test('the device secret goes in a header, never the URL; a wrong or foreign secret gets nothing', async (t) => {
  const config = testConfig(stack, { EMAIL_COOLDOWN: '0' })
  const a = await serveInstance(t, config)
  const one = await askCrossDevice(a.app, uniqueEmail('xd.secret.one'))
  const two = await askCrossDevice(a.app, uniqueEmail('xd.secret.two'))
  const events = (id: string) => `${a.origin}/auth/magic-link/requests/${id}/events`

  const missing = await openEvents(events(one.requestId))
  t.equal(missing.status, 400, 'no secret → 400')
  const inQuery = await openEvents(`${events(one.requestId)}?secret=${one.deviceSecret}`, secretHeader(one.deviceSecret))
  t.equal(inQuery.status, 400, 'no query parameters at all')
  t.equal((await openEvents(events(one.requestId), secretHeader('x'.repeat(43)))).status, 410, 'wrong secret → 410')
  t.equal((await openEvents(events(one.requestId), secretHeader('not a secret'))).status, 410, 'malformed secret → 410')
  t.equal((await openEvents(events(one.requestId), secretHeader(two.deviceSecret))).status, 410, "another request's secret → 410")
  t.equal((await openEvents(events('A'.repeat(22)), secretHeader(one.deviceSecret))).status, 410, 'unknown request → 410')
  t.equal((await openEvents(events('short'), secretHeader(one.deviceSecret))).status, 400, 'malformed id → 400')
  t.equal((await poll(a.app, one.requestId, two.deviceSecret)).statusCode, 410)
  t.equal((await a.app.inject({ method: 'GET', url: `/auth/magic-link/requests/${one.requestId}/outcome` })).statusCode, 400, 'long-poll without the header → 400')
})

t.test('waits are cheap and bounded: one subscriber connection per instance; at most 4 waits per request per instance', async (t) => {
  const config = testConfig(stack, { EMAIL_COOLDOWN: '0' })
  const a = await serveInstance(t, config)
  const b = await serveInstance(t, config)
  const tickets = await Promise.all([1, 2, 3].map(async (i) => await askCrossDevice(a.app, uniqueEmail(`xd.cap${i}`))))
  const streams = []
  for (const ticket of tickets) {
    for (const instance of [a, b]) {
      const stream = await openEvents(`${instance.origin}/auth/magic-link/requests/${ticket.requestId}/events`, secretHeader(ticket.deviceSecret))
      t.equal((await stream.next())?.event, 'pending')
      streams.push(stream)
    }
  }
  const [, subscribers] = await stack.redis.admin.pubsub('NUMSUB', 'lk:xd:events') as [string, number]
  t.equal(subscribers, 2, `6 open streams on 2 instances, ${subscribers} subscriber connections`)

  const first = tickets[0]!
  for (let i = 0; i < 3; i++) streams.push(await openEvents(`${a.origin}/auth/magic-link/requests/${first.requestId}/events`, secretHeader(first.deviceSecret)))
  const fifth = await openEvents(`${a.origin}/auth/magic-link/requests/${first.requestId}/events`, secretHeader(first.deviceSecret))
  t.equal(fifth.status, 429, 'the fifth wait on one instance for one request is refused')
  t.equal(fifth.headers['retry-after'], '5')
  for (const stream of streams) stream.close()
})

t.test('graceful shutdown ends open streams instead of waiting for them', async (t) => {
  const config = testConfig(stack, { EMAIL_COOLDOWN: '0' })
  const a = await serveInstance(t, config)
  const ticket = await askCrossDevice(a.app, uniqueEmail('xd.shutdown'))
  const stream = await openEvents(`${a.origin}/auth/magic-link/requests/${ticket.requestId}/events`, secretHeader(ticket.deviceSecret))
  t.equal((await stream.next())?.event, 'pending')
  const longPoll = fetch(`${a.origin}/auth/magic-link/requests/${ticket.requestId}/outcome?wait=30`, { headers: secretHeader(ticket.deviceSecret) })
  await new Promise((resolve) => setTimeout(resolve, 200))

  let timer: NodeJS.Timeout | undefined
  const closed = await Promise.race([
    a.app.close().then(() => 'closed'),
    new Promise((resolve) => { timer = setTimeout(() => resolve('still open after 10 s'), 10_000) })
  ])
  clearTimeout(timer)
  t.equal(closed, 'closed', 'close() returns with a stream and a long-poll open (not after their 15 min / 30 s)')
  t.equal(await stream.next(), null, 'the stream was ended (the client reconnects to another instance)')
  t.equal((await longPoll).status, 503, 'the long-poll answered 503 (ask again)')
})

t.test('the long-poll deadline passing while the claim runs: the answer waits for it and carries the tokens, exactly once; no orphan session', async (t) => {
  const app = await buildApp(t, stack, { EMAIL_COOLDOWN: '0' })
  const { user } = await signUp(app, stack)
  const { ticket, person, csrf, token } = await askAndOpen(app, app, user.email, 2)
  const stall = stallClaims(t, app)

  const started = performance.now()
  const longPoll = poll(app, ticket.requestId, ticket.deviceSecret, 1)
  await sleep(200) // waiting
  await person.submit('/auth/magic-link/approve', { csrf, token, choice: String(ticket.matchNumber) })
  await stall.entered() // the wait's check claimed the request and started the session...
  t.ok(performance.now() - started < 1_000, 'the claim began before the 1 s deadline')
  await sleep(1_400 - (performance.now() - started)) // ...and is still running when the deadline passes
  stall.release()

  const answered = await longPoll
  t.ok(performance.now() - started >= 1_400, 'the answer came after the claim, not at the deadline')
  t.equal(answered.statusCode, 200)
  const body = json(answered)
  t.match(body, { status: 'approved', user: { id: user.id }, accessToken: String, refreshToken: String }, 'the tokens the claim produced')
  t.equal((await app.inject({ method: 'GET', url: '/auth/me', headers: bearer(body.accessToken) })).statusCode, 200)
  t.equal((await poll(app, ticket.requestId, ticket.deviceSecret)).statusCode, 410, 'and only once')
  t.equal(await liveSessions(app, user.id), 1, 'one session: the one whose tokens were delivered')
})

t.test('graceful shutdown while claims run: the stream and the long-poll get their tokens before the server closes', async (t) => {
  const config = testConfig(stack, { EMAIL_COOLDOWN: '0' })
  const a = await serveInstance(t, config, { recheckMs: 3_600_000 })
  const other = await buildApp(t, stack, {}, { config })
  const { user } = await signUp(other, stack)
  const streamed = await askAndOpen(a.app, other, user.email, 2)
  const polled = await askAndOpen(a.app, other, user.email, 3)
  const stream = await openEvents(`${a.origin}/auth/magic-link/requests/${streamed.ticket.requestId}/events`, secretHeader(streamed.ticket.deviceSecret))
  t.equal((await stream.next())?.event, 'pending')
  const longPoll = fetch(`${a.origin}/auth/magic-link/requests/${polled.ticket.requestId}/outcome?wait=30`, { headers: secretHeader(polled.ticket.deviceSecret) })
  await sleep(200)
  const stall = stallClaims(t, a.app)
  for (const { person, csrf, token, ticket } of [streamed, polled]) {
    await person.submit('/auth/magic-link/approve', { csrf, token, choice: String(ticket.matchNumber) })
  }
  await stall.entered(2) // both waits are claiming on A

  const closing = a.app.close()
  await sleep(300)
  t.notOk(stream.ended, 'the stream is not ended while its claim runs')
  stall.release()
  await closing
  const approved = await stream.next()
  t.match(approved, { event: 'approved', data: { user: { id: user.id }, accessToken: String, refreshToken: String } }, 'the stream got its tokens')
  t.equal(await stream.next(), null, 'then it ended')
  const answered = await longPoll
  t.equal(answered.status, 200, 'the long-poll answered with its tokens, not 503')
  const body = await answered.json() as { accessToken: string }
  t.match(body, { status: 'approved', accessToken: String })
  for (const accessToken of [approved?.data.accessToken, body.accessToken]) {
    t.equal((await other.inject({ method: 'GET', url: '/auth/me', headers: bearer(accessToken) })).statusCode, 200)
  }
  t.equal(await liveSessions(other, user.id), 2, 'two sessions, both delivered')
})

t.test('the client leaving while its claim runs: the session is revoked and the request approved again, so its next wait gets a pair', async (t) => {
  const config = testConfig(stack, { EMAIL_COOLDOWN: '0' })
  const a = await serveInstance(t, config, { recheckMs: 3_600_000 })
  const { user } = await signUp(a.app, stack)
  const { ticket, person, csrf, token } = await askAndOpen(a.app, a.app, user.email, 2)
  const stream = await openEvents(`${a.origin}/auth/magic-link/requests/${ticket.requestId}/events`, secretHeader(ticket.deviceSecret))
  t.equal((await stream.next())?.event, 'pending')
  const stall = stallClaims(t, a.app)
  await person.submit('/auth/magic-link/approve', { csrf, token, choice: String(ticket.matchNumber) })
  await stall.entered()
  stream.close()
  await sleep(300) // the server sees the stream close
  stall.restore()

  const key = `lk:xd{${ticket.requestId}}`
  t.equal(await pollUntil(async () => await stack.redis.admin.hget(key, 'st'), (state) => state === 'approved', { timeoutMs: 5_000 }), 'approved', 'the undelivered claim was given back')
  t.equal(await liveSessions(a.app, user.id), 0, 'its session was revoked')
  const again = await poll(a.app, ticket.requestId, ticket.deviceSecret)
  t.match(json(again), { status: 'approved', accessToken: String }, 'the next wait claims a fresh pair')
  t.equal(await liveSessions(a.app, user.id), 1, 'one live session, the delivered one')
})

t.test('signup races: a wrong pick or Deny that wins creates no account; the approval that wins creates it before anyone can claim', async (t) => {
  const app = await buildApp(t, stack, { EMAIL_COOLDOWN: '0' })
  // Account creation is slow: were it done before the decision, the losing approval's account would exist.
  const createUser = app.users.createUser.bind(app.users)
  let creating = 0
  let finishCreating = (): void => {}
  let gate: Promise<void> | undefined
  app.users.createUser = async (...args: Parameters<typeof createUser>) => {
    creating++
    await (gate ?? sleep(300))
    return await createUser(...args)
  }
  t.teardown(() => { app.users.createUser = createUser })
  const accounts = async (email: string): Promise<number> => await app.mongo.models.User.countDocuments({ email })

  for (const loser of ['wrong number', 'deny'] as const) {
    for (let round = 0; round < 3; round++) {
      const email = uniqueEmail('xd.signup.race')
      const { ticket, person, csrf, token } = await askAndOpen(app, app, email)
      const rightPick = async () => await person.submit('/auth/magic-link/approve', { csrf, token, choice: String(ticket.matchNumber), name: 'Racer' })
      const otherPick = async () => await person.submit('/auth/magic-link/approve', { csrf, token, ...(loser === 'deny' ? { decision: 'deny' } : { choice: String(wrongNumber(ticket.matchNumber)), name: 'Racer' }) })
      // Sent in either order, so each side wins some rounds.
      const picks = round % 2 === 0 ? [rightPick, otherPick] : [otherPick, rightPick]
      const responses = await Promise.all(picks.map(async (pick) => await pick()))
      const right = responses[picks.indexOf(rightPick)]!
      const other = responses[picks.indexOf(otherPick)]!
      const approved = /<h1>Approved<\/h1>/.test(right.body)
      t.equal([right, other].filter((response) => response.statusCode === 200).length, 1, `${loser} #${round + 1}: one decision (${approved ? 'approved' : 'denied'})`)
      const outcome = json(await poll(app, ticket.requestId, ticket.deviceSecret))
      if (approved) {
        t.equal(await accounts(email), 1, 'approved: the account exists')
        t.match(outcome, { status: 'approved', user: { email, name: 'Racer' } })
      } else {
        t.equal(await accounts(email), 0, `${loser} won: no account`)
        t.match(outcome, { status: 'denied' })
      }
    }
  }

  // The approval wins; while its account is being created, the request is taken (a wrong pick is
  // too late) but still pending for the waiting device, which then claims a session on the account.
  gate = new Promise((resolve) => { finishCreating = resolve })
  const email = uniqueEmail('xd.signup.approving')
  const { ticket, person, csrf, token } = await askAndOpen(app, app, email)
  const before = creating
  const approving = person.submit('/auth/magic-link/approve', { csrf, token, choice: String(ticket.matchNumber), name: 'Winner' })
  await pollUntil(async () => creating, (count) => count > before, { timeoutMs: 5_000 })
  const late = await person.submit('/auth/magic-link/approve', { csrf, token, choice: String(wrongNumber(ticket.matchNumber)), name: 'Winner' })
  t.equal(late.statusCode, 410, 'a wrong pick during the account creation: already answered')
  t.equal(json(await poll(app, ticket.requestId, ticket.deviceSecret)).status, 'pending', 'the waiting device still sees pending (nothing to claim yet)')
  finishCreating()
  t.match((await approving).body, /<h1>Approved<\/h1>/)
  t.match(json(await poll(app, ticket.requestId, ticket.deviceSecret)), { status: 'approved', user: { email, name: 'Winner' } })
  t.equal(await accounts(email), 1)

  // 50 parallel right picks on a signup request: one approval, one account, one session.
  gate = undefined
  const many = await askAndOpen(app, app, uniqueEmail('xd.signup.fifty'))
  const results = await Promise.all(Array.from({ length: 50 }, async () =>
    await many.person.submit('/auth/magic-link/approve', { csrf: many.csrf, token: many.token, choice: String(many.ticket.matchNumber), name: 'Fifty' })))
  t.equal(results.filter((response) => response.statusCode === 200).length, 1, 'one approval')
  t.equal(results.filter((response) => response.statusCode === 410).length, 49)
  const claimed = json(await poll(app, many.ticket.requestId, many.ticket.deviceSecret))
  t.equal(await app.mongo.models.User.countDocuments({ name: 'Fifty' }), 1, 'one account')
  t.equal(await liveSessions(app, claimed.user.id), 1, 'one session')
})

t.test('blind approval: the number is one of 100 and typed, never offered; one wrong number ends the request', async (t) => {
  // The numbers drawn cover 00 to 99 evenly (a blind guess approves one time in 100, not one in three).
  const drawn = Array.from({ length: 20_000 }, () => matchNumber())
  t.equal(MATCH_NUMBERS, 100)
  t.ok(drawn.every((n) => Number.isInteger(n) && n >= 0 && n <= 99), 'every number is 00 to 99')
  t.equal(new Set(drawn).size, 100, 'all 100 numbers are drawn (0 to 9 included)')
  const counts = Array.from({ length: 100 }, (_, n) => drawn.filter((d) => d === n).length)
  t.ok(Math.max(...counts) < 400, `no number is favoured (most frequent: ${Math.max(...counts)} of 20,000; 200 expected)`)

  // A blind guesser gets one try: the page offers nothing to pick from, and a wrong number ends the request.
  const app = await buildApp(t, stack, { EMAIL_COOLDOWN: '0' })
  const { user } = await signUp(app, stack)
  const { ticket, person, page, csrf, token } = await askAndOpen(app, app, user.email, 2)
  t.ok(asksToTypeNumber(page.body))
  t.notMatch(page.body, /<button[^>]*name="choice"/, 'no number buttons')
  const guesses = await Promise.all([1, 2, 3].map(async (offset) => await person.submit('/auth/magic-link/approve', { csrf, token, choice: String(wrongNumber(ticket.matchNumber, offset)) })))
  t.equal(guesses.filter((response) => /That was not the number/.test(response.body)).length, 1, 'the first wrong number is evaluated')
  t.equal(guesses.filter((response) => response.statusCode === 410).length, 2, 'the next guesses find the request answered')
  const right = await person.submit('/auth/magic-link/approve', { csrf, token, choice: String(ticket.matchNumber) })
  t.equal(right.statusCode, 410, 'and the right number after a wrong one is too late')
  t.same(json(await poll(app, ticket.requestId, ticket.deviceSecret)), { status: 'denied', reason: 'wrong-number' })
})

t.test('the approval page shows where the request came from next to this device, and warns when the networks differ', async (t) => {
  const app = await buildApp(t, stack, { EMAIL_COOLDOWN: '0' })
  const SAFARI_ON_IPHONE = 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1'
  const open = async (askFrom: string, approveFrom: string) => {
    const email = uniqueEmail('xd.where')
    await askCrossDevice(app, email, { 'user-agent': CHROME_ON_MAC }, askFrom)
    const token = approvalTokenFrom(await stack.smtp.waitForMail(email))
    return (await app.inject({ method: 'GET', url: `/auth/magic-link/approve?token=${token}`, headers: { 'user-agent': SAFARI_ON_IPHONE }, remoteAddress: approveFrom })).body
  }
  const warning = /The device asking is on a different network from this one/

  const phished = await open('203.0.113.7', '198.51.100.9')
  t.match(phished, /<dt>Asking to sign in<\/dt><dd id="asking">Chrome on macOS, network 203\.0\.113\.x<\/dd>/, 'where the request came from')
  t.match(phished, /<dt>This device<\/dt><dd id="approving">Safari on iOS, network 198\.51\.100\.x<\/dd>/, 'where the approver is')
  t.match(phished, warning, 'another /24: a plain warning')
  t.match(phished, /press Deny/)
  t.notMatch(phished, /198\.51\.100\.9|203\.0\.113\.7/, 'coarse networks only, never a full address')

  const home = await open('203.0.113.7', '203.0.113.200')
  t.notMatch(home, warning, 'the same /24: no warning')
  t.match(home, /Both devices are on the same network/)

  t.notMatch(await open('2001:db8:1:2::1', '2001:db8:1:ffff::5'), warning, 'the same IPv6 /48: no warning')
  const otherV6 = await open('2001:db8:1:2::1', '2001:db8:2::5')
  t.match(otherV6, warning, 'another IPv6 /48: the warning')
  t.match(otherV6, /network 2001:db8:1::\/48/)
  t.match(await open('203.0.113.7', '2001:db8:1:2::1'), warning, 'IPv4 asking, IPv6 approving: different networks')
})

t.test('open requests per address: CROSS_DEVICE_OPEN_PER_ADDRESS, 429 beyond; a decided request frees its place', async (t) => {
  const clock = { now: () => time }
  let time = Date.now()
  const app = await buildApp(t, stack, { EMAIL_COOLDOWN: '0', EMAIL_HOURLY_LIMIT: '1000', CROSS_DEVICE_OPEN_PER_ADDRESS: '2' }, { clock })
  const { user } = await signUp(app, stack)
  const ask = async (email: string) => await app.inject({ method: 'POST', url: '/auth/magic-link', payload: { email, crossDevice: true } })

  const first = await askAndOpen(app, app, user.email, 2)
  t.equal((await ask(user.email)).statusCode, 202, 'the second open request')
  const mailsBefore = stack.smtp.inbox(user.email).length
  const third = await ask(user.email)
  t.equal(third.statusCode, 429, 'a third while two are open')
  t.equal(json(third).code, 'RATE_LIMITED')
  t.match(json(third).message, /open sign-in requests for this address/)
  t.equal(Number(third.headers['retry-after']), 900, 'until the oldest expires')
  t.equal(stack.smtp.inbox(user.email).length, mailsBefore, 'no email for the refused request')
  const unknown = uniqueEmail('xd.open.unknown')
  t.equal((await ask(unknown)).statusCode, 202)
  t.equal((await ask(unknown)).statusCode, 202)
  t.equal((await ask(unknown)).statusCode, 429, 'the same for an address without an account (no enumeration)')
  t.equal((await ask(uniqueEmail('xd.open.other'))).statusCode, 202, 'another address is not affected')

  await first.person.submit('/auth/magic-link/approve', { csrf: first.csrf, token: first.token, decision: 'deny' })
  t.equal((await ask(user.email)).statusCode, 202, 'a denied request no longer counts')
  t.equal((await ask(user.email)).statusCode, 429)
  time += 900_000
  t.equal((await ask(user.email)).statusCode, 202, 'expired requests no longer count')

  // 50 parallel requests for one address: exactly the cap gets through.
  const fresh = uniqueEmail('xd.open.race')
  const raced = await Promise.all(Array.from({ length: 50 }, async () => await ask(fresh)))
  t.equal(raced.filter((response) => response.statusCode === 202).length, 2, 'two of 50 parallel requests')
  t.equal(raced.filter((response) => response.statusCode === 429).length, 48)

  // The start page's form says it in words.
  const person = browser(app)
  const start = await person.request({ method: 'GET', url: '/' })
  const page = await person.submit('/auth/magic-link/requests', { csrf: csrfOf(start.body), email: fresh })
  t.equal(page.statusCode, 429)
  t.match(page.body, /This address already has open sign-in requests/)
  t.ok(Number(page.headers['retry-after']) > 0)
})

t.test('limits: the same email budget and per-IP limit as links', async (t) => {
  const app = await buildApp(t, stack, { RATE_LIMIT_AUTH: '3' })
  const remoteAddress = '198.51.100.23' // a client of its own: the counters of the other tests' requests do not count
  const email = uniqueEmail('xd.budget')
  t.equal((await app.inject({ method: 'POST', url: '/auth/magic-link', payload: { email }, remoteAddress })).statusCode, 202, 'a plain link')
  const cooling = await app.inject({ method: 'POST', url: '/auth/magic-link', payload: { email, crossDevice: true }, remoteAddress })
  t.equal(cooling.statusCode, 429, 'a cross-device request inside the cooldown of a link to the same address')
  t.equal(json(cooling).code, 'EMAIL_RATE_LIMITED')
  t.ok(Number(cooling.headers['retry-after']) > 0)
  t.equal((await app.inject({ method: 'POST', url: '/auth/magic-link', payload: { email: uniqueEmail(), crossDevice: true }, remoteAddress })).statusCode, 202)
  const limited = await app.inject({ method: 'POST', url: '/auth/magic-link', payload: { email: uniqueEmail(), crossDevice: true }, remoteAddress })
  t.equal(limited.statusCode, 429, 'the fourth sign-in request from this IP in a minute')
  t.equal(json(limited).code, 'RATE_LIMITED')
})

t.test('the device secret and the link token never reach the logs (trace level, whole flow)', async (t) => {
  const lines: string[] = []
  const app = await buildApp(t, stack, { LOG_LEVEL: 'trace', EMAIL_COOLDOWN: '0' }, { logStream: { write: (line: string) => { lines.push(line) } } })
  const email = uniqueEmail('xd.logs')
  const { ticket, person, csrf, token } = await askAndOpen(app, app, email)
  await person.submit('/auth/magic-link/approve', { csrf, token, choice: String(ticket.matchNumber), name: 'Logged', here: '1' })
  const claimed = json(await poll(app, ticket.requestId, ticket.deviceSecret))
  const log = lines.join('')
  // One line per request (app.ts): asking, opening the approval page, approving and claiming are all there.
  const requestLines = lines.filter((line) => JSON.parse(line).req !== undefined)
  t.ok(requestLines.length >= 4, `captured ${lines.length} log lines, ${requestLines.length} of them requests`)
  t.match(log, /\/auth\/magic-link\/approve\?\[redacted\]/, 'the approval URL is logged without its token')
  for (const [name, secret] of Object.entries({ deviceSecret: ticket.deviceSecret, token, accessToken: claimed.accessToken, refreshToken: claimed.refreshToken })) {
    t.notOk(log.includes(secret), `no ${name} in the logs`)
  }
})

t.test('secrets at rest: Redis holds only hashes; the request key expires with the link TTL', async (t) => {
  const app = await buildApp(t, stack, { EMAIL_COOLDOWN: '0' })
  const email = uniqueEmail('xd.scan')
  const ticket = await askCrossDevice(app, email)
  const token = approvalTokenFrom(await stack.smtp.waitForMail(email))
  const key = `lk:xd{${ticket.requestId}}`
  const pttl = await stack.redis.admin.pttl(key)
  t.ok(pttl > 890_000 && pttl <= 900_000, `TTL of the request key: ${pttl} ms`)
  const record = await stack.redis.admin.hgetall(key)
  t.equal(record.st, 'pending')
  for (const key of await stack.redis.admin.keys('*')) {
    const type = await stack.redis.admin.type(key)
    const value = type === 'string' ? await stack.redis.admin.get(key) : type === 'hash' ? JSON.stringify(await stack.redis.admin.hgetall(key)) : ''
    for (const [name, secret] of Object.entries({ deviceSecret: ticket.deviceSecret, token, linkSecret: token.slice(22) })) {
      t.notOk(key.includes(secret) || value?.includes(secret), `${key} holds no ${name}`)
    }
  }
})
