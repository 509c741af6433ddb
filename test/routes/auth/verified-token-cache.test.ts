import t from 'tap'
import { redisCommandsDuring } from '../../counters.js'
import { bearer, buildApp, json, pollUntil, signUp, startStack } from '../../helper.js'
import { decodeJwt } from '../../jwt-forgery.js'
import type { FastifyInstance } from 'fastify'

const stack = await startStack(t)
const me = async (app: FastifyInstance, accessToken: string) => await app.inject({ method: 'GET', url: '/auth/me', headers: bearer(accessToken) })

t.test('a token in the verified-token cache is still refused once revoked: revocation is checked every time', async (t) => {
  const app = await buildApp(t, stack)
  const { accessToken } = await signUp(app, stack)
  t.equal((await me(app, accessToken)).statusCode, 200)
  const cached = app.verifiedTokens.get(accessToken)
  t.ok(cached, 'the token is cached')
  // What every later request of this token gets as request.user: the token's claims, no more, and read-only.
  t.same(JSON.parse(JSON.stringify(cached)), decodeJwt(accessToken), 'exactly the token\'s claims when serialized')
  t.same(Object.keys(cached!).sort(), Object.keys(decodeJwt(accessToken)).sort(), 'and when listed')
  t.ok(Object.isFrozen(cached), 'frozen: one request cannot change what the next one sees')
  const commands = await redisCommandsDuring(stack.redis.admin, async () => { t.equal((await me(app, accessToken)).statusCode, 200) })
  t.same(commands, { mget: 1 }, 'a cache hit still costs the one revocation MGET')

  t.equal((await app.inject({ method: 'POST', url: '/auth/logout', headers: bearer(accessToken) })).statusCode, 204)
  t.ok(app.verifiedTokens.get(accessToken), 'still in the cache after logout')
  const response = await me(app, accessToken)
  t.equal(response.statusCode, 401)
  t.equal(json(response).code, 'TOKEN_REVOKED', 'but refused on the very next request')
})

t.test('logout-all and a Redis outage are not hidden by the cache', async (t) => {
  const app = await buildApp(t, stack)
  const { accessToken } = await signUp(app, stack)
  t.equal((await me(app, accessToken)).statusCode, 200)
  await stack.redis.stop()
  t.equal((await me(app, accessToken)).statusCode, 503, 'Redis down: 503, never a pass from the cache')
  await stack.redis.start()
  const status = await pollUntil(async () => (await me(app, accessToken)).statusCode, (code) => code !== 503)
  t.equal(status, 200, 'back after Redis returns (empty: the state is rebuilt from MongoDB)')
  t.equal((await app.inject({ method: 'POST', url: '/auth/logout-all', headers: bearer(accessToken) })).statusCode, 204)
  t.equal(json(await me(app, accessToken)).code, 'TOKEN_REVOKED')
})

t.test('a cached token expires at its exp: TOKEN_EXPIRED, as without the cache', async (t) => {
  const app = await buildApp(t, stack, { ACCESS_TOKEN_TTL: '2' })
  const { accessToken } = await signUp(app, stack)
  t.equal((await me(app, accessToken)).statusCode, 200)
  const { exp } = decodeJwt(accessToken) as { exp: number }
  t.ok(app.verifiedTokens.get(accessToken), 'cached while live')
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, exp * 1000 - Date.now()) + 50))
  t.equal(app.verifiedTokens.get(accessToken), undefined, 'the entry is gone at exp')
  // fast-jwt accepts a token up to and including its exp second; after that it is expired.
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, exp * 1000 + 1_000 - Date.now())))
  const response = await me(app, accessToken)
  t.equal(response.statusCode, 401)
  t.equal(json(response).code, 'TOKEN_EXPIRED')
})
