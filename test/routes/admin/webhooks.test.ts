import { randomBytes } from 'node:crypto'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { LightMyRequestResponse } from 'fastify'
import t from 'tap'
import { Webhook } from 'standardwebhooks'
import { buildApp, json, signUp, startStack } from '../../helper.js'

/** The webhook admin routes (issue 22.5) over the events service's fastify.webhooks. */
const stack = await startStack(t)
const key = randomBytes(32).toString('base64url')
const admin = { authorization: `Bearer ${key}` }
const app = await buildApp(t, stack, { ADMIN_API_KEYS: key, WEBHOOK_ALLOW_PRIVATE: 'true' }, { events: { background: false } })
const code = (response: LightMyRequestResponse): string => `${response.statusCode} ${json(response).code}`

const received: Array<{ headers: Record<string, string>, body: string }> = []
const server = createServer((request, response) => {
  let body = ''
  request.on('data', (chunk: Buffer) => { body += chunk.toString() })
  request.on('end', () => { received.push({ headers: request.headers as Record<string, string>, body }); response.writeHead(204).end() })
})
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
t.teardown(async () => { server.closeAllConnections(); await new Promise((resolve) => server.close(resolve)) })
const hookUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`

t.test('create (secret shown once), list, deliveries with status and time, delete', async (t) => {
  const created = await app.inject({ method: 'POST', url: '/admin/webhooks', headers: admin, payload: { url: hookUrl, events: ['user.disabled'] } })
  t.equal(created.statusCode, 201)
  const endpoint = json(created)
  t.match(endpoint, { id: /^wh_/, url: hookUrl, events: ['user.disabled'], secret: /^whsec_/, createdAt: String })

  const listed = json(await app.inject({ method: 'GET', url: '/admin/webhooks', headers: admin }))
  t.match(listed.endpoints, [{ id: endpoint.id, url: hookUrl, events: ['user.disabled'], disabledAt: null, source: 'admin' }])
  t.notOk(JSON.stringify(listed).includes(endpoint.secret), 'the secret is not shown again')

  const user = await signUp(app, stack)
  t.equal((await app.inject({ method: 'POST', url: `/admin/users/${user.user.id}/disable`, headers: admin })).statusCode, 200)
  await app.webhooks.runDue()
  await app.webhooks.settle()
  const delivered = received.find((request) => request.body.includes('user.disabled'))
  t.ok(delivered, 'user.disabled reached the endpoint')
  t.match(new Webhook(endpoint.secret).verify(delivered!.body, delivered!.headers), { type: 'user.disabled', userId: user.user.id }, 'signed with the secret shown at creation')

  const deliveries = json(await app.inject({ method: 'GET', url: `/admin/webhooks/${endpoint.id}/deliveries`, headers: admin }))
  t.match(deliveries, { deliveries: [{ eventType: 'user.disabled', attempt: 1, status: 204, outcome: 'delivered', attemptedAt: String }], next: null })

  t.equal((await app.inject({ method: 'DELETE', url: `/admin/webhooks/${endpoint.id}`, headers: admin })).statusCode, 204)
  t.same(json(await app.inject({ method: 'GET', url: '/admin/webhooks', headers: admin })).endpoints, [])
  t.equal(code(await app.inject({ method: 'DELETE', url: `/admin/webhooks/${endpoint.id}`, headers: admin })), '404 NOT_FOUND')
  t.equal(code(await app.inject({ method: 'GET', url: `/admin/webhooks/${endpoint.id}/deliveries`, headers: admin })), '404 NOT_FOUND')
})

t.test('refusals: bad URL, unknown event type, extra fields, bad id, no key', async (t) => {
  const post = async (payload: unknown) => await app.inject({ method: 'POST', url: '/admin/webhooks', headers: admin, payload: payload as Record<string, unknown> })
  t.equal(code(await post({ url: 'not a url' })), '400 VALIDATION_FAILED')
  t.equal(code(await post({ url: 'http://169.254.169.254/latest' })), '400 VALIDATION_FAILED', 'a metadata address')
  t.equal(code(await post({ url: hookUrl, events: ['user.hacked'] })), '400 VALIDATION_FAILED')
  t.equal(code(await post({ url: hookUrl, secret: 'mine' })), '400 VALIDATION_FAILED', 'the secret is never chosen by the caller')
  t.equal(code(await app.inject({ method: 'DELETE', url: '/admin/webhooks/../users', headers: admin })) !== '204 undefined', true)
  t.equal(code(await app.inject({ method: 'DELETE', url: '/admin/webhooks/nope', headers: admin })), '400 VALIDATION_FAILED')
  t.equal(code(await app.inject({ method: 'GET', url: '/admin/webhooks/wh_0123/deliveries?limit=0', headers: admin })), '400 VALIDATION_FAILED')
  t.equal(code(await app.inject({ method: 'POST', url: '/admin/webhooks', payload: { url: hookUrl } })), '401 ADMIN_KEY_INVALID')
  t.same(json(await app.inject({ method: 'GET', url: '/admin/webhooks', headers: admin })).endpoints, [], 'nothing was created')
})
