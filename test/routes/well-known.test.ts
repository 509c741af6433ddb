import { createPublicKey, verify } from 'node:crypto'
import t from 'tap'
import { keySchedule } from '../../services/tokens/key-schedule.js'
import { mongoCommandsDuring, redisCommandsDuring } from '../counters.js'
import { bearer, buildApp, json, signUp, startStack } from '../helper.js'
import { decodeJwtHeader } from '../jwt-forgery.js'

const stack = await startStack(t)

for (const alg of ['EdDSA', 'ES256'] as const) {
  t.test(`${alg}: the JWKS verifies the tokens, and is served from memory with a max-age under the overlap`, async (t) => {
    // No background key sync inside the counted window: it would be the only MongoDB command.
    const app = await buildApp(t, stack, { JWT_ALGORITHM: alg, JWT_KEY_SYNC_INTERVAL: '3600' })
    const { accessToken } = await signUp(app, stack)
    const { kid } = decodeJwtHeader(accessToken)

    const response = await app.inject({ method: 'GET', url: '/.well-known/jwks.json' })
    t.equal(response.statusCode, 200)
    t.match(response.headers['content-type'], /^application\/json/)
    const maxAge = Number(/^public, max-age=(\d+)$/.exec(String(response.headers['cache-control']))?.[1])
    t.ok(maxAge > 0 && maxAge * 1000 < keySchedule(app.config).overlapMs, `max-age ${maxAge} s is shorter than the rotation overlap`)
    const { keys } = json(response)
    t.equal(keys.length, 1)
    t.match(keys[0], { kid, alg, use: 'sig', kty: alg === 'EdDSA' ? 'OKP' : 'EC' })
    t.notOk('d' in keys[0], 'no private member')

    // An independent check of the signature with the published key (node:crypto, not our code).
    const [header, payload, signature] = accessToken.split('.')
    const publicKey = createPublicKey({ key: keys[0], format: 'jwk' })
    const ok = verify(alg === 'EdDSA' ? null : 'sha256', Buffer.from(`${header}.${payload}`), alg === 'EdDSA' ? publicKey : { key: publicKey, dsaEncoding: 'ieee-p1363' }, Buffer.from(signature!, 'base64url'))
    t.ok(ok, 'the token verifies with the published key')

    const responses: number[] = []
    const mongo = await mongoCommandsDuring(app, async () => {
      const redis = await redisCommandsDuring(stack.redis.admin, async () => {
        for (let i = 0; i < 20; i++) responses.push((await app.inject({ method: 'GET', url: '/.well-known/jwks.json' })).statusCode)
      })
      t.same(redis, {}, 'no Redis command for 20 requests (not rate limited through Redis either)')
    })
    t.same(mongo, [], 'no MongoDB command for 20 requests')
    t.same(new Set(responses), new Set([200]))
    t.equal((await app.inject({ method: 'GET', url: '/auth/me', headers: bearer(accessToken) })).statusCode, 200)
  })
}

t.test('HS256 has no public keys: 404', async (t) => {
  const app = await buildApp(t, stack)
  const response = await app.inject({ method: 'GET', url: '/.well-known/jwks.json' })
  t.equal(response.statusCode, 404)
  t.equal(json(response).code, 'NOT_FOUND')
})

t.test('EdDSA configured: alg confusion and alg none are refused through the API', async (t) => {
  const app = await buildApp(t, stack, { JWT_ALGORITHM: 'EdDSA' })
  const { accessToken } = await signUp(app, stack)
  const { kid } = decodeJwtHeader(accessToken)
  const { keys } = json(await app.inject({ method: 'GET', url: '/.well-known/jwks.json' }))
  const pem = createPublicKey({ key: keys[0], format: 'jwk' }).export({ type: 'spki', format: 'pem' }).toString()
  const { forgeJwt, decodeJwt } = await import('../jwt-forgery.js')
  const claims = decodeJwt(accessToken)
  for (const [name, token] of [
    ['HS256 signed with the public key (PEM)', forgeJwt({ alg: 'HS256', typ: 'JWT', kid }, claims, pem)],
    ['HS256 signed with the public key (x)', forgeJwt({ alg: 'HS256', typ: 'JWT', kid }, claims, keys[0].x)],
    ['HS256 signed with JWT_SECRET', forgeJwt({ alg: 'HS256', typ: 'JWT', kid }, claims, app.config.JWT_SECRET)],
    ['alg none', forgeJwt({ alg: 'none', typ: 'JWT', kid }, claims)],
    ['EdDSA with an unknown kid', forgeJwt({ alg: 'EdDSA', typ: 'JWT', kid: 'unknown' }, claims)]
  ] as const) {
    const response = await app.inject({ method: 'GET', url: '/auth/me', headers: bearer(token) })
    t.equal(response.statusCode, 401, name)
    t.equal(json(response).code, 'TOKEN_INVALID', name)
  }
})
