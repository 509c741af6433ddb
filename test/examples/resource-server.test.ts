import { randomBytes } from 'node:crypto'
import t from 'tap'
import { buildResourceServer } from '../../examples/resource-server/app.js'
import { keySchedule } from '../../services/tokens/key-schedule.js'
import { createSigningKeyStore } from '../../services/tokens/signing-keys.js'
import { bearer, buildApp, json, pollUntil, signUp, startStack } from '../helper.js'
import { decodeJwt, decodeJwtHeader, forgeJwt } from '../jwt-forgery.js'

const stack = await startStack(t)

t.test('the example resource server verifies Latchkey tokens through the JWKS URL', async (t) => {
  const introspectionSecret = randomBytes(32).toString('base64url')
  const latchkey = await buildApp(t, stack, { JWT_ALGORITHM: 'EdDSA', INTROSPECTION_SECRET: introspectionSecret })
  await latchkey.listen({ port: 0, host: '127.0.0.1' })
  const address = latchkey.server.address()
  const latchkeyUrl = `http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}`
  // Keys trusted for 1 s (instead of the JWKS max-age) so the test sees a removed key go.
  const api = buildResourceServer({ latchkeyUrl, algorithm: 'EdDSA', cacheMaxAge: 1_000, cooldownDuration: 0, introspectionSecret })
  t.teardown(async () => { await api.close() })
  const get = async (path: string, token: string) => await api.inject({ method: 'GET', url: path, headers: bearer(token) })

  const ada = await signUp(latchkey, stack)
  const accepted = await get('/whoami', ada.accessToken)
  t.equal(accepted.statusCode, 200, 'a Latchkey token is accepted')
  t.same(json(accepted), { sub: ada.user.id, sid: decodeJwt(ada.accessToken).sid })
  t.equal((await get('/strict', ada.accessToken)).statusCode, 200)

  const { kid, alg } = decodeJwtHeader(ada.accessToken)
  const { keys } = json(await latchkey.inject({ method: 'GET', url: '/.well-known/jwks.json' }))
  for (const [name, token] of [
    ['alg none', forgeJwt({ alg: 'none', typ: 'JWT', kid }, decodeJwt(ada.accessToken))],
    ['HS256 signed with the public key', forgeJwt({ alg: 'HS256', typ: 'JWT', kid }, decodeJwt(ada.accessToken), keys[0].x)],
    ['a tampered payload', `${ada.accessToken.split('.')[0]}.${Buffer.from(JSON.stringify({ ...decodeJwt(ada.accessToken), sub: 'someone-else' })).toString('base64url')}.${ada.accessToken.split('.')[2]}`]
  ] as const) {
    const refused = await get('/whoami', token)
    t.equal(refused.statusCode, 401, `${name} is refused`)
    t.equal(json(refused).code, 'TOKEN_INVALID')
  }
  t.equal(alg, 'EdDSA')

  // What a stateless check does not get: a logged-out token still passes until its exp. Introspection does.
  const bea = await signUp(latchkey, stack)
  await latchkey.inject({ method: 'POST', url: '/auth/logout', headers: bearer(bea.accessToken) })
  t.equal((await get('/whoami', bea.accessToken)).statusCode, 200, 'stateless: a logged-out token passes until exp')
  const strict = await get('/strict', bea.accessToken)
  t.equal(strict.statusCode, 401, 'with introspection: refused at once')
  t.equal(json(strict).code, 'TOKEN_REVOKED')

  // A suspected leak: Latchkey rotates and removes the old key.
  const { config, mongo } = latchkey
  const store = createSigningKeyStore({ models: mongo.models, algorithm: 'EdDSA', sealingSecret: config.JWT_SECRET, rotationSeconds: config.JWT_KEY_ROTATION, schedule: keySchedule(config), clock: { now: Date.now } })
  await store.rotate({ revoke: true })
  await latchkey.syncSigningKeys()
  const removed = await pollUntil(async () => (await get('/whoami', ada.accessToken)).statusCode, (status) => status === 401, { timeoutMs: 10_000 })
  t.equal(removed, 401, 'a token signed by the removed key is refused once the cached key set expires')

  const cy = await signUp(latchkey, stack)
  t.not(decodeJwtHeader(cy.accessToken).kid, kid)
  const afterRotation = await get('/whoami', cy.accessToken)
  t.equal(afterRotation.statusCode, 200, 'after the rotation, tokens of the new key are accepted')
  t.equal(json(afterRotation).sub, cy.user.id)
})
