import t from 'tap'
import { bearer, buildApp, codeFrom, json, signUp, startStack, tokenFrom, uniqueEmail } from '../helper.js'
import { browser, csrfOf } from '../routes/pages/page-client.js'
import { coreFlows } from './core-flows.js'
import { hashTag, recordKeyGroups } from './key-groups.js'

/**
 * The core flows across two instances on one redis-server (REDIS_URL=redis://…), then every other
 * route that touches Redis (passwords, a locked code, sessions, the account, todos,
 * introspection, the page forms), with every command recorded: the keys one command or one
 * transaction touches together must share one hash tag, or Redis Cluster would refuse it
 * (CROSSSLOT).
 */
const stack = await startStack(t)
const recorder = await recordKeyGroups(stack.redis.admin)

await coreFlows(t, stack, stack.redis.url, async () => stack.redis.admin)

t.test('the other routes that touch Redis', async (t) => {
  const introspectionSecret = 'i'.repeat(40)
  const app = await buildApp(t, stack, { EMAIL_COOLDOWN: '0', INTROSPECTION_SECRET: introspectionSecret })

  // A password set at signup, a wrong one (the failure ceiling), then the right one.
  const email = uniqueEmail('topology-password')
  await app.inject({ method: 'POST', url: '/auth/magic-link', payload: { email } })
  const token = tokenFrom(await stack.smtp.waitForMail(email))
  t.equal((await app.inject({ method: 'POST', url: '/auth/signup', payload: { token, email, name: 'Pat', password: 'correct horse battery' } })).statusCode, 201)
  t.equal((await app.inject({ method: 'POST', url: '/auth/login', payload: { email, password: 'wrong password' } })).statusCode, 401)
  const login = await app.inject({ method: 'POST', url: '/auth/login', payload: { email, password: 'correct horse battery' } })
  t.equal(login.statusCode, 200)
  const { accessToken } = json(login)

  // A code locked by wrong guesses.
  t.equal((await app.inject({ method: 'POST', url: '/auth/otp', payload: { email } })).statusCode, 202)
  const code = codeFrom(await stack.smtp.waitForMail(email, { count: 2 }))
  const wrong = code === '000000' ? '111111' : '000000'
  const guesses = []
  for (let i = 0; i < 5; i++) guesses.push((await app.inject({ method: 'POST', url: '/auth/otp/verify', payload: { email, code: wrong } })).statusCode)
  t.same(guesses, [401, 401, 401, 401, 429], 'the fifth wrong guess locks the code')

  // Sessions, the account, todos, introspection.
  const other = await signUp(app, stack)
  const sessions = json(await app.inject({ method: 'GET', url: '/auth/sessions', headers: bearer(accessToken) }))
  t.ok(sessions.length >= 2)
  const signupSession = sessions.find((session: { current: boolean }) => !session.current)
  t.equal((await app.inject({ method: 'DELETE', url: `/auth/sessions/${signupSession.id}`, headers: bearer(accessToken) })).statusCode, 204)
  t.equal((await app.inject({ method: 'PATCH', url: '/auth/me', headers: bearer(accessToken), payload: { name: 'Pat Renamed' } })).statusCode, 200)
  const todo = await app.inject({ method: 'POST', url: '/todos', headers: bearer(accessToken), payload: { title: 'Shard me' } })
  t.equal(todo.statusCode, 201)
  t.equal((await app.inject({ method: 'PATCH', url: `/todos/${json(todo).id}`, headers: bearer(accessToken), payload: { done: true } })).statusCode, 200)
  t.equal((await app.inject({ method: 'DELETE', url: `/todos/${json(todo).id}`, headers: bearer(accessToken) })).statusCode, 204)
  const introspected = await app.inject({ method: 'POST', url: '/auth/introspect', headers: bearer(introspectionSecret), payload: { token: other.accessToken } })
  t.equal(json(introspected).active, true)
  t.equal((await app.inject({ method: 'DELETE', url: '/auth/me', headers: bearer(other.accessToken) })).statusCode, 204)

  // The page forms: a code asked and entered through the pages, then the account forms.
  const person = browser(app)
  const start = await person.request({ method: 'GET', url: '/' })
  t.equal((await person.submit('/', { csrf: csrfOf(start.body), email, method: 'code' })).statusCode, 303, 'to the code page')
  const pageCode = codeFrom(await stack.smtp.waitForMail(email, { count: 3 }))
  const page = await person.request({ method: 'GET', url: `/code?email=${encodeURIComponent(email)}` })
  t.equal((await person.submit('/code', { csrf: csrfOf(page.body), email, code: pageCode })).statusCode, 303)
  const account = await person.request({ method: 'GET', url: '/account' })
  t.equal(account.statusCode, 200)
  t.equal((await person.submit('/account/name', { csrf: csrfOf(account.body), name: 'Pat Paged' })).statusCode, 303)
  t.equal((await person.submit('/account/logout-all', { csrf: csrfOf(account.body) })).statusCode, 303)
  t.equal(json(await app.inject({ method: 'GET', url: '/auth/me', headers: bearer(accessToken) })).code, 'TOKEN_REVOKED')
})

t.test('every command and transaction of those flows keeps its keys under one hash tag', async (t) => {
  // The check itself: a multi-key command across tags, sent by another client, must be caught.
  const other = stack.redis.admin.duplicate()
  await other.mget('lk:probe{a}', 'lk:probe{b}')
  other.disconnect()

  const groups = await recorder.stop()
  const crossTag = groups.filter(({ keys }) => new Set(keys.map(hashTag)).size > 1)
  t.same(crossTag.map(({ keys }) => keys), [['lk:probe{a}', 'lk:probe{b}']], 'only the probe mixes tags')
  const commands = new Set(groups.flatMap((group) => group.commands))
  t.ok(groups.length > 20, `${groups.length} multi-key commands and transactions checked (${[...commands].sort().join(', ')})`)
})
