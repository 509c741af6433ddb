import { randomBytes } from 'node:crypto'
import t from 'tap'
import { redisKeys } from '../../../services/infrastructure/redis-keys.js'
import { bearer, buildApp, json, signUp, startStack } from '../../helper.js'
import { forgeJwt, decodeJwt } from '../../jwt-forgery.js'

const stack = await startStack(t)
const secret = randomBytes(32).toString('base64url')
const introspect = (token: string, authorization = `Bearer ${secret}`) => ({
  method: 'POST' as const, url: '/auth/introspect', headers: { authorization }, payload: { token }
})

t.test('a live token is active; after logout the same token is inactive at once', async (t) => {
  const app = await buildApp(t, stack, { INTROSPECTION_SECRET: secret, JWT_ALGORITHM: 'EdDSA' })
  const { accessToken, user } = await signUp(app, stack)
  const live = await app.inject(introspect(accessToken))
  t.equal(live.statusCode, 200)
  const claims = decodeJwt(accessToken)
  t.same(json(live), { active: true, token_type: 'Bearer', sub: user.id, sid: claims.sid, jti: claims.jti, iat: claims.iat, exp: claims.exp })
  t.equal(live.headers['cache-control'], 'no-store')

  t.equal((await app.inject({ method: 'POST', url: '/auth/logout', headers: bearer(accessToken) })).statusCode, 204)
  t.same(json(await app.inject(introspect(accessToken))), { active: false }, 'logged out: inactive on the very next call')
})

t.test('logout-all, expired, garbage, a refresh token and a foreign token are all inactive', async (t) => {
  const app = await buildApp(t, stack, { INTROSPECTION_SECRET: secret })
  const ada = await signUp(app, stack)
  const now = Math.floor(Date.now() / 1000)
  const cases: Array<[string, string]> = [
    ['garbage', 'not-a-token'],
    ['a refresh token', ada.refreshToken],
    ['expired', forgeJwt({ alg: 'HS256', typ: 'JWT', kid: JSON.parse(Buffer.from(ada.accessToken.split('.')[0]!, 'base64url').toString()).kid }, { ...decodeJwt(ada.accessToken), iat: now - 120, exp: now - 60 }, app.config.JWT_SECRET)],
    ['signed with another secret', forgeJwt({ alg: 'HS256', typ: 'JWT' }, decodeJwt(ada.accessToken), 'another-secret-another-secret-xx')],
    ['alg none', forgeJwt({ alg: 'none', typ: 'JWT' }, decodeJwt(ada.accessToken))]
  ]
  for (const [name, token] of cases) t.same(json(await app.inject(introspect(token))), { active: false }, name)
  t.equal(json(await app.inject(introspect(ada.accessToken))).active, true)
  await app.inject({ method: 'POST', url: '/auth/logout-all', headers: bearer(ada.accessToken) })
  t.same(json(await app.inject(introspect(ada.accessToken))), { active: false }, 'logout-all')
})

t.test('client authentication: the configured secret, compared in constant time, else 401', async (t) => {
  const app = await buildApp(t, stack, { INTROSPECTION_SECRET: secret })
  const { accessToken } = await signUp(app, stack)
  for (const [name, authorization] of [
    ['no credentials', ''],
    ['a wrong secret', `Bearer ${randomBytes(32).toString('base64url')}`],
    ['a prefix of the secret', `Bearer ${secret.slice(0, -1)}`],
    ['the user\'s own access token', `Bearer ${accessToken}`],
    ['Basic', `Basic ${Buffer.from(`client:${secret}`).toString('base64')}`]
  ] as const) {
    const response = await app.inject(introspect(accessToken, authorization))
    t.equal(response.statusCode, 401, name)
    t.equal(json(response).code, 'CLIENT_UNAUTHORIZED', name)
    t.match(response.headers['www-authenticate'], /^Bearer/)
  }
  const form = await app.inject({
    method: 'POST',
    url: '/auth/introspect',
    headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/x-www-form-urlencoded' },
    payload: `token=${accessToken}&token_type_hint=access_token`
  })
  t.equal(json(form).active, true, 'RFC 7662 form encoding is accepted too')
  const extra = await app.inject({ ...introspect(accessToken), payload: { token: accessToken, scope: 'admin' } })
  t.equal(extra.statusCode, 400, 'unknown properties are refused')

  const off = await buildApp(t, stack)
  t.equal((await off.inject(introspect(accessToken))).statusCode, 404, 'no INTROSPECTION_SECRET: introspection is off')
})

t.test('rate limited per IP; Redis down is a 503, never an answer', async (t) => {
  const app = await buildApp(t, stack, { INTROSPECTION_SECRET: secret, RATE_LIMIT_INTROSPECT: '3' })
  const { accessToken } = await signUp(app, stack)
  // The limit is shared through Redis: forget what the tests above counted for this IP.
  const counters = await stack.redis.admin.keys(`${redisKeys.rateLimitPrefix}*`)
  if (counters.length > 0) await stack.redis.admin.del(...counters)
  const statuses: number[] = []
  for (let i = 0; i < 4; i++) statuses.push((await app.inject(introspect(accessToken))).statusCode)
  t.same(statuses, [200, 200, 200, 429])
  t.equal((await app.inject(introspect(accessToken, 'Bearer wrong'))).statusCode, 429, 'counted before the client is checked')

  const other = await buildApp(t, stack, { INTROSPECTION_SECRET: secret })
  const bea = await signUp(other, stack)
  await stack.redis.stop()
  try {
    const down = await other.inject(introspect(bea.accessToken))
    t.equal(down.statusCode, 503)
    t.ok(down.headers['retry-after'])
  } finally {
    await stack.redis.start()
  }
})
