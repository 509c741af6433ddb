import t from 'tap'
import type { FastifyInstance } from 'fastify'
import { bearer, buildApp, codeFrom, json, signUp, startStack } from '../../helper.js'
import { decodeJwt } from '../../jwt-forgery.js'

const stack = await startStack(t)

/** A clock the test moves: the app's idea of now, ahead of the wall clock by `offset` ms. */
function movableClock () {
  let offset = 0
  return { clock: { now: () => Date.now() + offset }, advance: (seconds: number) => { offset += seconds * 1000 } }
}

const authTime = (accessToken: string): number => (decodeJwt(accessToken) as { auth_time: number }).auth_time

async function reauthCode (app: FastifyInstance, email: string, accessToken: string): Promise<string> {
  const before = stack.smtp.inbox(email).length
  const sent = await app.inject({ method: 'POST', url: '/auth/reauthenticate/code', headers: bearer(accessToken) })
  if (sent.statusCode !== 202) throw new Error(`reauthenticate/code: ${sent.statusCode} ${sent.body}`)
  return codeFrom(await stack.smtp.waitForMail(email, { count: before + 1 }))
}

t.test('auth_time: set at sign-in, kept by refresh', async (t) => {
  const { clock, advance } = movableClock()
  const app = await buildApp(t, stack, {}, { clock })
  const signedIn = await signUp(app, stack)
  const first = authTime(signedIn.accessToken)
  t.ok(Math.abs(first - Math.floor(clock.now() / 1000)) <= 1, 'auth_time is the sign-in time')

  advance(3600)
  const refreshed = await app.inject({ method: 'POST', url: '/auth/refresh', payload: { refreshToken: signedIn.refreshToken } })
  t.equal(refreshed.statusCode, 200)
  t.equal(authTime(json(refreshed).accessToken), first, 'a refresh keeps auth_time (it proves nothing about the person)')
})

t.test('DELETE /auth/me needs a recent sign-in; re-authentication renews the SAME session', async (t) => {
  const { clock, advance } = movableClock()
  const app = await buildApp(t, stack, { RECENT_AUTH_WINDOW: '600', EMAIL_COOLDOWN: '0' }, { clock })
  const { user, accessToken, refreshToken } = await signUp(app, stack)
  const sid = decodeJwt(accessToken).sid

  advance(601)
  const refused = await app.inject({ method: 'DELETE', url: '/auth/me', headers: bearer(accessToken) })
  t.equal(refused.statusCode, 403)
  t.equal(json(refused).code, 'REAUTH_REQUIRED')
  t.equal((await app.inject({ method: 'GET', url: '/auth/me', headers: bearer(accessToken) })).statusCode, 200, 'the account is still there')

  // The old refresh token alone cannot make a recent token (the 30-day cookie problem).
  const viaRefresh = await app.inject({ method: 'POST', url: '/auth/refresh', payload: { refreshToken } })
  const refreshedPair = json(viaRefresh)
  t.equal((await app.inject({ method: 'DELETE', url: '/auth/me', headers: bearer(refreshedPair.accessToken) })).statusCode, 403, 'a refreshed token is no more recent')

  const code = await reauthCode(app, user.email, refreshedPair.accessToken)
  const wrong = await app.inject({ method: 'POST', url: '/auth/reauthenticate', headers: bearer(refreshedPair.accessToken), payload: { code: code === '000000' ? '111111' : '000000' } })
  t.equal(wrong.statusCode, 401)
  t.equal(json(wrong).code, 'OTP_INVALID')

  const reauth = await app.inject({ method: 'POST', url: '/auth/reauthenticate', headers: bearer(refreshedPair.accessToken), payload: { code } })
  t.equal(reauth.statusCode, 200, reauth.body)
  const fresh = json(reauth)
  t.same(Object.keys(fresh).sort(), ['accessToken', 'expiresIn', 'refreshToken'])
  t.equal(decodeJwt(fresh.accessToken).sid, sid, 'the same session')
  t.ok(authTime(fresh.accessToken) >= Math.floor(clock.now() / 1000) - 1, 'with a fresh auth_time')
  const sessions = json(await app.inject({ method: 'GET', url: '/auth/sessions', headers: bearer(fresh.accessToken) }))
  t.equal(sessions.length, 1, 'no new session was created')

  const oldRefresh = await app.inject({ method: 'POST', url: '/auth/refresh', payload: { refreshToken: refreshedPair.refreshToken } })
  t.equal(oldRefresh.statusCode, 401, 'the refresh token from before the re-authentication is dead')
  const newRefresh = await app.inject({ method: 'POST', url: '/auth/refresh', payload: { refreshToken: fresh.refreshToken } })
  t.equal(newRefresh.statusCode, 200)
  t.equal(authTime(json(newRefresh).accessToken), authTime(fresh.accessToken), 'refresh keeps the new auth_time')

  const again = await app.inject({ method: 'POST', url: '/auth/reauthenticate', headers: bearer(fresh.accessToken), payload: { code } })
  t.equal(again.statusCode, 401, 'the code is single use')

  const deleted = await app.inject({ method: 'DELETE', url: '/auth/me', headers: bearer(fresh.accessToken) })
  t.equal(deleted.statusCode, 204)
})

t.test('a token without auth_time is never recent; reauthenticate needs a live session', async (t) => {
  const app = await buildApp(t, stack, { EMAIL_COOLDOWN: '0' })
  const { user, accessToken } = await signUp(app, stack)
  const claims = decodeJwt(accessToken)
  const legacy = app.accessTokens.sign({ sub: claims.sub, sid: claims.sid, jti: 'legacyjti12345678' })
  const refused = await app.inject({ method: 'DELETE', url: '/auth/me', headers: bearer(legacy) })
  t.equal(json(refused).code, 'REAUTH_REQUIRED')

  const code = await reauthCode(app, user.email, accessToken)
  t.equal((await app.inject({ method: 'POST', url: '/auth/logout', headers: bearer(accessToken) })).statusCode, 204)
  const afterLogout = await app.inject({ method: 'POST', url: '/auth/reauthenticate', headers: bearer(legacy), payload: { code } })
  t.equal(afterLogout.statusCode, 401, 'a logged-out session cannot be re-authenticated')
})

t.test('RECENT_AUTH_WINDOW is validated at boot', async (t) => {
  const { loadConfig } = await import('../../../services/infrastructure/config.js')
  t.throws(() => loadConfig({ NODE_ENV: 'development', JWT_SECRET: 'x'.repeat(32), RECENT_AUTH_WINDOW: '0' }), /RECENT_AUTH_WINDOW/)
})
