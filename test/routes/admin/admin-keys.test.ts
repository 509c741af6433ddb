import { randomBytes } from 'node:crypto'
import t from 'tap'
import { adminKeyFingerprint } from '../../../services/admin/admin-keys.js'
import { ConfigError, loadConfig } from '../../../services/infrastructure/config.js'
import { bearer, buildApp, json, signUp, startStack } from '../../helper.js'

/** Admin keys (issue 22.1): configuration, absence, refusal, rotation, separation from user tokens, limit, logs, events. */
const stack = await startStack(t)
const key = randomBytes(32).toString('base64url')
const nextKey = randomBytes(32).toString('base64url')
const admin = (value: string) => ({ authorization: `Bearer ${value}` })

t.test('ADMIN_API_KEYS is validated at boot in one line that never echoes a key', async (t) => {
  const base = { JWT_SECRET: 'j'.repeat(40), SMTP_URL: 'smtp://localhost:1025' }
  const short = 'short-key-of-31-characters-xxxx'
  t.throws(() => loadConfig({ ...base, ADMIN_API_KEYS: `${key},${short}` }), new ConfigError('Invalid configuration: ADMIN_API_KEYS must list keys of at least 32 characters each, separated by commas'))
  t.throws(() => loadConfig({ ...base, ADMIN_API_KEYS: ' , ' }), /ADMIN_API_KEYS must list keys/)
  t.throws(() => loadConfig({ ...base, ADMIN_API_KEYS: base.JWT_SECRET }), /must not reuse JWT_SECRET/)
  try { loadConfig({ ...base, ADMIN_API_KEYS: `${key},${short}` }) } catch (error) {
    t.notOk(String((error as Error).message).includes(short), 'the message never holds a key')
  }
  t.equal(loadConfig({ ...base, ADMIN_API_KEYS: ` ${key} , ${nextKey} ` }).RATE_LIMIT_ADMIN, 120, 'two keys with spaces are fine; the admin limit defaults to 120 a minute')
})

t.test('without ADMIN_API_KEYS every /admin path is a plain 404 and none is in the OpenAPI document', async (t) => {
  const app = await buildApp(t, stack)
  for (const [method, url] of [['GET', '/admin/users'], ['GET', '/admin/users/665f1c2e8b3a4d0012345678'], ['POST', '/admin/users/665f1c2e8b3a4d0012345678/disable'], ['GET', '/admin/audit-events'], ['GET', '/admin/webhooks']] as const) {
    const response = await app.inject({ method, url, headers: admin(key) })
    t.equal(response.statusCode, 404, `${method} ${url}`)
    t.equal(json(response).code, 'NOT_FOUND')
  }
  const document = json(await app.inject({ method: 'GET', url: '/openapi.json' }))
  t.same(Object.keys(document.paths).filter((path) => path.startsWith('/admin')), [], 'no admin path documented')
  t.notOk(document.components.securitySchemes.adminKey, 'no adminKey security scheme')
})

t.test('with keys: no key, a wrong key or a user token is 401 ADMIN_KEY_INVALID; every configured key works', async (t) => {
  const app = await buildApp(t, stack, { ADMIN_API_KEYS: `${key},${nextKey}` })
  const user = await signUp(app, stack)
  const cases: Array<[string, Record<string, string>]> = [
    ['no header', {}],
    ['a wrong key', admin(randomBytes(32).toString('base64url'))],
    ['a key one character off', admin(`${key.slice(0, -1)}${key.endsWith('A') ? 'B' : 'A'}`)],
    ['Basic instead of Bearer', { authorization: `Basic ${key}` }],
    ["a user's access token", bearer(user.accessToken)]
  ]
  for (const [name, headers] of cases) {
    const response = await app.inject({ method: 'GET', url: '/admin/users', headers })
    t.equal(response.statusCode, 401, name)
    t.equal(json(response).code, 'ADMIN_KEY_INVALID', name)
    t.equal(response.headers['www-authenticate'], 'Bearer realm="admin"')
  }
  for (const value of [key, nextKey]) t.equal((await app.inject({ method: 'GET', url: '/admin/users', headers: admin(value) })).statusCode, 200, 'each configured key is accepted (rotation)')
  t.equal((await app.inject({ method: 'GET', url: '/admin/users', headers: { authorization: `bearer   ${key}` } })).statusCode, 200, 'the scheme in any case')
})

t.test('an admin key is never a user token', async (t) => {
  const app = await buildApp(t, stack, { ADMIN_API_KEYS: key })
  for (const url of ['/auth/me', '/auth/sessions', '/todos']) {
    const response = await app.inject({ method: 'GET', url, headers: admin(key) })
    t.equal(response.statusCode, 401, url)
    t.equal(json(response).code, 'TOKEN_INVALID', url)
  }
  // A key shaped like a JWT (three dot-separated parts) is still checked as one, and refused.
  const jwtShaped = `${randomBytes(12).toString('base64url')}.${randomBytes(12).toString('base64url')}.${randomBytes(12).toString('base64url')}`
  const shapedApp = await buildApp(t, stack, { ADMIN_API_KEYS: jwtShaped })
  t.equal((await shapedApp.inject({ method: 'GET', url: '/admin/users', headers: admin(jwtShaped) })).statusCode, 200)
  t.equal(json(await shapedApp.inject({ method: 'GET', url: '/auth/me', headers: admin(jwtShaped) })).code, 'TOKEN_INVALID')
})

t.test('admin routes have their own per-IP limit through Redis, counted before the key, shared by every instance', async (t) => {
  const overrides = { ADMIN_API_KEYS: key, RATE_LIMIT_ADMIN: '3' }
  const [one, two] = [await buildApp(t, stack, overrides), await buildApp(t, stack, overrides)]
  const remoteAddress = '198.51.100.77'
  const statuses: number[] = []
  statuses.push((await one.inject({ method: 'GET', url: '/admin/users', headers: admin(key), remoteAddress })).statusCode)
  statuses.push((await two.inject({ method: 'GET', url: '/admin/users', headers: admin('wrong'), remoteAddress })).statusCode)
  statuses.push((await one.inject({ method: 'GET', url: '/admin/audit-events', headers: admin(key), remoteAddress })).statusCode)
  const refused = await two.inject({ method: 'GET', url: '/admin/users', headers: admin(key), remoteAddress })
  t.same(statuses, [200, 401, 200], 'three requests over two instances and two routes, a wrong key among them')
  t.equal(refused.statusCode, 429, 'the fourth is refused on the other instance')
  t.equal(json(refused).code, 'RATE_LIMITED')
  t.ok(Number(refused.headers['retry-after']) >= 1)
  t.equal((await one.inject({ method: 'GET', url: '/admin/users', headers: admin(key), remoteAddress: '198.51.100.78' })).statusCode, 200, 'another IP is not limited')
  t.equal((await one.inject({ method: 'GET', url: '/auth/magic-link/verify?token=x', remoteAddress })).statusCode !== 429, true, 'the rest of the API is not limited by it')
})

t.test('every admin call is an admin.action event naming the key fingerprint; keys never reach logs or events', async (t) => {
  const lines: string[] = []
  const app = await buildApp(t, stack, { ADMIN_API_KEYS: `${key},${nextKey}`, LOG_LEVEL: 'info' }, { logStream: { write: (line) => { lines.push(line) } } })
  const user = await signUp(app, stack)
  t.equal((await app.inject({ method: 'GET', url: `/admin/users/${user.user.id}`, headers: admin(nextKey) })).statusCode, 200)
  t.equal((await app.inject({ method: 'GET', url: '/admin/users?q=ada', headers: admin(key) })).statusCode, 200)
  t.equal((await app.inject({ method: 'GET', url: '/admin/users', headers: admin('not-a-key') })).statusCode, 401)

  const { events } = await app.auditLog.list({ type: 'admin.action', limit: 10 })
  t.equal(events.length, 2, 'the two accepted calls, not the refused one')
  t.match(events[1], { type: 'admin.action', data: { keyFingerprint: adminKeyFingerprint(nextKey), method: 'GET', route: '/admin/users/:id', params: { id: user.user.id }, targetUserId: user.user.id } })
  t.equal(events[1]!.userId, undefined, "not in the user's own history (the admin's IP and key fingerprint are not theirs to see)")
  t.same((await app.inject({ method: 'GET', url: '/auth/activity', headers: bearer(user.accessToken) })).json().events.filter((event: { type: string }) => event.type === 'admin.action'), [], 'GET /auth/activity shows no admin.action')
  t.match(events[0], { data: { keyFingerprint: adminKeyFingerprint(key), route: '/admin/users', query: { q: 'ada' } } })
  t.match(adminKeyFingerprint(key), /^[0-9a-f]{8}$/)
  const stored = JSON.stringify(await app.mongo.models.AuditEvent.find().lean())
  const logged = lines.join('\n')
  t.ok(logged.includes('/admin/users'), 'the calls are logged')
  for (const value of [key, nextKey, 'not-a-key']) {
    t.notOk(logged.includes(value), 'no key in the logs')
    t.notOk(stored.includes(value), 'no key in the events')
  }
})

t.test('the OpenAPI document has the adminKey scheme and each admin route declares it, its tag and an operationId', async (t) => {
  const app = await buildApp(t, stack, { ADMIN_API_KEYS: key })
  const document = json(await app.inject({ method: 'GET', url: '/openapi.json' }))
  t.same(document.components.securitySchemes.adminKey, { type: 'http', scheme: 'bearer', description: 'One of ADMIN_API_KEYS' })
  const operations = Object.entries<Record<string, any>>(document.paths).filter(([path]) => path.startsWith('/admin'))
    .flatMap(([path, item]) => Object.entries<any>(item).map(([method, operation]) => ({ name: `${method} ${path}`, operation })))
  t.ok(operations.length >= 7, `${operations.length} admin operations`)
  for (const { name, operation } of operations) {
    t.same(operation.security, [{ adminKey: [] }], `${name} security`)
    t.same(operation.tags, ['admin'], `${name} tags`)
    t.match(operation.operationId, /^[a-z][A-Za-z]+$/, `${name} operationId`)
    for (const status of ['401', '429', '503']) t.ok(operation.responses[status], `${name} documents ${status}`)
  }
})
