import type { FastifyInstance } from 'fastify'
import t from 'tap'
import { bearer, buildApp, codeFrom, json, signUp, startStack, uniqueEmail, type Stack } from '../../helper.js'

/** NOTIFY_NEW_DEVICE (issue 21 item 6): the email, and its scanner-safe single-use sign-out link. */
const stack = await startStack(t)
const firefox = { 'user-agent': 'Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0' }

async function signInWithCode (app: FastifyInstance, stack: Stack, email: string, headers: Record<string, string> = {}) {
  const before = stack.smtp.inbox(email).length
  await app.inject({ method: 'POST', url: '/auth/otp', payload: { email } })
  const code = codeFrom(await stack.smtp.waitForMail(email, { count: before + 1 }))
  return json(await app.inject({ method: 'POST', url: '/auth/otp/verify', headers, payload: { email, code } }))
}

const newDeviceMails = (stack: Stack, email: string) => stack.smtp.inbox(email).filter((mail) => mail.subject === 'New sign-in to your Latchkey account')

t.test('a sign-in from a new device and network mails a link that signs that session out, once, on POST only', async (t) => {
  const app = await buildApp(t, stack, { NOTIFY_NEW_DEVICE: 'true', EMAIL_COOLDOWN: '0', EMAIL_HOURLY_LIMIT: '100000' }, { events: { background: false } })
  const email = uniqueEmail('newdevice')
  await signUp(app, stack, email)
  await app.outbox.reconcile()
  await signInWithCode(app, stack, email)
  await app.outbox.reconcile()
  t.equal(newDeviceMails(stack, email).length, 0, 'no email for the sign-up, nor for the same device and network again')

  const intruder = await signInWithCode(app, stack, email, firefox)
  await app.outbox.reconcile()
  await app.outbox.reconcile()
  const mails = newDeviceMails(stack, email)
  t.equal(mails.length, 1, 'one email for the new device')
  t.match(mails[0]!.text, /Firefox on Linux, near 127\.0\.0\.x/)
  t.notOk(mails[0]!.text!.includes(intruder.accessToken), 'no token of the session in the email')
  const link = new URL(/https?:\/\/\S+\/auth\/sign-out-session\?token=[A-Za-z0-9_-]+/.exec(mails[0]!.text ?? '')![0])
  const url = `${link.pathname}${link.search}`

  // A mail scanner's GET changes nothing.
  const shown = await app.inject({ method: 'GET', url })
  t.equal(shown.statusCode, 200)
  t.match(shown.body, /Sign that session out/)
  t.equal((await app.inject({ method: 'GET', url })).statusCode, 200, 'still there after a second GET')
  t.equal((await app.inject({ method: 'GET', url: '/auth/me', headers: bearer(intruder.accessToken) })).statusCode, 200)

  const form = { 'content-type': 'application/x-www-form-urlencoded' }
  const token = link.searchParams.get('token')!
  const posts = await Promise.all(Array.from({ length: 20 }, async () => await app.inject({ method: 'POST', url: '/auth/sign-out-session', headers: form, payload: `token=${token}` })))
  t.same(posts.map((response) => response.statusCode).sort(), [200, ...Array<number>(19).fill(410)], 'single use under a race of 20')
  t.equal((await app.inject({ method: 'GET', url: '/auth/me', headers: bearer(intruder.accessToken) })).statusCode, 401, 'that session is dead at once')
  t.equal((await app.inject({ method: 'GET', url })).statusCode, 410, 'the link is spent')
  await app.outbox.reconcile()
  const revoked = (await app.auditLog.list({ type: 'session.revoked', limit: 5 })).events
  t.match(revoked, [{ data: { reason: 'session_deleted' } }])
})

t.test('without NOTIFY_NEW_DEVICE nothing is mailed', async (t) => {
  const app = await buildApp(t, stack, { EMAIL_COOLDOWN: '0', EMAIL_HOURLY_LIMIT: '100000' }, { events: { background: false } })
  const email = uniqueEmail('quiet')
  await signUp(app, stack, email)
  await signInWithCode(app, stack, email, firefox)
  await app.outbox.reconcile()
  t.equal(newDeviceMails(stack, email).length, 0)
  t.equal((await app.inject({ method: 'GET', url: '/auth/sign-out-session?token=x' })).statusCode, 410)
})
