import t from 'tap'
import { bearer, buildApp, json, linkFrom, startStack, tokenFrom, uniqueEmail } from '../../helper.js'

const stack = await startStack(t)

t.test('signup by magic link, end to end: email → verify (not consumed) → signup → /auth/me', async (t) => {
  const app = await buildApp(t, stack)
  const email = uniqueEmail('ada')

  const request = await app.inject({ method: 'POST', url: '/auth/magic-link', payload: { email } })
  t.equal(request.statusCode, 202)

  const mail = await stack.smtp.waitForMail(email)
  t.match(mail.subject, /Finish creating/, 'a new address gets a signup email')
  const link = linkFrom(mail)
  t.equal(link.origin, 'http://latchkey.test', 'links are built from APP_URL')
  const token = tokenFrom(mail)

  for (let i = 0; i < 2; i++) {
    const verify = await app.inject({ method: 'GET', url: `/auth/magic-link/verify?token=${token}` })
    t.equal(verify.statusCode, 200, `verify #${i + 1} answers`)
    t.same(json(verify), { valid: true, purpose: 'signup', email })
  }

  const signup = await app.inject({ method: 'POST', url: `/auth/signup?token=${token}`, payload: { email, name: 'Ada' } })
  t.equal(signup.statusCode, 201)
  const body = json(signup)
  t.match(body, { user: { email, name: 'Ada' }, accessToken: String, refreshToken: String, expiresIn: 900 })

  const me = await app.inject({ method: 'GET', url: '/auth/me', headers: bearer(body.accessToken) })
  t.equal(me.statusCode, 200)
  t.same(json(me), body.user)
})
