import t from 'tap'
import type { FastifyInstance } from 'fastify'
import { createHash } from 'node:crypto'
import { redisKeys } from '../../../services/infrastructure/redis-keys.js'
import { loadConfig } from '../../../services/infrastructure/config.js'
import { bearer, buildApp, json, signUp, startStack, testConfig, type SignedInUser } from '../../helper.js'
import { decodeJwt } from '../../jwt-forgery.js'
import { createSoftAuthenticator, type AuthenticatorSettings, type SoftAuthenticator, type Tamper } from '../../passkeys/soft-authenticator.js'

const stack = await startStack(t)
const ORIGIN = 'http://latchkey.test'
const RP_ID = 'latchkey.test'

const authenticator = (settings: Partial<AuthenticatorSettings> = {}) => createSoftAuthenticator({ origin: ORIGIN, rpId: RP_ID, ...settings })

async function registrationOptions (app: FastifyInstance, accessToken: string) {
  const response = await app.inject({ method: 'POST', url: '/auth/passkeys/register/options', headers: bearer(accessToken) })
  if (response.statusCode !== 200) throw new Error(`register/options: ${response.statusCode} ${response.body}`)
  return json(response)
}

async function addPasskey (app: FastifyInstance, user: SignedInUser, device: SoftAuthenticator, tamper: Tamper = {}, name?: string) {
  const options = await registrationOptions(app, user.accessToken)
  const credential = device.register(options, tamper)
  return await app.inject({ method: 'POST', url: '/auth/passkeys/register', headers: bearer(user.accessToken), payload: { credential, ...(name === undefined ? {} : { name }) } })
}

async function loginOptions (app: FastifyInstance) {
  const response = await app.inject({ method: 'POST', url: '/auth/passkeys/login/options', payload: {} })
  if (response.statusCode !== 200) throw new Error(`login/options: ${response.statusCode} ${response.body}`)
  return json(response)
}

const login = async (app: FastifyInstance, credential: unknown) =>
  await app.inject({ method: 'POST', url: '/auth/passkeys/login', payload: { credential } })

async function signInWith (app: FastifyInstance, device: SoftAuthenticator, tamper: Tamper = {}) {
  return await login(app, device.assert(await loginOptions(app), undefined, tamper))
}

const REFUSAL = { statusCode: 401, code: 'PASSKEY_INVALID', error: 'Unauthorized', message: 'The passkey was not accepted' }

t.test('add a passkey, then sign in with it and no address typed', async (t) => {
  const app = await buildApp(t, stack)
  const user = await signUp(app, stack)
  const device = authenticator()

  const options = await registrationOptions(app, user.accessToken)
  t.equal(options.rp.id, RP_ID)
  t.equal(options.rp.name, 'Latchkey')
  t.equal(options.user.name, user.user.email)
  t.not(options.user.id, user.user.id, 'the user handle is not the database id')
  // Compared as bytes: 32 random bytes read as text contain an "@" about one time in eight.
  const handle = Buffer.from(options.user.id, 'base64url')
  t.notOk(handle.includes(Buffer.from(user.user.email)) || handle.includes(Buffer.from(user.user.id)) || handle.toString('hex').includes(user.user.id), 'nor the address, nor the id in any form')
  t.equal(Buffer.from(options.user.id, 'base64url').length, 32, 'an opaque random handle')
  t.ok(Buffer.from(options.challenge, 'base64url').length >= 16, 'a challenge of at least 16 bytes')
  t.same(options.pubKeyCredParams.map((param: { alg: number }) => param.alg).filter((alg: number) => alg === -7 || alg === -8).sort((a: number, b: number) => a - b), [-8, -7])
  t.equal(options.authenticatorSelection.residentKey, 'required')
  t.equal(options.authenticatorSelection.userVerification, 'required')
  t.equal(options.attestation, 'none')
  t.same(options.excludeCredentials, [])
  const stored = await app.mongo.models.User.findById(user.user.id).lean()
  t.equal(stored?.passkeyHandle, options.user.id, 'the handle is kept on the user')
  const pttl = await stack.redis.admin.pttl(redisKeys.passkeyChallenge(createHash('sha256').update(options.challenge).digest('base64url')))
  t.ok(pttl > 0 && pttl <= 300_000, `the challenge lives at most 5 minutes (pttl ${pttl})`)

  const credential = device.register(options)
  const added = await app.inject({ method: 'POST', url: '/auth/passkeys/register', headers: bearer(user.accessToken), payload: { credential } })
  t.equal(added.statusCode, 201, added.body)
  const view = json(added)
  t.equal(view.id, credential.id)
  t.equal(view.name, 'Passkey', 'unknown model: a plain name')
  t.equal(view.lastUsedAt, null)
  t.equal(view.backedUp, false)
  t.equal(view.deviceType, 'singleDevice')
  t.same(view.transports, ['internal'])

  const again = await registrationOptions(app, user.accessToken)
  t.same(again.excludeCredentials.map((entry: { id: string }) => entry.id), [credential.id], 'the person\'s passkeys are excluded')
  t.equal(again.user.id, options.user.id, 'the same handle every time')

  const request = await loginOptions(app)
  t.equal(request.rpId, RP_ID)
  t.equal(request.userVerification, 'required')
  t.notOk('allowCredentials' in request && request.allowCredentials.length > 0, 'no allowCredentials')
  const signedIn = await login(app, device.assert(request))
  t.equal(signedIn.statusCode, 200, signedIn.body)
  const body = json(signedIn)
  t.equal(body.user.id, user.user.id)
  t.ok(body.accessToken && body.refreshToken && body.expiresIn)
  const claims = decodeJwt(body.accessToken)
  const session = await app.mongo.models.Session.findById(claims.sid).lean()
  t.equal(session?.method, 'passkey', 'the session started like every sign-in, with method passkey')
  t.equal((await app.inject({ method: 'GET', url: '/auth/me', headers: bearer(body.accessToken) })).statusCode, 200)

  const list = json(await app.inject({ method: 'GET', url: '/auth/passkeys', headers: bearer(body.accessToken) }))
  t.equal(list.length, 1)
  t.ok(list[0].lastUsedAt !== null, 'last use recorded')

  const events = await app.auditLog.list({ userId: user.user.id, type: 'passkey.added', limit: 10 })
  t.equal(events.events.length, 1, 'passkey.added recorded')
  t.equal(events.events[0]?.data.passkeyId, credential.id)

  const known = await addPasskey(app, user, authenticator({ aaguid: 'fbfc3007-154e-4ecc-8c0b-6e020557d7bd', backupEligible: true, backedUp: true, counting: false }))
  t.equal(json(known).name, 'iCloud Keychain', 'named from the authenticator model')
  t.equal(json(known).deviceType, 'multiDevice')
  const named = await addPasskey(app, user, authenticator(), {}, 'My laptop')
  t.equal(json(named).name, 'My laptop')
})

t.test('invariant 12: 50 identical assertions over two instances → exactly one 200', async (t) => {
  const config = testConfig(stack)
  const first = await buildApp(t, stack, {}, { config })
  const second = await buildApp(t, stack, {}, { config })
  const user = await signUp(first, stack)
  const device = authenticator()
  t.equal((await addPasskey(first, user, device)).statusCode, 201)
  const credential = device.assert(await loginOptions(first))
  const answers = await Promise.all(Array.from({ length: 50 }, async (_, i) => await login(i % 2 === 0 ? first : second, credential)))
  t.equal(answers.filter((answer) => answer.statusCode === 200).length, 1, 'exactly one sign-in')
  t.ok(answers.every((answer) => answer.statusCode === 200 || (answer.statusCode === 401 && json(answer).code === 'PASSKEY_INVALID')), 'the rest are PASSKEY_INVALID')
  const sessions = await first.mongo.models.Session.countDocuments({ userId: user.user.id, method: 'passkey' })
  t.equal(sessions, 1, 'one session')
})

t.test('every sign-in failure is the same 401 PASSKEY_INVALID', async (t) => {
  const lines: string[] = []
  const app = await buildApp(t, stack, { LOG_LEVEL: 'warn' }, { logStream: { write: (line: string) => { lines.push(line) } } })
  const user = await signUp(app, stack)
  const device = authenticator()
  t.equal((await addPasskey(app, user, device)).statusCode, 201)

  const refused = async (name: string, response: Awaited<ReturnType<typeof login>>) => {
    t.equal(response.statusCode, 401, `${name}: 401`)
    const { unknownCredential: _ignored, ...rest } = json(response)
    t.same(rest, REFUSAL, `${name}: the one answer`)
  }

  await refused('no user verification', await signInWith(app, device, { uv: false }))
  await refused('foreign origin', await signInWith(app, device, { origin: 'https://evil.example' }))
  await refused('wrong RP id hash', await signInWith(app, device, { rpId: 'evil.example' }))
  await refused('wrong clientData type', await signInWith(app, device, { type: 'webauthn.create' }))
  await refused('bad signature', await signInWith(app, device, { wrongKey: true }))
  await refused('challenge never issued', await login(app, device.assert({ challenge: Buffer.alloc(32, 7).toString('base64url') })))
  const expiredOptions = await loginOptions(app)
  await stack.redis.admin.del(redisKeys.passkeyChallenge(createHash('sha256').update(expiredOptions.challenge).digest('base64url')))
  await refused('challenge expired', await login(app, device.assert(expiredOptions)))
  await refused('foreign user handle', await signInWith(app, device, { userHandle: Buffer.alloc(32, 1).toString('base64url') }))
  await refused('a stranger\'s authenticator', await login(app, authenticator().assert(await loginOptions(app), (() => { const other = authenticator(); other.register({ challenge: 'x', user: { id: 'eA' } }); return other.credentials[0]! })())))

  const good = await signInWith(app, device)
  t.equal(good.statusCode, 200, 'the genuine authenticator still signs in')
  const replay = device.assert(await loginOptions(app))
  t.equal((await login(app, replay)).statusCode, 200)
  await refused('the same assertion again (challenge used)', await login(app, replay))
})

t.test('a signature counter that does not increase is refused, logged and counted', async (t) => {
  const lines: string[] = []
  const app = await buildApp(t, stack, { LOG_LEVEL: 'warn' }, { logStream: { write: (line: string) => { lines.push(line) } } })
  const user = await signUp(app, stack)
  const device = authenticator()
  t.equal((await addPasskey(app, user, device)).statusCode, 201)
  t.equal((await signInWith(app, device)).statusCode, 200, 'counter 1')
  t.equal((await signInWith(app, device)).statusCode, 200, 'counter 2')
  const before = await app.metrics.value('latchkey_passkey_failures_total', { reason: 'counter' })

  const cloned = await signInWith(app, device, { counter: 2 })
  t.equal(cloned.statusCode, 401, 'the same counter again: a clone')
  t.equal(json(cloned).code, 'PASSKEY_INVALID')
  const lower = await signInWith(app, device, { counter: 1 })
  t.equal(lower.statusCode, 401, 'a lower counter')
  t.equal(await app.metrics.value('latchkey_passkey_failures_total', { reason: 'counter' }), before + 2, 'counted')
  t.ok(lines.some((line) => /cloned authenticator/.test(line)), 'logged')
  t.notOk(lines.some((line) => line.includes(user.accessToken) || line.includes(device.credentials[0]!.userHandle)), 'no token or handle in the log')
  const badSignature = await signInWith(app, device, { counter: 1, wrongKey: true })
  t.equal(badSignature.statusCode, 401)
  t.equal(await app.metrics.value('latchkey_passkey_failures_total', { reason: 'counter' }), before + 2, 'a bad signature is no clone warning')

  // Both zero (synced passkeys never count): accepted every time.
  const synced = authenticator({ counting: false, backupEligible: true, backedUp: true })
  t.equal((await addPasskey(app, user, synced)).statusCode, 201)
  t.equal((await signInWith(app, synced)).statusCode, 200)
  t.equal((await signInWith(app, synced)).statusCode, 200, 'zero and zero is not a clone')
})

t.test('backup flags: a changed backup-eligible flag is refused, a changed backed-up flag stored', async (t) => {
  const app = await buildApp(t, stack)
  const user = await signUp(app, stack)
  const device = authenticator({ backupEligible: true, backedUp: false })
  t.equal((await addPasskey(app, user, device)).statusCode, 201)
  const list = async () => json(await app.inject({ method: 'GET', url: '/auth/passkeys', headers: bearer(user.accessToken) }))
  t.equal((await list())[0].backedUp, false)

  t.equal((await signInWith(app, device, { backedUp: true })).statusCode, 200, 'backed up since: fine')
  t.equal((await list())[0].backedUp, true, 'and stored')
  const flipped = await signInWith(app, device, { backupEligible: false, backedUp: false })
  t.equal(flipped.statusCode, 401, 'backup-eligible changed: refused')
  t.equal(json(flipped).code, 'PASSKEY_INVALID')

  const single = authenticator()
  t.equal((await addPasskey(app, user, single)).statusCode, 201)
  t.equal((await signInWith(app, single, { backupEligible: true })).statusCode, 401, 'and the other way round')
})

t.test('registration refusals are 400 PASSKEY_INVALID', async (t) => {
  const app = await buildApp(t, stack)
  const user = await signUp(app, stack)
  const other = await signUp(app, stack)
  const device = authenticator()
  const register = async (who: SignedInUser, credential: unknown) =>
    await app.inject({ method: 'POST', url: '/auth/passkeys/register', headers: bearer(who.accessToken), payload: { credential } })
  const rejected = (name: string, response: Awaited<ReturnType<typeof register>>) => {
    t.equal(response.statusCode, 400, `${name}: 400`)
    t.equal(json(response).code, 'PASSKEY_INVALID', name)
  }

  rejected('no user verification', await addPasskey(app, user, device, { uv: false }))
  rejected('foreign origin', await addPasskey(app, user, device, { origin: 'https://evil.example' }))
  rejected('wrong RP id', await addPasskey(app, user, device, { rpId: 'evil.example' }))
  rejected('wrong clientData type', await addPasskey(app, user, device, { type: 'webauthn.get' }))
  rejected('another person\'s challenge', await register(user, device.register(await registrationOptions(app, other.accessToken))))
  rejected('a sign-in challenge', await register(user, device.register({ ...(await loginOptions(app)), user: { id: 'eA' } })))
  const options = await registrationOptions(app, user.accessToken)
  const credential = device.register(options)
  t.equal((await register(user, credential)).statusCode, 201)
  rejected('the same challenge again', await register(user, credential))
  rejected('a credential already registered', await register(other, device.register(await registrationOptions(app, other.accessToken), { reuse: device.credentials.at(-1)! })))
  t.equal(await app.mongo.models.Passkey.countDocuments({ userId: user.user.id }), 1, 'one passkey stored')
})

t.test('list, rename and delete are the owner\'s only; a deleted passkey signs nobody in', async (t) => {
  const app = await buildApp(t, stack)
  const user = await signUp(app, stack)
  const other = await signUp(app, stack)
  const device = authenticator()
  const id = json(await addPasskey(app, user, device)).id as string
  const url = `/auth/passkeys/${id}`

  t.equal((await app.inject({ method: 'PATCH', url, headers: bearer(other.accessToken), payload: { name: 'Mine now' } })).statusCode, 404, 'another person cannot rename it')
  t.equal((await app.inject({ method: 'DELETE', url, headers: bearer(other.accessToken) })).statusCode, 404, 'nor delete it')
  t.same(json(await app.inject({ method: 'GET', url: '/auth/passkeys', headers: bearer(other.accessToken) })), [], 'nor see it')
  const renamed = await app.inject({ method: 'PATCH', url, headers: bearer(user.accessToken), payload: { name: '  Work phone ' } })
  t.equal(renamed.statusCode, 200)
  t.equal(json(renamed).name, 'Work phone')
  t.equal((await app.inject({ method: 'PATCH', url, headers: bearer(user.accessToken), payload: { name: { $gt: '' } } })).statusCode, 400)

  const deleted = await app.inject({ method: 'DELETE', url, headers: bearer(user.accessToken) })
  t.equal(deleted.statusCode, 204)
  t.equal((await app.inject({ method: 'DELETE', url, headers: bearer(user.accessToken) })).statusCode, 404)
  const events = await app.auditLog.list({ userId: user.user.id, type: 'passkey.removed', limit: 10 })
  t.equal(events.events.length, 1, 'passkey.removed recorded')

  const after = await signInWith(app, device)
  t.equal(after.statusCode, 401, 'a deleted passkey is refused')
  t.equal(json(after).code, 'PASSKEY_INVALID')
  t.equal(json(after).unknownCredential, true, 'flagged so the page can signal the browser')
})

t.test('adding and deleting need a recent sign-in; a passkey re-authenticates the same session', async (t) => {
  let offset = 0
  const app = await buildApp(t, stack, { RECENT_AUTH_WINDOW: '600' }, { clock: { now: () => Date.now() + offset } })
  const user = await signUp(app, stack)
  const device = authenticator()
  const id = json(await addPasskey(app, user, device)).id as string
  offset = 601_000

  const options = await app.inject({ method: 'POST', url: '/auth/passkeys/register/options', headers: bearer(user.accessToken) })
  t.equal(options.statusCode, 403)
  t.equal(json(options).code, 'REAUTH_REQUIRED')
  t.equal(json(await app.inject({ method: 'POST', url: '/auth/passkeys/register', headers: bearer(user.accessToken), payload: { credential: authenticator().register({ challenge: 'x', user: { id: 'eA' } }) } })).code, 'REAUTH_REQUIRED')
  const remove = await app.inject({ method: 'DELETE', url: `/auth/passkeys/${id}`, headers: bearer(user.accessToken) })
  t.equal(json(remove).code, 'REAUTH_REQUIRED')
  t.equal((await app.inject({ method: 'PATCH', url: `/auth/passkeys/${id}`, headers: bearer(user.accessToken), payload: { name: 'Renaming is fine' } })).statusCode, 200)

  const stranger = await signUp(app, stack)
  const strangerDevice = authenticator()
  offset = 0
  t.equal((await addPasskey(app, stranger, strangerDevice)).statusCode, 201)
  offset = 601_000
  const foreign = await app.inject({ method: 'POST', url: '/auth/reauthenticate', headers: bearer(user.accessToken), payload: { credential: strangerDevice.assert(await loginOptions(app)) } })
  t.equal(foreign.statusCode, 401, 'another person\'s passkey does not re-authenticate me')
  t.equal(json(foreign).code, 'PASSKEY_INVALID')

  const reauth = await app.inject({ method: 'POST', url: '/auth/reauthenticate', headers: bearer(user.accessToken), payload: { credential: device.assert(await loginOptions(app)) } })
  t.equal(reauth.statusCode, 200, reauth.body)
  const fresh = json(reauth)
  t.equal(decodeJwt(fresh.accessToken).sid, decodeJwt(user.accessToken).sid, 'the same session')
  t.equal(await app.mongo.models.Session.countDocuments({ userId: user.user.id }), 1, 'no new session')
  t.equal((await app.inject({ method: 'DELETE', url: `/auth/passkeys/${id}`, headers: bearer(fresh.accessToken) })).statusCode, 204)
  const both = await app.inject({ method: 'POST', url: '/auth/reauthenticate', headers: bearer(fresh.accessToken), payload: { code: '123456', credential: device.assert(await loginOptions(app)) } })
  t.equal(both.statusCode, 400, 'code or credential, not both')
})

t.test('deleting the account deletes its passkeys', async (t) => {
  const app = await buildApp(t, stack)
  const user = await signUp(app, stack)
  const device = authenticator()
  t.equal((await addPasskey(app, user, device)).statusCode, 201)
  t.equal((await app.inject({ method: 'DELETE', url: '/auth/me', headers: bearer(user.accessToken) })).statusCode, 204)
  t.equal(await app.mongo.models.Passkey.countDocuments({ userId: user.user.id }), 0)
  t.equal((await signInWith(app, device)).statusCode, 401)
})

t.test('WEBAUTHN_* are validated at boot, with one line', async (t) => {
  const base = { NODE_ENV: 'development', JWT_SECRET: 'x'.repeat(32), APP_URL: 'https://app.example.com' }
  t.doesNotThrow(() => loadConfig({ ...base, WEBAUTHN_RP_ID: 'example.com' }), 'a parent domain is a registrable suffix')
  t.doesNotThrow(() => loadConfig({ ...base, WEBAUTHN_ORIGINS: 'https://app.example.com,https://id.example.com', WEBAUTHN_RP_ID: 'example.com' }))
  t.throws(() => loadConfig({ ...base, WEBAUTHN_RP_ID: 'other.com' }), { message: /^Invalid configuration: WEBAUTHN_RP_ID is not a registrable suffix of the host of https:\/\/app\.example\.com[^\n]*$/ })
  t.throws(() => loadConfig({ ...base, WEBAUTHN_RP_ID: 'ample.com' }), /WEBAUTHN_RP_ID/, 'a suffix that is not a label boundary')
  t.throws(() => loadConfig({ ...base, WEBAUTHN_RP_ID: 'com' }), /WEBAUTHN_RP_ID/, 'a bare top-level domain')
  t.throws(() => loadConfig({ ...base, WEBAUTHN_ORIGINS: 'https://app.example.com,https://evil.test' }), /WEBAUTHN_RP_ID/, 'every origin must fit')
  t.throws(() => loadConfig({ ...base, WEBAUTHN_ORIGINS: 'not an origin' }), /WEBAUTHN_ORIGINS/)
  t.throws(() => loadConfig({ ...base, WEBAUTHN_RP_NAME: 'x'.repeat(65) }), /WEBAUTHN_RP_NAME/)
  t.doesNotThrow(() => loadConfig({ ...base, APP_URL: 'http://127.0.0.1:3000' }), 'an APP_URL on an IP address still boots (passkeys cannot work there)')
  t.throws(() => loadConfig({ ...base, APP_URL: 'http://127.0.0.1:3000', WEBAUTHN_RP_ID: '127.0.0.1' }), /WEBAUTHN_RP_ID must be a domain name/, 'but an IP is never a chosen RP id')
})
