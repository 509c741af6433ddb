import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import Fastify, { type FastifyInstance } from 'fastify'
import t from 'tap'
import latchkey, { serverOptions } from '../../../app.js'
import { keySchedule } from '../../../services/tokens/key-schedule.js'
import { createSigningKeyStore } from '../../../services/tokens/signing-keys.js'
import { bearer, buildApp, codeFrom, freshDatabaseUrl, json, pollUntil, signUp, startStack, testConfig } from '../../helper.js'
import { decodeJwtHeader } from '../../jwt-forgery.js'

const stack = await startStack(t)
const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..')
const me = async (app: FastifyInstance, token: string) => await app.inject({ method: 'GET', url: '/auth/me', headers: bearer(token) })
const kidOf = (token: string): string => decodeJwtHeader(token).kid
const shared = (extra: Record<string, string> = {}) => ({
  JWT_ALGORITHM: 'EdDSA', MONGODB_URL: freshDatabaseUrl(stack), JWT_SECRET: randomBytes(32).toString('base64url'), ...extra
})

/** The rotate script, run as an operator would, against the same database. */
async function rotateScript (env: Record<string, string>, args: string[] = []): Promise<{ kid: string, generation: number, stderr: string }> {
  const { stdout, stderr } = await promisify(execFile)(process.execPath, ['--import', 'tsx', join(root, 'scripts', 'rotate-signing-key.ts'), ...args], {
    cwd: root, env: { ...process.env, NODE_ENV: 'test', SMTP_URL: stack.smtp.url, LOG_LEVEL: 'silent', ...env }
  })
  return { ...JSON.parse(stdout.trim().split('\n').at(-1)!), stderr }
}

t.test('private keys are stored sealed and bound to their kid; a wrong sealing secret stops the boot', async (t) => {
  const env = shared({ KEY_ENCRYPTION_SECRET: randomBytes(32).toString('base64url') })
  const app = await buildApp(t, stack, env)
  const [doc] = await app.mongo.models.SigningKey.find({}).lean()
  t.ok(doc)
  t.equal(doc!.alg, 'EdDSA')
  t.notMatch(doc!.sealedPrivateKey!, /PRIVATE KEY|BEGIN/, 'no PEM at rest')
  t.notOk(JSON.stringify(doc!.publicJwk).includes('"d"'), 'the public JWK has no private member')
  t.equal(doc!._id, kidOf((await signUp(app, stack)).accessToken), 'tokens carry the stored key id')

  const config = testConfig(stack, { ...env, KEY_ENCRYPTION_SECRET: randomBytes(32).toString('base64url') })
  const wrong = Fastify(serverOptions(config))
  const failure = await wrong.register(latchkey, { config }).ready().then(() => null, (error: Error) => error)
  await wrong.close()
  t.match(failure?.message, /cannot be decrypted: KEY_ENCRYPTION_SECRET/, 'the boot fails, naming the variable')
})

t.test('instances booting at once on an empty database agree on one key', async (t) => {
  const env = shared()
  const apps = await Promise.all(Array.from({ length: 4 }, async () => await buildApp(t, stack, env)))
  t.equal(await apps[0]!.mongo.models.SigningKey.countDocuments({}), 1, 'one key created')
  const signing = new Set(apps.map((app) => app.accessTokens.state().signing))
  t.equal(signing.size, 1, 'every instance signs with it')

  // The store itself, raced 20 times on another empty database: still one key.
  const config = testConfig(stack, { JWT_ALGORITHM: 'EdDSA', MONGODB_URL: freshDatabaseUrl(stack) })
  const other = await buildApp(t, stack, {}, { config })
  await other.mongo.models.SigningKey.deleteMany({})
  const store = createSigningKeyStore({ models: other.mongo.models, algorithm: 'EdDSA', sealingSecret: config.JWT_SECRET, rotationSeconds: config.JWT_KEY_ROTATION, schedule: keySchedule(config), clock: { now: Date.now } })
  const rings = await Promise.all(Array.from({ length: 20 }, async () => await store.sync()))
  t.equal(await other.mongo.models.SigningKey.countDocuments({}), 1, '20 parallel syncs: one key')
  t.equal(new Set(rings.map((ring) => ring.keys[0]!.kid)).size, 1)
})

t.test('scheduled rotation: published ahead, signs at its time, the old key kept for the overlap, then gone', async (t) => {
  let time = Date.now()
  const clock = { now: () => time }
  const app = await buildApp(t, stack, shared({ JWT_KEY_ROTATION: '3600' }), { clock })
  const { prepublishMs, overlapMs } = keySchedule(app.config)
  const before = await signUp(app, stack)
  const first = kidOf(before.accessToken)
  t.equal((await me(app, before.accessToken)).statusCode, 200)

  time += 3600_000 - prepublishMs - 1_000
  await app.syncSigningKeys()
  t.equal(await app.mongo.models.SigningKey.countDocuments({}), 1, 'not due yet')

  time += 2_000
  await app.syncSigningKeys()
  const { accepted, signing } = app.accessTokens.state()
  t.equal(accepted.length, 2, 'the successor is published')
  t.equal(signing, first, 'but the first key still signs')
  const jwks = json(await app.inject({ method: 'GET', url: '/.well-known/jwks.json' }))
  t.equal(jwks.keys.length, 2, 'both in the JWKS')

  time += prepublishMs
  const after = await signUp(app, stack)
  t.not(kidOf(after.accessToken), first, 'the successor signs from its activation')
  t.equal((await me(app, before.accessToken)).statusCode, 200, 'tokens of the first key still pass during the overlap')
  await app.syncSigningKeys()
  t.equal((await me(app, before.accessToken)).statusCode, 200)

  time += overlapMs + 1_000
  await app.syncSigningKeys()
  t.same(app.accessTokens.state().accepted, [kidOf(after.accessToken)], 'the first key is no longer published')
  const refused = await me(app, before.accessToken)
  t.equal(refused.statusCode, 401)
  t.equal(json(refused).code, 'TOKEN_INVALID', 'a retired key: TOKEN_INVALID, even though its token was in the verified-token cache')
  t.equal((await me(app, after.accessToken)).statusCode, 200)
  const firstDoc = await app.mongo.models.SigningKey.findById(first).lean()
  t.equal(firstDoc!.sealedPrivateKey, null, 'the retired private key is erased')
})

t.test('rotation across two instances: the rotate script reaches both within the sync interval', async (t) => {
  const env = shared({ JWT_KEY_SYNC_INTERVAL: '1' })
  let ahead = 0 // the instances' clocks follow real time (the script uses it), moved ahead when needed
  const clock = { now: () => Date.now() + ahead }
  const a = await buildApp(t, stack, env, { clock })
  const b = await buildApp(t, stack, env, { clock })
  const ada = await signUp(a, stack)
  const first = kidOf(ada.accessToken)
  t.equal((await me(b, ada.accessToken)).statusCode, 200, 'A signs, B verifies')

  // Planned rotation: published now, signs from one sync interval + skew on.
  const planned = await rotateScript(env)
  t.notMatch(planned.stderr, /not the one that sealed/, 'same secret: no warning')
  for (const app of [a, b]) {
    const accepted = await pollUntil(async () => app.accessTokens.state().accepted, (kids) => kids.includes(planned.kid), { timeoutMs: 10_000 })
    t.ok(accepted.includes(planned.kid), 'both instances publish the new key within the sync interval')
  }
  t.equal(a.accessTokens.state().signing, first, 'the old key signs until the new one activates')
  ahead = 31_000 + 1_000
  const bea = await signUp(b, stack)
  t.equal(kidOf(bea.accessToken), planned.kid, 'then both sign with the new key')
  t.equal(b.accessTokens.state().signing, a.accessTokens.state().signing)
  t.equal((await me(a, bea.accessToken)).statusCode, 200, 'B signs, A verifies')
  t.equal((await me(b, ada.accessToken)).statusCode, 200, 'a token of the old key still passes (planned: nothing was leaked)')

  // Suspected leak: every older key removed, everywhere, within the sync interval.
  const revoked = await rotateScript(env, ['--revoke'])
  for (const [name, app] of [['A', a], ['B', b]] as const) {
    for (const token of [ada.accessToken, bea.accessToken]) {
      const code = await pollUntil(async () => json(await me(app, token)).code, (c) => c === 'TOKEN_INVALID', { timeoutMs: 10_000 })
      t.equal(code, 'TOKEN_INVALID', `${name} refuses tokens of the removed keys`)
    }
    t.same(app.accessTokens.state(), { accepted: [revoked.kid], signing: revoked.kid })
  }
  const cy = await signUp(a, stack)
  t.equal(kidOf(cy.accessToken), revoked.kid)
  t.equal((await me(b, cy.accessToken)).statusCode, 200)
})

t.test('a token of a key this instance has not synced yet makes it sync at once', async (t) => {
  const env = shared({ JWT_KEY_SYNC_INTERVAL: '3600' })
  const a = await buildApp(t, stack, env)
  const b = await buildApp(t, stack, env)
  await new Promise((resolve) => setTimeout(resolve, 5_100)) // past the unknown-kid sync gap after boot
  await rotateScript(env, ['--revoke'])
  await a.syncSigningKeys()
  const { accessToken } = await signUp(a, stack)
  const status = await pollUntil(async () => (await me(b, accessToken)).statusCode, (code) => code === 200, { timeoutMs: 5_000 })
  t.equal(status, 200, 'B learned the new key without waiting an hour for its next sync')
})

t.test('a revocation lands even where the new key cannot be unsealed: old tokens refused, sign-ins and /ready 503 until fixed', async (t) => {
  // The operator changes KEY_ENCRYPTION_SECRET together with an emergency rotation; this
  // instance still runs with the old secret.
  const env = shared({ KEY_ENCRYPTION_SECRET: randomBytes(32).toString('base64url'), JWT_KEY_SYNC_INTERVAL: '3600', EMAIL_COOLDOWN: '0' })
  const newSecret = randomBytes(32).toString('base64url')
  const a = await buildApp(t, stack, env)
  const ada = await signUp(a, stack)
  t.equal((await me(a, ada.accessToken)).statusCode, 200)
  t.equal(json(await a.inject({ method: 'GET', url: '/ready' })).checks.signingKey, 'ok')

  const revoked = await rotateScript({ ...env, KEY_ENCRYPTION_SECRET: newSecret }, ['--revoke'])
  t.match(revoked.stderr, /not the one that sealed the current key: instances still running with the old secret/, 'the script warns the operator')
  const failure = await a.syncSigningKeys().then(() => null, (error: Error) => error)
  t.equal(failure, null, 'the sync applies what it read, although one key cannot be opened')

  const refused = await me(a, ada.accessToken)
  t.same([refused.statusCode, json(refused).code], [401, 'TOKEN_INVALID'], 'the revoked key\'s token is refused after the sync')
  t.same(a.accessTokens.state(), { accepted: [revoked.kid], signing: undefined }, 'only the new key is accepted, and nothing signs')

  const email = ada.user.email
  await a.inject({ method: 'POST', url: '/auth/otp', payload: { email } })
  const code = codeFrom(await stack.smtp.waitForMail(email, { count: 2 }))
  const signIn = await a.inject({ method: 'POST', url: '/auth/otp/verify', payload: { email, code } })
  t.same([signIn.statusCode, json(signIn).code], [503, 'SERVICE_UNAVAILABLE'], 'a sign-in is 503, never a token of the revoked key')
  t.equal(signIn.headers['retry-after'], '1')

  const ready = await a.inject({ method: 'GET', url: '/ready' })
  t.equal(ready.statusCode, 503)
  t.same(json(ready).checks, { redis: 'ok', mongodb: 'ok', signingKey: 'failed' })
  t.equal(json(ready).message, 'Not ready: signing key')

  // An instance with the new secret signs with the new key; A accepts its tokens, and the code
  // that met the 503 was put back.
  const b = await buildApp(t, stack, { ...env, KEY_ENCRYPTION_SECRET: newSecret })
  const onB = await b.inject({ method: 'POST', url: '/auth/otp/verify', payload: { email, code } })
  t.equal(onB.statusCode, 200, 'the same code signs in on an instance that can sign')
  t.equal(kidOf(json(onB).accessToken), revoked.kid)
  t.equal((await me(a, json(onB).accessToken)).statusCode, 200, 'A verifies tokens of the key it cannot sign with')
})

t.test('a stored public key that does not hash to its kid is ignored', async (t) => {
  const env = shared({ JWT_KEY_SYNC_INTERVAL: '3600' })
  const a = await buildApp(t, stack, env)
  const ada = await signUp(a, stack)
  const kid = kidOf(ada.accessToken)
  // Another key's public part under this kid (a tampered or corrupted record).
  const other = await buildApp(t, stack, shared())
  const [foreign] = await other.mongo.models.SigningKey.find({}).lean()
  await a.mongo.models.SigningKey.updateOne({ _id: kid }, { $set: { publicJwk: foreign!.publicJwk } })
  await a.syncSigningKeys()
  t.notOk(a.accessTokens.state().accepted.includes(kid), 'the key is no longer accepted')
  t.equal(json(await me(a, ada.accessToken)).code, 'TOKEN_INVALID')
  t.same(json(await a.inject({ method: 'GET', url: '/.well-known/jwks.json' })).keys, [], 'nor published')
  t.equal(json(await a.inject({ method: 'GET', url: '/ready' })).checks.signingKey, 'failed')

  const config = testConfig(stack, env)
  const booting = Fastify(serverOptions(config))
  const failure = await booting.register(latchkey, { config }).ready().then(() => null, (error: Error) => error)
  await booting.close()
  t.ok(failure !== null, `an instance booting on it refuses to start (${failure?.message})`)
})
