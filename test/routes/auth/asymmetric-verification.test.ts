import { generateKeyPairSync, randomBytes } from 'node:crypto'
import { createSigner } from 'fast-jwt'
import type { FastifyInstance } from 'fastify'
import t from 'tap'
import { jwkThumbprint, type RingKey } from '../../../services/tokens/signing-keys.js'
import { bearer, buildApp, freshDatabaseUrl, json, signUp, startStack } from '../../helper.js'
import { decodeJwtHeader, forgeJwt } from '../../jwt-forgery.js'

// EdDSA / ES256 Bearer tokens are verified through @fastify/jwt's request.jwtVerify() on their
// first request (its verifiers are cached per key), with the ring's exact-header pin in its key
// callback; these are the answers that path must give.
const stack = await startStack(t)
const me = async (app: FastifyInstance, token: string) => await app.inject({ method: 'GET', url: '/auth/me', headers: bearer(token) })

for (const alg of ['EdDSA', 'ES256'] as const) {
  t.test(`${alg}: a Bearer token's first verification goes through request.jwtVerify and keeps every answer`, async (t) => {
    const app = await buildApp(t, stack, { JWT_ALGORITHM: alg, MONGODB_URL: freshDatabaseUrl(stack), JWT_SECRET: randomBytes(32).toString('base64url') })
    const { accessToken, user } = await signUp(app, stack)
    let throughRequest = 0
    const verifyOnRequest = app.verifyOnRequest!
    app.verifyOnRequest = async (request, token) => { throughRequest++; return await verifyOnRequest(request, token) }
    app.verifiedTokens.clear()

    const ok = await me(app, accessToken)
    t.equal(ok.statusCode, 200)
    t.same(json(ok), user)
    t.equal(throughRequest, 1, 'verified through request.jwtVerify')
    t.equal((await me(app, accessToken)).statusCode, 200)
    t.equal(throughRequest, 1, 'then from the verified-token cache')

    // A key of our algorithm added to the ring, signing an expired token and a good one by hand.
    const { publicKey, privateKey } = alg === 'EdDSA' ? generateKeyPairSync('ed25519') : generateKeyPairSync('ec', { namedCurve: 'P-256' })
    const publicJwk = publicKey.export({ format: 'jwk' })
    const extra: RingKey = { kid: jwkThumbprint(publicJwk), alg, publicJwk, activatesAt: Number.MAX_SAFE_INTEGER, privatePem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() }
    const current = app.accessTokens.state().accepted
    t.equal(current.length, 1)
    const sign = (clockTimestamp: number) => createSigner({ key: extra.privatePem, algorithm: alg, kid: extra.kid, expiresIn: 60_000, clockTimestamp })(
      { sub: user.id, sid: decodeJwtPayload(accessToken).sid, jti: randomBytes(9).toString('base64url') })
    // The ring is replaced by one holding the extra key only: the app's own key is dropped, so its token now fails.
    app.accessTokens.update([extra])
    const expired = await me(app, sign(Date.now() - 120_000))
    t.equal(json(expired).code, 'TOKEN_EXPIRED', 'an expired token: TOKEN_EXPIRED, not TOKEN_INVALID')
    t.equal((await me(app, sign(Date.now()))).statusCode, 200, 'a token of the new key verifies')
    t.equal(json(await me(app, accessToken)).code, 'TOKEN_INVALID', 'a token of a key no longer in the ring: TOKEN_INVALID')
    const header = decodeJwtHeader(sign(Date.now()))
    t.equal(json(await me(app, forgeJwt({ ...header, alg: 'HS256' }, decodeJwtPayload(accessToken), extra.privatePem))).code, 'TOKEN_INVALID', 'HS256 under our kid')
    t.equal(json(await me(app, forgeJwt({ ...header, extra: 1 }, decodeJwtPayload(accessToken), 'x'))).code, 'TOKEN_INVALID', 'an extra header field')
  })
}

function decodeJwtPayload (token: string): Record<string, any> {
  return JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString())
}
