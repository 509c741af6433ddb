import t from 'tap'
import { ErrorCodes } from '../../services/infrastructure/errors.js'
import { buildApp, startStack } from '../helper.js'

const stack = await startStack(t)
const app = await buildApp(t, stack)
const document = (await app.inject({ method: 'GET', url: '/openapi.json' })).json()

interface Operation { name: string, path: string, method: string, operation: any }
const operations: Operation[] = Object.entries<Record<string, any>>(document.paths).flatMap(([path, item]) =>
  Object.entries<any>(item).filter(([method]) => ['get', 'post', 'put', 'patch', 'delete'].includes(method))
    .map(([method, operation]) => ({ name: `${method.toUpperCase()} ${path}`, path, method, operation })))

/** A schema's example: OpenAPI 3.1 schemas are JSON Schema 2020-12 and keep TypeBox's `examples` array. */
const firstExample = (schema: { examples?: unknown[], example?: unknown }): unknown => schema.examples?.[0] ?? schema.example

/** Every schema object in a part of the document, with where it is. */
function * schemasIn (node: unknown, where: string): Generator<[string, Record<string, any>]> {
  if (Array.isArray(node)) { for (const [i, item] of node.entries()) yield * schemasIn(item, `${where}[${i}]`); return }
  if (typeof node !== 'object' || node === null) return
  const record = node as Record<string, unknown>
  if (typeof record.type === 'string' || record.pattern !== undefined) yield [where, record]
  for (const [key, value] of Object.entries(record)) if (key !== 'examples' && key !== 'example') yield * schemasIn(value, `${where}.${key}`)
}

t.test('OpenAPI at /openapi.json: every operation has tags, summary, description and its error responses; /docs UI', async (t) => {
  t.match(document, { openapi: /^3\./, info: { title: 'Latchkey' }, components: { securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer' } } } })

  const expected = ['/auth/magic-link', '/auth/magic-link/verify', '/auth/signup', '/auth/me', '/auth/refresh', '/todos', '/health', '/metrics', '/', '/code', '/account', '/account/logout']
  for (const path of expected) t.ok(document.paths[path], `${path} is documented`)
  t.notOk(document.paths['/todos/'], 'the collection is /todos, without a trailing slash')

  for (const { name, operation } of operations) {
    t.ok(Array.isArray(operation.tags) && operation.tags.length > 0, `${name} has tags`)
    t.ok(typeof operation.summary === 'string' && operation.summary.length > 0, `${name} has a summary`)
    t.ok(typeof operation.description === 'string' && operation.description.length > 0, `${name} has a description`)
    const statuses = Object.keys(operation.responses ?? {})
    t.ok(statuses.some((status) => /^[23]/.test(status)), `${name} documents its success`)
    t.ok(statuses.some((status) => /^[45]/.test(status)), `${name} documents its error responses`)
    for (const status of statuses) {
      const description = operation.responses[status].description
      t.ok(typeof description === 'string' && description !== '' && description !== 'Default Response', `${name} ${status} is described: ${description}`)
    }
  }
  t.ok(operations.length >= 25, `${operations.length} operations checked`)

  const ui = await app.inject({ method: 'GET', url: '/docs/' })
  t.equal(ui.statusCode, 200)
  t.match(ui.body, /swagger-ui/)
  t.match(ui.headers['content-security-policy'], /style-src 'self' 'unsafe-inline'/, 'the docs UI gets its looser style policy')
  t.notMatch(ui.headers['content-security-policy'], /script-src[^;]*unsafe/, 'but still no inline scripts')
  const elsewhere = await app.inject({ method: 'GET', url: '/health' })
  t.notMatch(elsewhere.headers['content-security-policy'], /unsafe-inline/, 'only on the docs routes')
})

t.test('examples are real: every patterned value has an example that passes its own pattern', async (t) => {
  let checked = 0
  const check = (where: string, pattern: string, example: unknown): void => {
    checked++
    t.ok(typeof example === 'string' && new RegExp(pattern, 'u').test(example), `${where}: example ${JSON.stringify(example)}`)
  }
  for (const { name, operation } of operations) {
    // A parameter carries its example beside its schema (the parameter object) or in the schema's examples.
    for (const parameter of operation.parameters ?? []) {
      if (parameter.schema?.pattern !== undefined) check(`${name} ${parameter.in} ${parameter.name}`, parameter.schema.pattern, parameter.example ?? firstExample(parameter.schema))
    }
    for (const [where, schema] of schemasIn({ requestBody: operation.requestBody, responses: operation.responses }, name)) {
      if (schema.pattern !== undefined) check(where, schema.pattern, firstExample(schema))
    }
  }
  t.ok(checked >= 15, `${checked} patterned schemas checked`)
  const signup = document.paths['/auth/signup'].post.requestBody.content['application/json'].schema.properties
  t.same([firstExample(signup.email), firstExample(signup.name)], ['ada@example.com', 'Ada Lovelace'], 'a person\'s address and name, not strings made from a regex')
})

t.test('error responses: one example per code, with only the fields that code has', async (t) => {
  const known = new Set(Object.keys(ErrorCodes))
  const problems: string[] = []
  let examples = 0
  for (const { name, path, operation } of operations) {
    for (const [status, response] of Object.entries<any>(operation.responses)) {
      const media = response.content?.['application/json']
      if (!/^[45]/.test(status) || media === undefined) continue
      if (Object.keys(media.examples ?? {}).length === 0) problems.push(`${name} ${status}: no examples`)
      if ((status === '429' || status === '503') && response.headers?.['Retry-After'] === undefined) problems.push(`${name} ${status}: Retry-After not documented`)
      const properties = Object.keys(media.schema.properties)
      for (const [label, { value }] of Object.entries<any>(media.examples ?? {})) {
        examples++
        const where = `${name} ${status} ${label}`
        if (!known.has(value.code) || !label.startsWith(value.code)) problems.push(`${where}: not a real code`)
        if (value.statusCode !== Number(status)) problems.push(`${where}: statusCode ${value.statusCode}`)
        for (const field of Object.keys(value)) if (!properties.includes(field)) problems.push(`${where}: ${field} is not in the schema`)
        for (const field of media.schema.required ?? []) if (!(field in value)) problems.push(`${where}: required ${field} missing`)
        if (value.code !== 'OTP_INVALID' && 'attemptsRemaining' in value) problems.push(`${where}: attemptsRemaining`)
        if (path !== '/ready' && 'checks' in value) problems.push(`${where}: checks`)
        if (value.retryAfter !== undefined && !String(value.message).endsWith(`in ${value.retryAfter} seconds`)) problems.push(`${where}: the wait is not in the message`)
      }
    }
  }
  t.same(problems, [], `${examples} error examples, each with its own code, status and fields`)
  t.ok(examples >= 100, `${examples} examples checked`)
  const code = document.paths['/auth/otp/verify'].post.responses
  t.same(Object.keys(code['401'].content['application/json'].examples), ['OTP_INVALID', 'OTP_EXPIRED'])
  t.same(code['401'].content['application/json'].examples.OTP_EXPIRED.value, {
    statusCode: 401, code: 'OTP_EXPIRED', error: 'Unauthorized', message: 'No valid code for this address; request a new one'
  }, 'the message the API really sends')
  t.same(code['401'].content['application/json'].examples.OTP_INVALID.value.attemptsRemaining, 3, 'OTP_INVALID shows attemptsRemaining')
})

t.test('429 is documented wherever a limit applies; page forms are documented as form posts', async (t) => {
  // The JWKS is served from memory and meant to be cached by anyone: not rate limited either.
  const unlimited = new Set(['GET /health', 'GET /ready', 'GET /metrics', 'GET /.well-known/jwks.json'])
  for (const { name, path, operation } of operations) {
    if (unlimited.has(name) || path.startsWith('/assets/')) t.notOk(operation.responses['429'], `${name} is not rate limited`)
    else t.ok(operation.responses['429'], `${name} documents 429`)
  }
  for (const name of ['POST /auth/refresh', 'POST /auth/signup', 'POST /auth/magic-link/consume', 'POST /auth/login', 'GET /auth/magic-link/verify', 'GET /auth/me', 'GET /todos']) {
    const [method, path] = name.split(' ') as [string, string]
    t.match(document.paths[path][method.toLowerCase()].responses['429'].content['application/json'].examples, { RATE_LIMITED: { value: { retryAfter: Number } } }, `${name}: RATE_LIMITED with its wait`)
  }

  const forms = operations.filter(({ method, operation }) => method === 'post' && operation.tags.includes('pages'))
  t.ok(forms.length >= 4, `${forms.length} page forms`)
  for (const { name, operation } of forms) {
    t.same(Object.keys(operation.requestBody.content), ['application/x-www-form-urlencoded'], `${name} takes a form post`)
  }
  t.same(Object.keys(document.paths['/auth/magic-link'].post.requestBody.content), ['application/json'], 'the API takes JSON')
})
