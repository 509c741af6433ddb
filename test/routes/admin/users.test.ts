import { randomBytes } from 'node:crypto'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import t from 'tap'
import { escapeRegex } from '../../../services/admin/user-admin.js'
import { mongoCommandsDuring } from '../../counters.js'
import { bearer, buildApp, json, signUp, startStack, tokenFrom } from '../../helper.js'
import { decodeJwt } from '../../jwt-forgery.js'

/** Finding users, one user's state, signing out and deleting (issue 22.3, 22.4), and the audit log (22.5). */
const stack = await startStack(t)
const key = randomBytes(32).toString('base64url')
const admin = { authorization: `Bearer ${key}` }
const app = await buildApp(t, stack, { ADMIN_API_KEYS: key, EMAIL_COOLDOWN: '0' })
const get = async (url: string) => await app.inject({ method: 'GET', url, headers: admin })
const code = (response: LightMyRequestResponse): string => `${response.statusCode} ${json(response).code}`
const me = async (target: FastifyInstance, accessToken: string) => await target.inject({ method: 'GET', url: '/auth/me', headers: bearer(accessToken) })
const run = randomBytes(3).toString('hex')

async function signInAgain (email: string) {
  const before = stack.smtp.inbox(email).length
  await app.inject({ method: 'POST', url: '/auth/magic-link', payload: { email } })
  const token = tokenFrom(await stack.smtp.waitForMail(email, { count: before + 1 }))
  return json(await app.inject({ method: 'POST', url: '/auth/magic-link/consume', payload: { token } }))
}

t.test('GET /admin/users?email= finds the account by its address in any case and with spaces; an unknown address is an empty page', async (t) => {
  const user = await signUp(app, stack, `Grace.${run}@Example.com`)
  const found = json(await get(`/admin/users?email=${encodeURIComponent(`  GRACE.${run}@EXAMPLE.COM `)}`))
  t.same(found, { users: [{ id: user.user.id, email: `grace.${run}@example.com`, name: 'Ada Lovelace', createdAt: found.users[0].createdAt, disabled: false }], next: null })
  t.same(json(await get(`/admin/users?email=nobody.${run}@example.com`)), { users: [], next: null })
  t.equal(code(await get('/admin/users?email=not-an-address')), '400 VALIDATION_FAILED')
  t.equal(code(await get('/admin/users?email[$ne]=x')), '400 VALIDATION_FAILED', 'no operator injection')
})

t.test('GET /admin/users?q= is an anchored prefix, matched literally: regex metacharacters find only literal matches', async (t) => {
  // Unescaped, `^d.t+<run>` would also match dxt<run> and dxttt<run>; and `zz` + the literal contains it further in.
  const literal = `d.t+${run}`
  const mine = await signUp(app, stack, `${literal}@example.com`)
  for (const decoy of [`dxt${run}`, `dxttt${run}`, `zz${literal}`]) await signUp(app, stack, `${decoy}@example.com`)
  const found = json(await get(`/admin/users?q=${encodeURIComponent(literal.toUpperCase())}`))
  t.same(found.users.map((user: { id: string }) => user.id), [mine.user.id], 'only the literal match, in any case, and not a match in the middle')

  const every = `e*f?g^h$i{2}j|k.${run}`
  const other = await signUp(app, stack, `${every}@example.com`)
  t.same(json(await get(`/admin/users?q=${encodeURIComponent(every)}`)).users.map((user: { id: string }) => user.id), [other.user.id], 'every metacharacter an address may hold, as text')
  t.same(json(await get(`/admin/users?q=${encodeURIComponent(`.*${run}`)}`)).users, [], '.* is two characters, not a wildcard')
  t.same(json(await get(`/admin/users?q=${encodeURIComponent('(')}`)).users, [], 'an unbalanced parenthesis is text, never a 500')
  t.same(json(await get(`/admin/users?q=${encodeURIComponent('\\')}`)).users, [], 'a backslash is text')
  t.equal(escapeRegex('a.b*c'), 'a\\.b\\*c')
})

t.test('GET /admin/users pages by address with a cursor that stays stable while users are added', async (t) => {
  const prefix = `page.${run}.`
  const names = ['b', 'd', 'f', 'h', 'j']
  for (const name of names) await signUp(app, stack, `${prefix}${name}@example.com`)
  const page1 = json(await get(`/admin/users?q=${prefix}&limit=2`))
  t.same(page1.users.map((user: { email: string }) => user.email[prefix.length]), ['b', 'd'])
  t.type(page1.next, 'string')
  // Users added before and after the cursor while paging.
  for (const name of ['a', 'c', 'e', 'g']) await signUp(app, stack, `${prefix}${name}@example.com`)
  const page2 = json(await get(`/admin/users?q=${prefix}&limit=2&cursor=${page1.next}`))
  t.same(page2.users.map((user: { email: string }) => user.email[prefix.length]), ['e', 'f'], 'continues after d: nothing repeated, nothing skipped of what was there')
  const page3 = json(await get(`/admin/users?q=${prefix}&limit=2&cursor=${page2.next}`))
  const page4 = json(await get(`/admin/users?q=${prefix}&limit=2&cursor=${page3.next}`))
  t.same([...page3.users, ...page4.users].map((user: { email: string }) => user.email[prefix.length]), ['g', 'h', 'j'])
  t.equal(page4.next, null, 'the last page says so')
  t.equal(json(await get('/admin/users?limit=100')).users.length > 0, true)
  for (const bad of ['limit=0', 'limit=101', 'limit=abc', 'cursor=!!', 'role=admin']) t.equal(code(await get(`/admin/users?${bad}`)), '400 VALIDATION_FAILED', bad)
})

t.test('the prefix and exact searches are served by the unique email index', async (t) => {
  const commands: unknown[] = []
  const client = app.mongo.connection.getClient()
  const listener = (event: { commandName: string, command: Record<string, unknown> }) => { if (event.commandName === 'find' && event.command.find === 'users') commands.push(event.command) }
  client.on('commandStarted', listener)
  try { await get(`/admin/users?q=${encodeURIComponent(`a.b+${run}`)}`) } finally { client.off('commandStarted', listener) }
  t.match(commands, [{ find: 'users', filter: { email: { $regex: `^a\\.b\\+${run}` } } }], 'anchored, case-sensitive (no i flag: the addresses are stored lower-cased)')
  const sort = (commands[0] as { sort: Map<string, number> }).sort
  t.same(Object.fromEntries(sort), { email: 1 }, 'sorted by the indexed field')
  const indexes = await app.mongo.models.User.collection.indexes()
  t.ok(indexes.some((index) => index.unique === true && Object.keys(index.key).join() === 'email'), 'email has its unique index')
})

t.test('GET /admin/users/:id: disabled, live sessions, passkeys and the last sign-in', async (t) => {
  const user = await signUp(app, stack)
  const second = await signInAgain(user.user.email)
  await app.inject({ method: 'POST', url: '/auth/logout', headers: bearer(user.accessToken) })
  const detail = json(await get(`/admin/users/${user.user.id}`))
  const newest = await app.mongo.models.Session.findById(decodeJwt(second.accessToken).sid).lean()
  t.same(detail, {
    id: user.user.id,
    email: user.user.email,
    name: 'Ada Lovelace',
    createdAt: detail.createdAt,
    disabled: false,
    disabledAt: null,
    disabledReason: null,
    hasPassword: false,
    sessionCount: 1,
    passkeyCount: 0,
    lastSignInAt: newest!.createdAt.toISOString()
  })
  t.equal(code(await get('/admin/users/665f1c2e8b3a4d0012345678')), '404 NOT_FOUND')
  t.equal(code(await get('/admin/users/nope')), '400 VALIDATION_FAILED')
})

t.test('DELETE /admin/users/:id/sessions signs the user out everywhere, as logout-all does', async (t) => {
  const user = await signUp(app, stack)
  const second = await signInAgain(user.user.email)
  const queries = await mongoCommandsDuring(app, async () => {
    t.equal((await app.inject({ method: 'DELETE', url: `/admin/users/${user.user.id}/sessions`, headers: admin })).statusCode, 204)
  })
  t.ok(queries.length > 0)
  for (const token of [user.accessToken, second.accessToken]) t.equal(code(await me(app, token)), '401 TOKEN_REVOKED')
  t.equal((await app.inject({ method: 'POST', url: '/auth/refresh', payload: { refreshToken: second.refreshToken } })).statusCode, 401)
  t.equal(await app.mongo.models.Revocation.countDocuments({ userId: user.user.id, kind: 'logout-all' }), 1, 'one logout-all in the journal, as the user\'s own')
  t.equal((await signInAgain(user.user.email)).user.id, user.user.id, 'the account itself still signs in')
  t.equal(code(await app.inject({ method: 'DELETE', url: '/admin/users/665f1c2e8b3a4d0012345678/sessions', headers: admin })), '404 NOT_FOUND')
})

t.test('DELETE /admin/users/:id deletes the account as DELETE /auth/me does', async (t) => {
  const user = await signUp(app, stack)
  await app.inject({ method: 'POST', url: '/todos', headers: bearer(user.accessToken), payload: { title: 'milk' } })
  t.equal((await app.inject({ method: 'DELETE', url: `/admin/users/${user.user.id}`, headers: admin })).statusCode, 204)
  t.equal(code(await me(app, user.accessToken)), '401 TOKEN_REVOKED')
  t.equal(await app.mongo.models.User.countDocuments({ _id: user.user.id }), 0)
  t.equal(await app.mongo.models.Todo.countDocuments({ userId: user.user.id }), 0, 'its todos are gone')
  t.equal(await app.mongo.models.Revocation.countDocuments({ userId: user.user.id, kind: 'account-deleted' }), 1, 'the same journal entry as DELETE /auth/me')
  t.equal(code(await app.inject({ method: 'DELETE', url: `/admin/users/${user.user.id}`, headers: admin })), '404 NOT_FOUND', 'twice: 404')
  t.same(json(await get(`/admin/users?email=${encodeURIComponent(user.user.email)}`)).users, [])
})

t.test('GET /admin/audit-events filters by user and type and pages with a cursor; admin calls are in it', async (t) => {
  const user = await signUp(app, stack)
  for (let i = 0; i < 3; i++) {
    await app.inject({ method: 'POST', url: `/admin/users/${user.user.id}/disable`, headers: admin, payload: { reason: `r${i}` } })
    await app.inject({ method: 'POST', url: `/admin/users/${user.user.id}/enable`, headers: admin })
  }
  const all = json(await get(`/admin/audit-events?userId=${user.user.id}&type=user.disabled&limit=100`)).events
  t.equal(all.length, 3)
  const disabled = json(await get(`/admin/audit-events?userId=${user.user.id}&type=user.disabled&limit=2`))
  t.same(disabled.events.map((event: { id: string }) => event.id), all.slice(0, 2).map((event: { id: string }) => event.id), 'newest first, two at a time')
  const rest = json(await get(`/admin/audit-events?userId=${user.user.id}&type=user.disabled&limit=2&cursor=${disabled.next}`))
  t.same(rest.events.map((event: { id: string }) => event.id), [all[2].id])
  t.equal(rest.next, null)
  const actions = json(await get('/admin/audit-events?type=admin.action&limit=100')).events
    .filter((event: { data: { targetUserId?: string } }) => event.data.targetUserId === user.user.id)
  t.equal(actions.length, 6, 'each disable and enable call is an admin.action naming the user')
  t.match(actions[0], { type: 'admin.action', data: { method: 'POST', route: '/admin/users/:id/enable', keyFingerprint: /^[0-9a-f]{8}$/ } })
  t.same(actions.filter((event: { data: { reason?: string } }) => event.data.reason !== undefined).map((event: { data: { reason: string } }) => event.data.reason), ['r2', 'r1', 'r0'], 'with the note given')
  const everything = json(await get('/admin/audit-events'))
  t.equal(everything.events[0].type, 'admin.action', 'the listing call itself is recorded first')
  for (const bad of ['type=user.hacked', 'userId=nope', 'limit=1000', 'userId[$ne]=x']) t.equal(code(await get(`/admin/audit-events?${bad}`)), '400 VALIDATION_FAILED', bad)
})
