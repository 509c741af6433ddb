import Fastify from 'fastify'
import { Type } from '@sinclair/typebox'
import t from 'tap'
import { serverOptions } from '../../../app.js'
import { loadConfig } from '../../../services/infrastructure/config.js'
import { describeValidation, type SchemaError } from '../../../services/infrastructure/validation-messages.js'
import { Code } from '../../../routes/auth/otp.js'
import { Email, Name, ObjectIdString } from '../../../routes/schemas.js'

/** A bare Fastify with the server's own Ajv options; the error handler answers what describeValidation says. */
async function validator () {
  const options = serverOptions(loadConfig({ JWT_SECRET: 'x'.repeat(32), SMTP_URL: 'smtp://localhost:25', LOG_LEVEL: 'silent' }))
  const app = Fastify({ ajv: options.ajv })
  app.setErrorHandler((error: any, _request, reply) => { reply.status(400).send(describeValidation(error.validation as SchemaError[], error.validationContext)) })
  app.post('/things/:id', {
    schema: {
      params: Type.Object({ id: ObjectIdString }, { additionalProperties: false }),
      querystring: Type.Object({ token: Type.Optional(Type.String()) }, { additionalProperties: false }),
      body: Type.Object({
        email: Email,
        code: Type.Optional(Code),
        name: Type.Optional(Name),
        purpose: Type.Optional(Type.Union([Type.Literal('signup'), Type.Literal('login')])),
        count: Type.Optional(Type.Integer({ minimum: 1, maximum: 10 })),
        settings: Type.Optional(Type.Object({ title: Type.Optional(Type.String()), done: Type.Optional(Type.Boolean()) }, { additionalProperties: false, minProperties: 1 }))
      }, { additionalProperties: false })
    }
  }, async () => ({ ok: true }))
  await app.ready()
  return app
}

const id = '665f1c2e8b3a4d0012345678'

t.test('each kind of schema failure reads as one sentence naming the field, never a regex', async (t) => {
  const app = await validator()
  t.teardown(() => app.close())
  const cases: Array<[string, string, unknown, { message: string, field: string }]> = [
    ['a bad address', `/things/${id}`, { email: 'ada at example.com' }, { message: 'email must be one address like ada@example.com', field: 'body.email' }],
    ['two addresses', `/things/${id}`, { email: 'a@example.com, b@example.com' }, { message: 'email must be one address like ada@example.com', field: 'body.email' }],
    ['an unknown property', `/things/${id}`, { email: 'ada@example.com', role: 'admin' }, { message: 'unknown property `role` (allowed: email, code, name, purpose, count, settings)', field: 'body.role' }],
    ['a missing property', `/things/${id}`, {}, { message: 'email is required', field: 'body.email' }],
    ['an operator object', `/things/${id}`, { email: { $gt: '' } }, { message: 'email must be a string', field: 'body.email' }],
    ['a code as a number', `/things/${id}`, { email: 'ada@example.com', code: 42917 }, { message: 'code must be a string', field: 'body.code' }],
    ['a code with a letter', `/things/${id}`, { email: 'ada@example.com', code: '04291x' }, { message: 'code must be the six digits from the email, as a string like "042917"', field: 'body.code' }],
    ['an empty name', `/things/${id}`, { email: 'ada@example.com', name: '' }, { message: 'name must not be empty', field: 'body.name' }],
    ['a name of spaces', `/things/${id}`, { email: 'ada@example.com', name: '   ' }, { message: 'name must be some visible text, without line breaks or control characters', field: 'body.name' }],
    ['a value outside a union', `/things/${id}`, { email: 'ada@example.com', purpose: 'admin' }, { message: 'purpose must be one of "signup", "login"', field: 'body.purpose' }],
    ['a number over its maximum', `/things/${id}`, { email: 'ada@example.com', count: 11 }, { message: 'count must be at most 10', field: 'body.count' }],
    ['an empty patch', `/things/${id}`, { email: 'ada@example.com', settings: {} }, { message: 'settings must name at least one of `title`, `done`', field: 'body.settings' }],
    ['a nested unknown property', `/things/${id}`, { email: 'ada@example.com', settings: { colour: 'red' } }, { message: 'unknown property `colour` in settings (allowed: title, done)', field: 'body.settings.colour' }],
    ['not an object', `/things/${id}`, ['ada@example.com'], { message: 'the body must be a JSON object', field: 'body' }],
    ['a bad id in the URL', '/things/42', { email: 'ada@example.com' }, { message: 'id must be an id as the API returned it (24 hexadecimal digits)', field: 'params.id' }],
    ['an unknown query parameter', `/things/${id}?utm_source=mail`, { email: 'ada@example.com' }, { message: 'unknown property `utm_source` (allowed: token)', field: 'querystring.utm_source' }]
  ]
  for (const [name, url, payload, expected] of cases) {
    const response = await app.inject({ method: 'POST', url, payload: payload as object })
    t.same(response.json(), expected, name)
    t.notMatch(response.body, /pattern|\\u|\^|NOT have/, `${name}: no schema internals in the message`)
  }
})

t.test('with nothing to go on, the message still names the part', async (t) => {
  t.same(describeValidation([], 'querystring'), { message: 'the query string is not valid', field: 'querystring' })
})
