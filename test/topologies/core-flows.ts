import type { FastifyInstance } from 'fastify'
import type { Redis } from 'ioredis'
import type { Test } from 'tap'
import { mongoCommandsDuring, redisCommandsDuring } from '../counters.js'
import { approvalTokenFrom, askCrossDevice, asksToTypeNumber, secretHeader } from '../cross-device.js'
import { bearer, buildApp, codeFrom, json, signUp, testConfig, tokenFrom, uniqueEmail, type SignedInUser, type Stack } from '../helper.js'
import { browser, csrfOf } from '../routes/pages/page-client.js'
import { createSoftAuthenticator } from '../passkeys/soft-authenticator.js'

/** A clock both instances share, that a test can move forward (the refresh grace window). */
export function sharedClock () {
  let offset = 0
  return { now: () => Date.now() + offset, advance: (ms: number) => { offset += ms } }
}

/** Two app instances on one Redis topology, sharing MongoDB, configuration and clock. */
export async function twoInstances (t: Test, stack: Stack, redisUrl: string, overrides: Record<string, string> = {}) {
  const clock = sharedClock()
  const config = testConfig(stack, { REDIS_URL: redisUrl, EMAIL_COOLDOWN: '0', ...overrides })
  // Waits re-read their request only once an hour: only a message through Redis pub/sub ends them early.
  const crossDevice = { recheckMs: 3_600_000 }
  const one = await buildApp(t, stack, {}, { config, clock, crossDevice })
  const two = await buildApp(t, stack, {}, { config, clock, crossDevice })
  return { one, two, clock }
}

export const me = async (app: FastifyInstance, accessToken: string) => await app.inject({ method: 'GET', url: '/auth/me', headers: bearer(accessToken) })

/** A new session for an existing account: a login link asked on `asked`, consumed on `consumed`. */
export async function signInByLink (asked: FastifyInstance, consumed: FastifyInstance, stack: Stack, email: string): Promise<SignedInUser> {
  const before = stack.smtp.inbox(email).length
  await asked.inject({ method: 'POST', url: '/auth/magic-link', payload: { email } })
  const token = tokenFrom(await stack.smtp.waitForMail(email, { count: before + 1 }))
  const response = await consumed.inject({ method: 'POST', url: '/auth/magic-link/consume', payload: { token } })
  if (response.statusCode !== 200) throw new Error(`consume failed: ${response.statusCode} ${response.body}`)
  return json(response)
}

/**
 * The core flows, each crossing two instances: link signup, code sign-in, refresh with reuse
 * detection, logout and logout-all, cross-device approval (heard through pub/sub), and the cost
 * of a cached Bearer request. Run on every Redis
 * topology (single node, cluster, Sentinel). `commandsOf` are the data nodes whose INFO
 * commandstats count the commands a request causes (every master of a cluster).
 */
export async function coreFlows (t: Test, stack: Stack, redisUrl: string, commandsOf: () => Promise<Redis | Redis[]>): Promise<void> {
  const { one, two, clock } = await twoInstances(t, stack, redisUrl)

  await t.test('link signup: the link is asked on one instance, opened and used on the other', async (t) => {
    const email = uniqueEmail('topology-link')
    t.equal((await one.inject({ method: 'POST', url: '/auth/magic-link', payload: { email } })).statusCode, 202)
    const token = tokenFrom(await stack.smtp.waitForMail(email))
    const looked = await two.inject({ method: 'GET', url: `/auth/magic-link/verify?token=${token}`, headers: { accept: 'application/json' } })
    t.match(json(looked), { valid: true, purpose: 'signup', email })
    const signedUp = await two.inject({ method: 'POST', url: `/auth/signup?token=${token}`, payload: { email, name: 'Topology' } })
    t.equal(signedUp.statusCode, 201)
    t.equal(json(await me(one, json(signedUp).accessToken)).email, email, 'the token works on the other instance')

    // A login link raced over both instances is used once.
    await one.inject({ method: 'POST', url: '/auth/magic-link', payload: { email } })
    const login = tokenFrom(await stack.smtp.waitForMail(email, { count: 2 }))
    const raced = await Promise.all(Array.from({ length: 20 }, async (_, i) =>
      await (i % 2 === 0 ? one : two).inject({ method: 'POST', url: '/auth/magic-link/consume', payload: { token: login } })))
    t.equal(raced.filter((response) => response.statusCode === 200).length, 1, 'one of 20 parallel consumes succeeds')
    t.ok(raced.every((response) => response.statusCode === 200 || response.statusCode === 403), 'the others are 403')
  })

  await t.test('code sign-in: asked on one instance, guessed and used on the other', async (t) => {
    const email = uniqueEmail('topology-code')
    t.equal((await two.inject({ method: 'POST', url: '/auth/otp', payload: { email } })).statusCode, 202)
    const code = codeFrom(await stack.smtp.waitForMail(email))
    const wrong = await one.inject({ method: 'POST', url: '/auth/otp/verify', payload: { email, code: code === '000000' ? '111111' : '000000' } })
    t.match(json(wrong), { code: 'OTP_INVALID', attemptsRemaining: 4 })
    const right = await two.inject({ method: 'POST', url: '/auth/otp/verify', payload: { email, code } })
    t.equal(right.statusCode, 200)
    t.equal(json(right).created, true)
    t.equal(json(await one.inject({ method: 'POST', url: '/auth/otp/verify', payload: { email, code } })).code, 'OTP_EXPIRED', 'used once')
    t.equal((await me(one, json(right).accessToken)).statusCode, 200)
  })

  await t.test('refresh: rotation, the grace window and reuse detection across instances', async (t) => {
    const first = await signUp(one, stack)
    const rotated = await one.inject({ method: 'POST', url: '/auth/refresh', payload: { refreshToken: first.refreshToken } })
    t.equal(rotated.statusCode, 200)
    const tab = await two.inject({ method: 'POST', url: '/auth/refresh', payload: { refreshToken: first.refreshToken } })
    t.same(json(tab), json(rotated), 'within the grace window the other instance returns the same pair')
    clock.advance(11_000) // past REFRESH_REUSE_GRACE
    const reused = await two.inject({ method: 'POST', url: '/auth/refresh', payload: { refreshToken: first.refreshToken } })
    clock.advance(-11_000) // back in step with the JWT signer's clock
    t.equal(json(reused).code, 'REFRESH_REUSED')
    t.equal(json(await one.inject({ method: 'POST', url: '/auth/refresh', payload: { refreshToken: json(rotated).refreshToken } })).code, 'REFRESH_INVALID', 'the session is revoked')
    for (const app of [one, two]) t.equal(json(await me(app, json(rotated).accessToken)).code, 'TOKEN_REVOKED', 'its access token dies on every instance')
  })

  await t.test('logout and logout-all: effective at once on the other instance', async (t) => {
    const first = await signUp(one, stack)
    const second = await signInByLink(two, one, stack, first.user.email)
    const third = await signInByLink(one, two, stack, first.user.email)
    for (const app of [one, two]) for (const session of [first, second, third]) t.equal((await me(app, session.accessToken)).statusCode, 200)

    t.equal((await one.inject({ method: 'POST', url: '/auth/logout', headers: bearer(first.accessToken) })).statusCode, 204)
    t.equal(json(await me(two, first.accessToken)).code, 'TOKEN_REVOKED', 'logged out on one, refused on two')
    t.equal((await me(two, second.accessToken)).statusCode, 200, 'the other sessions live')

    t.equal((await two.inject({ method: 'POST', url: '/auth/logout-all', headers: bearer(second.accessToken) })).statusCode, 204)
    for (const session of [second, third]) {
      t.equal(json(await me(one, session.accessToken)).code, 'TOKEN_REVOKED', 'logout-all on two, refused on one')
      t.equal(json(await one.inject({ method: 'POST', url: '/auth/refresh', payload: { refreshToken: session.refreshToken } })).code, 'REFRESH_INVALID')
    }

    const fourth = await signInByLink(one, one, stack, first.user.email)
    t.equal((await two.inject({ method: 'DELETE', url: '/auth/me', headers: bearer(fourth.accessToken) })).statusCode, 204, 'account deleted on two')
    t.equal(json(await me(one, fourth.accessToken)).code, 'TOKEN_REVOKED', 'refused on one')
  })

  await t.test('cross-device: the desktop waits on one instance, the phone approves on the other (pub/sub)', async (t) => {
    const { user } = await signUp(one, stack)
    const before = stack.smtp.inbox(user.email).length
    const ticket = await askCrossDevice(one, user.email)
    const token = approvalTokenFrom(await stack.smtp.waitForMail(user.email, { count: before + 1 }))
    // The desktop's long-poll is held by instance one (re-read hourly): only a message through Redis
    // pub/sub can end it with the approval before its 25 s are up.
    const waiting = one.inject({ method: 'GET', url: `/auth/magic-link/requests/${ticket.requestId}/outcome?wait=25`, headers: secretHeader(ticket.deviceSecret) })
    const phone = browser(two)
    const page = await phone.request({ method: 'GET', url: `/auth/magic-link/approve?token=${token}` })
    t.ok(asksToTypeNumber(page.body), 'the phone is asked to type the number the desktop shows')
    const approved = await phone.submit('/auth/magic-link/approve', { csrf: csrfOf(page.body), token, choice: String(ticket.matchNumber) })
    t.equal(approved.statusCode, 200)
    const outcome = await waiting
    t.equal(outcome.statusCode, 200)
    t.match(json(outcome), { status: 'approved', user: { id: user.id }, accessToken: String, refreshToken: String })
    t.equal((await me(two, json(outcome).accessToken)).statusCode, 200, 'the desktop\'s new token works on the other instance')
  })

  await t.test('passkey: added on one instance; its challenge issued on the other and used once over both', async (t) => {
    const user = await signUp(one, stack)
    const device = createSoftAuthenticator({ origin: 'http://latchkey.test', rpId: 'latchkey.test' })
    const options = json(await two.inject({ method: 'POST', url: '/auth/passkeys/register/options', headers: bearer(user.accessToken) }))
    const added = await one.inject({ method: 'POST', url: '/auth/passkeys/register', headers: bearer(user.accessToken), payload: { credential: device.register(options) } })
    t.equal(added.statusCode, 201, 'the registration challenge from two is consumed on one')
    const request = json(await one.inject({ method: 'POST', url: '/auth/passkeys/login/options', payload: {} }))
    const credential = device.assert(request)
    const raced = await Promise.all(Array.from({ length: 20 }, async (_, i) =>
      await (i % 2 === 0 ? two : one).inject({ method: 'POST', url: '/auth/passkeys/login', payload: { credential } })))
    const won = raced.filter((response) => response.statusCode === 200)
    t.equal(won.length, 1, 'one of 20 parallel sign-ins succeeds')
    t.ok(raced.every((response) => response.statusCode === 200 || json(response).code === 'PASSKEY_INVALID'), 'the others are PASSKEY_INVALID')
    t.equal(json(await me(one, json(won[0]!).accessToken)).id, user.user.id, 'the passkey\'s token works on either instance')
  })

  await t.test('a cached Bearer request: one Redis command, no MongoDB query', async (t) => {
    const { accessToken } = await signUp(one, stack)
    await me(two, accessToken)
    let status = 0
    const admins = await commandsOf()
    const mongo = await mongoCommandsDuring(two, async () => {
      t.same(await redisCommandsDuring(admins, async () => { status = (await me(two, accessToken)).statusCode }), { mget: 1 })
    })
    t.equal(status, 200)
    t.same(mongo, [], 'no MongoDB command')
  })
}
