import t from 'tap'
import { bearer, buildApp, json, signUp, startStack } from '../../helper.js'

const stack = await startStack(t)

t.test('todos: CRUD for the owner', async (t) => {
  const app = await buildApp(t, stack)
  const { accessToken } = await signUp(app, stack)
  const headers = bearer(accessToken)

  t.same(json(await app.inject({ method: 'GET', url: '/todos', headers })), [])
  const created = await app.inject({ method: 'POST', url: '/todos', headers, payload: { title: 'Buy milk' } })
  t.equal(created.statusCode, 201)
  const todo = json(created)
  t.match(todo, { id: String, title: 'Buy milk', done: false, createdAt: String, updatedAt: String })

  const patched = await app.inject({ method: 'PATCH', url: `/todos/${todo.id}`, headers, payload: { done: true } })
  t.equal(patched.statusCode, 200)
  t.equal(json(patched).done, true)
  t.equal(json(patched).title, 'Buy milk')
  t.same(json(await app.inject({ method: 'GET', url: '/todos', headers })).map((item: { id: string }) => item.id), [todo.id])

  t.equal((await app.inject({ method: 'DELETE', url: `/todos/${todo.id}`, headers })).statusCode, 204)
  t.equal((await app.inject({ method: 'DELETE', url: `/todos/${todo.id}`, headers })).statusCode, 404)
  t.equal((await app.inject({ method: 'GET', url: '/todos' })).statusCode, 401, 'no token, no todos')
})

t.test("todos: another user's id is a 404, and nothing changes", async (t) => {
  const app = await buildApp(t, stack)
  const owner = await signUp(app, stack)
  const intruder = await signUp(app, stack)
  const todo = json(await app.inject({ method: 'POST', url: '/todos', headers: bearer(owner.accessToken), payload: { title: 'Private' } }))

  const asIntruder = bearer(intruder.accessToken)
  const patch = await app.inject({ method: 'PATCH', url: `/todos/${todo.id}`, headers: asIntruder, payload: { title: 'Owned' } })
  t.equal(patch.statusCode, 404)
  t.equal(json(patch).code, 'NOT_FOUND')
  t.equal((await app.inject({ method: 'DELETE', url: `/todos/${todo.id}`, headers: asIntruder })).statusCode, 404)
  t.same(json(await app.inject({ method: 'GET', url: '/todos', headers: asIntruder })), [], 'the intruder lists nothing')
  const after = json(await app.inject({ method: 'GET', url: '/todos', headers: bearer(owner.accessToken) }))
  t.same(after.map((item: { title: string }) => item.title), ['Private'], 'the owner\'s todo is untouched')
})

t.test('todos: no mass assignment, no operators, bounded input', async (t) => {
  const app = await buildApp(t, stack)
  const { accessToken } = await signUp(app, stack)
  const headers = bearer(accessToken)
  const todo = json(await app.inject({ method: 'POST', url: '/todos', headers, payload: { title: 'Mine' } }))
  for (const [method, url, payload] of [
    ['POST', '/todos', { title: 'x', userId: '0123456789abcdef01234567' }],
    ['POST', '/todos', { title: 'x', done: true, _id: 'x' }],
    ['POST', '/todos', { title: { $gt: '' } }],
    ['POST', '/todos', { title: '   ' }],
    ['POST', '/todos', { title: 'x'.repeat(201) }],
    ['PATCH', `/todos/${todo.id}`, {}],
    ['PATCH', `/todos/${todo.id}`, { done: 'yes' }],
    ['PATCH', `/todos/${todo.id}`, { userId: '0123456789abcdef01234567' }],
    ['PATCH', '/todos/not-an-id', { done: true }]
  ] as const) {
    const response = await app.inject({ method, url, headers, payload })
    t.equal(response.statusCode, 400, `${method} ${url} ${JSON.stringify(payload)} → 400`)
  }
})
