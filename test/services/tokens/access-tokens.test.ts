import { createHmac, generateKeyPairSync } from 'node:crypto'
import t from 'tap'
import { createAccessTokens, hs256Kid } from '../../../services/tokens/access-tokens.js'
import { jwkThumbprint, type AsymmetricAlgorithm, type RingKey } from '../../../services/tokens/signing-keys.js'
import { decodeJwtHeader, forgeJwt } from '../../jwt-forgery.js'

const secret = 'a-test-secret-that-is-long-enough-for-hs256'
const clock = { now: Date.now }
const claims = { sub: '0123456789abcdef01234567', sid: '89abcdef0123456701234567', jti: 'jti-1' }

function ringKey (alg: AsymmetricAlgorithm, activatesAt = 0): RingKey {
  const { publicKey, privateKey } = alg === 'EdDSA' ? generateKeyPairSync('ed25519') : generateKeyPairSync('ec', { namedCurve: 'P-256' })
  const publicJwk = publicKey.export({ format: 'jwk' })
  return { kid: jwkThumbprint(publicJwk), alg, publicJwk, activatesAt, privatePem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() }
}

const codeOf = (work: () => unknown): string | undefined => {
  try { work() } catch (error) { return (error as { code?: string }).code }
  return undefined
}

const now = () => Math.floor(Date.now() / 1000)
const body = { ...claims, iat: now(), exp: now() + 60 }

t.test('HS256: signs with a kid, verifies its own tokens, refuses every other header', async (t) => {
  const tokens = createAccessTokens({ algorithm: 'HS256', accessTokenTtl: 60, hsSecret: secret, clock })
  const token = tokens.sign(claims)
  t.same(decodeJwtHeader(token), { alg: 'HS256', typ: 'JWT', kid: hs256Kid(secret) })
  t.match(tokens.verify(token), claims)
  t.equal(tokens.jwks(), null, 'no public keys')
  const ours = decodeJwtHeader(token)
  t.equal(codeOf(() => tokens.verify(forgeJwt(ours, body, secret))), undefined, 'a hand-made token with our header and secret verifies (the forging helper is right)')
  t.equal(codeOf(() => tokens.verify(forgeJwt({ alg: 'none', typ: 'JWT', kid: ours.kid }, body))), 'TOKEN_INVALID', 'alg none')
  t.equal(codeOf(() => tokens.verify(forgeJwt({ alg: 'HS512', typ: 'JWT', kid: ours.kid }, body, secret))), 'TOKEN_INVALID', 'HS512 with the right secret')
  t.equal(codeOf(() => tokens.verify(forgeJwt({ alg: 'HS256', typ: 'JWT' }, body, secret))), 'TOKEN_INVALID', 'no kid')
  t.equal(codeOf(() => tokens.verify(forgeJwt({ ...ours, kid: 'another' }, body, secret))), 'TOKEN_INVALID', 'another kid')
  t.equal(codeOf(() => tokens.verify(forgeJwt({ ...ours, crit: ['exp'] }, body, secret))), 'TOKEN_INVALID', 'extra header fields')
  const other = createAccessTokens({ algorithm: 'HS256', accessTokenTtl: 60, hsSecret: `${secret}-2`, clock })
  t.equal(codeOf(() => tokens.verify(other.sign(claims))), 'TOKEN_INVALID', 'another secret has another kid')
  t.equal(codeOf(() => tokens.verify(forgeJwt(ours, { ...body, iat: now() - 120, exp: now() - 60 }, secret))), 'TOKEN_EXPIRED')
})

for (const alg of ['EdDSA', 'ES256'] as const) {
  t.test(`${alg}: pinned to ${alg} and to the published kids`, async (t) => {
    const unknown: number[] = []
    const tokens = createAccessTokens({ algorithm: alg, accessTokenTtl: 60, hsSecret: secret, clock, onUnknownKey: () => unknown.push(1) })
    const key = ringKey(alg)
    tokens.update([key])
    const token = tokens.sign(claims)
    t.same(decodeJwtHeader(token), { alg, typ: 'JWT', kid: key.kid })
    t.match(tokens.verify(token), claims)
    t.same(tokens.jwks()!.keys.map((jwk) => [jwk.kid, jwk.alg, jwk.use, jwk.kty]), [[key.kid, alg, 'sig', alg === 'EdDSA' ? 'OKP' : 'EC']])
    t.notOk(JSON.stringify(tokens.jwks()).includes('"d"'), 'no private member in the JWKS')

    // alg confusion: an HS256 token whose HMAC key is our public key, in every form a verifier might use
    const publicPem = (await import('node:crypto')).createPublicKey({ key: key.publicJwk, format: 'jwk' }).export({ type: 'spki', format: 'pem' }).toString()
    for (const [form, hmacKey] of [['PEM', publicPem], ['JWK x', key.publicJwk.x!], ['JWK JSON', JSON.stringify(key.publicJwk)]] as const) {
      const forged = forgeJwt({ alg: 'HS256', typ: 'JWT', kid: key.kid }, body, hmacKey)
      t.equal(codeOf(() => tokens.verify(forged)), 'TOKEN_INVALID', `HS256 signed with the public key (${form})`)
    }
    t.equal(codeOf(() => tokens.verify(forgeJwt({ alg: 'none', typ: 'JWT', kid: key.kid }, body))), 'TOKEN_INVALID', 'alg none with our kid')
    const [header, payload] = token.split('.')
    const hmac = createHmac('sha256', publicPem).update(`${header}.${payload}`).digest('base64url')
    t.equal(codeOf(() => tokens.verify(`${header}.${payload}.${hmac}`)), 'TOKEN_INVALID', 'our exact header with an HMAC signature')

    // kid mismatch: a token signed by another key of the same algorithm under our kid, or under its own
    const stranger = createAccessTokens({ algorithm: alg, accessTokenTtl: 60, hsSecret: secret, clock })
    const strangerKey = ringKey(alg)
    stranger.update([{ ...strangerKey, kid: key.kid }])
    t.equal(codeOf(() => tokens.verify(stranger.sign(claims))), 'TOKEN_INVALID', 'another key claiming our kid: bad signature')
    t.equal(unknown.length, 0)
    stranger.update([strangerKey])
    t.equal(codeOf(() => tokens.verify(stranger.sign(claims))), 'TOKEN_INVALID', 'an unknown kid')
    t.equal(unknown.length, 1, 'an unknown kid of our algorithm asks for a key sync')

    // retired: once a key leaves the ring its tokens are refused, and listeners hear of it
    let removed = 0
    tokens.onKeysRemoved(() => removed++)
    const next = ringKey(alg)
    tokens.update([next, key])
    t.equal(removed, 0, 'adding a key removes nothing')
    t.equal(decodeJwtHeader(tokens.sign(claims)).kid, next.kid, 'the newest active key signs')
    t.match(tokens.verify(token), claims, 'the previous key still verifies while published')
    tokens.update([next])
    t.equal(removed, 1)
    t.equal(codeOf(() => tokens.verify(token)), 'TOKEN_INVALID', 'a retired key: TOKEN_INVALID')
  })
}

t.test('a published successor verifies but does not sign before its activation', async (t) => {
  let time = 1_000_000
  const tokens = createAccessTokens({ algorithm: 'EdDSA', accessTokenTtl: 60, hsSecret: secret, clock: { now: () => time } })
  const current = ringKey('EdDSA', 0)
  const next = ringKey('EdDSA', 2_000_000)
  tokens.update([next, current])
  t.equal(decodeJwtHeader(tokens.sign(claims)).kid, current.kid)
  t.same(tokens.state(), { accepted: [next.kid, current.kid], signing: current.kid })
  time = 2_000_000
  t.equal(decodeJwtHeader(tokens.sign(claims)).kid, next.kid, 'signs from its activation on, with no sync needed')
})

t.test('a key that should sign but could not be unsealed: 503, never an older key in its place', async (t) => {
  let time = 1_000_000
  const tokens = createAccessTokens({ algorithm: 'EdDSA', accessTokenTtl: 60, hsSecret: secret, clock: { now: () => time } })
  const old = ringKey('EdDSA', 0)
  const { privatePem: _unopened, ...successor } = ringKey('EdDSA', 2_000_000)
  tokens.update([old, { ...successor, unusable: `signing key ${successor.kid} cannot be decrypted` }])
  t.equal(decodeJwtHeader(tokens.sign(claims)).kid, old.kid, 'before the successor activates, the current key signs')
  t.equal(tokens.signingProblem(), null)

  time = 2_000_000
  t.equal(codeOf(() => tokens.sign(claims)), 'SERVICE_UNAVAILABLE', 'once it should sign: 503, not a token of the older key')
  t.match(tokens.signingProblem(), /cannot be decrypted/)
  t.same(tokens.state(), { accepted: [old.kid, successor.kid], signing: undefined })
})
