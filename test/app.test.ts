import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify'
import t from 'tap'
import { bearer, buildApp, codeFrom, json, signUp, startStack, tokenFrom, uniqueEmail } from './helper.js'

const stack = await startStack(t)

t.test('bad requests get a clear 4xx in the one error shape', async (t) => {
  const app = await buildApp(t, stack)
  const cases: Array<[string, InjectOptions, number, string]> = [
    ['body over 16 KiB', { method: 'POST', url: '/auth/magic-link', headers: { 'content-type': 'application/json' }, payload: JSON.stringify({ email: 'a@example.com', redirectTo: 'x'.repeat(17 * 1024) }) }, 413, 'PAYLOAD_TOO_LARGE'],
    ['text/plain body', { method: 'POST', url: '/auth/magic-link', headers: { 'content-type': 'text/plain' }, payload: 'email=a@example.com' }, 415, 'UNSUPPORTED_MEDIA_TYPE'],
    ['form body on a JSON endpoint', { method: 'POST', url: '/auth/login', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: 'email=a%40example.com&password=x' }, 415, 'UNSUPPORTED_MEDIA_TYPE'],
    ['malformed JSON', { method: 'POST', url: '/auth/magic-link', headers: { 'content-type': 'application/json' }, payload: '{"email": ' }, 400, 'VALIDATION_FAILED'],
    ['__proto__ payload', { method: 'POST', url: '/auth/magic-link', headers: { 'content-type': 'application/json' }, payload: '{"email":"a@example.com","__proto__":{"admin":true}}' }, 400, 'VALIDATION_FAILED'],
    ['constructor.prototype payload', { method: 'POST', url: '/auth/magic-link', headers: { 'content-type': 'application/json' }, payload: '{"email":"a@example.com","constructor":{"prototype":{"admin":true}}}' }, 400, 'VALIDATION_FAILED'],
    ['unknown route', { method: 'GET', url: '/nope?token=secret' }, 404, 'NOT_FOUND']
  ]
  for (const [name, request, status, code] of cases) {
    const response = await app.inject(request)
    t.equal(response.statusCode, status, `${name} → ${status}`)
    const body = json(response)
    t.match(body, { statusCode: status, code, error: String, message: String }, `${name} → ${code}`)
    t.same(Object.keys(body).sort(), ['code', 'error', 'message', 'statusCode'], 'exactly the error shape')
  }
  const notFound = await app.inject({ method: 'GET', url: '/nope?token=secret' })
  t.notOk(notFound.body.includes('secret'), 'the 404 message does not echo the query string')
  t.equal(({} as Record<string, unknown>).admin, undefined, 'no prototype was polluted')
})

t.test('security headers: JSON gets the short API set, pages the strict page CSP; no-store on auth responses', async (t) => {
  const app = await buildApp(t, stack)
  const response = await app.inject({ method: 'POST', url: '/auth/magic-link', payload: { email: uniqueEmail('headers') } })
  t.equal(response.headers['content-security-policy'], "default-src 'none'; frame-ancestors 'none'", 'JSON may load and frame nothing')
  t.equal(response.headers['referrer-policy'], 'no-referrer')
  t.equal(response.headers['x-content-type-options'], 'nosniff')
  t.equal(response.headers['x-frame-options'], 'DENY')
  t.match(response.headers['strict-transport-security'], /max-age=\d+/)
  t.equal(response.headers['cache-control'], 'no-store')
  t.notOk(response.headers['x-powered-by'])
  const notFound = await app.inject({ method: 'GET', url: '/nowhere' })
  t.equal(notFound.headers['content-security-policy'], "default-src 'none'; frame-ancestors 'none'", 'errors too')
  const refused = await app.inject({ method: 'GET', url: '/auth/me' })
  t.equal(refused.statusCode, 401)
  t.same([refused.headers['cache-control'], refused.headers['referrer-policy']], ['no-store', 'no-referrer'], 'auth errors are not cached either')
  t.notOk(refused.headers['set-cookie'], 'the API sets no cookies')

  const page = await app.inject({ method: 'GET', url: '/' })
  t.match(page.headers['content-type'], /text\/html/)
  t.match(page.headers['content-security-policy'], /default-src 'self'/)
  t.match(page.headers['content-security-policy'], /script-src 'self'/)
  t.match(page.headers['content-security-policy'], /frame-ancestors 'none'/)
  t.match(page.headers['content-security-policy'], /form-action 'self'/)
  t.notMatch(page.headers['content-security-policy'], /unsafe-inline/)
  t.equal(page.headers['x-frame-options'], 'DENY')
  t.equal(page.headers['referrer-policy'], 'no-referrer')
  t.equal(page.headers['cross-origin-opener-policy'], 'same-origin')
})

t.test('CORS only for configured origins, never with credentials', async (t) => {
  const closed = await buildApp(t, stack)
  const refused = await closed.inject({ method: 'OPTIONS', url: '/auth/me', headers: { origin: 'https://app.example.com', 'access-control-request-method': 'GET' } })
  t.notOk(refused.headers['access-control-allow-origin'], 'no CORS by default')

  const open = await buildApp(t, stack, { CORS_ORIGINS: 'https://app.example.com' })
  const preflight = await open.inject({ method: 'OPTIONS', url: '/auth/me', headers: { origin: 'https://app.example.com', 'access-control-request-method': 'GET', 'access-control-request-headers': 'authorization' } })
  t.equal(preflight.headers['access-control-allow-origin'], 'https://app.example.com')
  t.match(preflight.headers['access-control-allow-headers'], /Authorization/)
  t.notOk(preflight.headers['access-control-allow-credentials'])
  const foreign = await open.inject({ method: 'OPTIONS', url: '/auth/me', headers: { origin: 'https://evil.test', 'access-control-request-method': 'GET' } })
  t.notOk(foreign.headers['access-control-allow-origin'], 'other origins get nothing')
})

t.test('tokens, codes, passwords and Authorization headers never reach the logs', async (t) => {
  const lines: string[] = []
  const app = await buildApp(t, stack, { LOG_LEVEL: 'trace', EMAIL_COOLDOWN: '0' }, { logStream: { write: (line: string) => { lines.push(line) } } })
  const email = uniqueEmail('logs')
  const password = 'correct horse battery staple'

  await app.inject({ method: 'POST', url: '/auth/magic-link', payload: { email } })
  const token = tokenFrom(await stack.smtp.waitForMail(email))
  await app.inject({ method: 'GET', url: `/auth/magic-link/verify?token=${token}` })
  const signup = json(await app.inject({ method: 'POST', url: `/auth/signup?token=${token}`, payload: { email, name: 'Logged', password } }))
  await app.inject({ method: 'GET', url: '/auth/me', headers: { ...bearer(signup.accessToken), cookie: 'session=cookie-secret-value' } })
  const refreshed = json(await app.inject({ method: 'POST', url: '/auth/refresh', payload: { refreshToken: signup.refreshToken } }))
  await app.inject({ method: 'POST', url: '/auth/login', payload: { email, password } })
  await app.inject({ method: 'POST', url: '/auth/login', payload: { email, password: 'wrong-password-value' } })
  await app.inject({ method: 'GET', url: '/auth/me', headers: bearer('not.a-valid.jwt-value') })
  await app.inject({ method: 'POST', url: '/auth/otp', payload: { email } })
  const code = codeFrom(await stack.smtp.waitForMail(email, { count: 2 }))
  const wrongCode = ((Number(code) + 1) % 1_000_000).toString().padStart(6, '0')
  await app.inject({ method: 'POST', url: '/auth/otp/verify', payload: { email, code: wrongCode } })
  const byCode = json(await app.inject({ method: 'POST', url: '/auth/otp/verify', payload: { email, code } }))

  const log = lines.join('')
  t.ok(lines.length > 10, `captured ${lines.length} log lines`)
  t.match(log, /\/auth\/magic-link\/verify\?\[redacted\]/, 'URLs are logged without their query string')
  for (const [name, secret] of Object.entries({
    token,
    password,
    accessToken: signup.accessToken,
    refreshToken: signup.refreshToken,
    rotatedAccess: refreshed.accessToken,
    rotatedRefresh: refreshed.refreshToken,
    cookie: 'cookie-secret-value',
    wrongPassword: 'wrong-password-value',
    badJwt: 'not.a-valid.jwt-value',
    codeAccess: byCode.accessToken,
    codeRefresh: byCode.refreshToken
  })) {
    t.notOk(log.includes(secret), `no ${name} in the logs`)
  }
  for (const [name, digits] of Object.entries({ code, wrongCode })) {
    t.notMatch(log, new RegExp(`(?<![0-9])${digits}(?![0-9])`), `no ${name} in the logs`)
  }
})

t.test('answers people can read: the field and the rule in words, what to send on a 415', async (t) => {
  const app = await buildApp(t, stack)
  const cases: Array<[InjectOptions, string, string]> = [
    [{ method: 'POST', url: '/auth/magic-link', payload: { email: 'ada at example.com' } }, 'email must be one address like ada@example.com', 'body.email'],
    [{ method: 'POST', url: '/auth/magic-link', payload: { email: 'ada@example.com', role: 'admin' } }, 'unknown property `role` (allowed: email, redirectTo, crossDevice)', 'body.role'],
    [{ method: 'POST', url: '/auth/otp/verify', payload: { email: 'ada@example.com', code: 42917 } }, 'code must be a string', 'body.code'],
    [{ method: 'POST', url: '/auth/otp/verify', payload: { email: 'ada@example.com' } }, 'code is required', 'body.code'],
    [{ method: 'GET', url: '/auth/magic-link/verify?token=abc&utm_source=mail' }, 'unknown property `utm_source` (allowed: token)', 'querystring.utm_source'],
    [{ method: 'POST', url: '/auth/signup', payload: { email: 'ada@example.com', name: 'Ada' } }, 'token is required, in the query string or the body', 'querystring.token']
  ]
  for (const [request, message, field] of cases) {
    const response = await app.inject(request)
    t.same(json(response), { statusCode: 400, code: 'VALIDATION_FAILED', error: 'Bad Request', message, field }, `${request.method} ${request.url}: ${message}`)
  }

  const text = await app.inject({ method: 'POST', url: '/auth/otp', headers: { 'content-type': 'text/plain' }, payload: 'ada@example.com' })
  t.equal(text.statusCode, 415)
  t.match(json(text), { code: 'UNSUPPORTED_MEDIA_TYPE', message: 'Unsupported Media Type: send Content-Type: application/json' })
})

t.test('every 429 says the wait in the body as well as in Retry-After', async (t) => {
  // The clock stands still: the Bearer limit counts per minute window, and two requests a slow
  // machine sends on either side of a window's end would both pass.
  const now = Date.now()
  const app = await buildApp(t, stack, { RATE_LIMIT_AUTH: '2', RATE_LIMIT_BEARER: '1', RATE_LIMIT_ADDRESS: '1', RATE_LIMIT_GLOBAL: '1' }, { clock: { now: () => now } })
  const sameWait = (response: LightMyRequestResponse, code: string, name: string): void => {
    const body = json(response)
    t.equal(response.statusCode, 429, `${name}: 429`)
    t.equal(body.code, code, `${name}: ${code}`)
    t.ok(Number.isInteger(body.retryAfter) && body.retryAfter > 0, `${name}: retryAfter ${body.retryAfter} in the body`)
    t.equal(response.headers['retry-after'], String(body.retryAfter), `${name}: the same wait as Retry-After`)
    t.match(body.message, /try again in \d+ (second|minute|hour)s?\b/, `${name}: "${body.message}"`)
  }

  // Each part from its own client address: the limits count in the Redis every app of this file shares.
  const email = uniqueEmail('wait')
  const ask = { method: 'POST' as const, url: '/auth/otp', payload: { email }, remoteAddress: '192.0.2.1' }
  await app.inject(ask)
  sameWait(await app.inject(ask), 'EMAIL_RATE_LIMITED', 'email cooldown')
  sameWait(await app.inject(ask), 'RATE_LIMITED', 'sign-in limit per IP')

  const other = { remoteAddress: '192.0.2.7' }
  const guess = { method: 'POST' as const, url: '/auth/login', payload: { email, password: 'not the password' }, ...other }
  await app.inject(guess)
  sameWait(await app.inject(guess), 'RATE_LIMITED', 'per-address limit')

  const signedIn = await signUpFrom(app, '198.51.100.9')
  await app.inject({ method: 'GET', url: '/auth/me', headers: bearer(signedIn), remoteAddress: '198.51.100.10' })
  sameWait(await app.inject({ method: 'GET', url: '/auth/me', headers: bearer(signedIn), remoteAddress: '198.51.100.10' }), 'RATE_LIMITED', 'Bearer limit per instance')

  await app.inject({ method: 'GET', url: '/', remoteAddress: '203.0.113.5' })
  sameWait(await app.inject({ method: 'GET', url: '/', remoteAddress: '203.0.113.5' }), 'RATE_LIMITED', 'global limit per IP')
})

/** Signs up through the code flow from one address and returns the access token. */
async function signUpFrom (app: FastifyInstance, remoteAddress: string): Promise<string> {
  const email = uniqueEmail('waiter')
  await app.inject({ method: 'POST', url: '/auth/otp', payload: { email }, remoteAddress })
  const code = codeFrom(await stack.smtp.waitForMail(email))
  return json(await app.inject({ method: 'POST', url: '/auth/otp/verify', payload: { email, code }, remoteAddress })).accessToken
}

t.test('503 EMAIL_UNAVAILABLE: Retry-After, and one warn line naming the SMTP cause without the address', async (t) => {
  const lines: string[] = []
  const app = await buildApp(t, stack, { LOG_LEVEL: 'info' }, { logStream: { write: (line: string) => { lines.push(line) } } })
  t.teardown(() => { stack.smtp.setMode('accept') })
  stack.smtp.setMode('reject-recipient')
  const email = uniqueEmail('bounced')
  const response = await app.inject({ method: 'POST', url: '/auth/magic-link', payload: { email } })
  t.equal(response.statusCode, 503)
  t.equal(json(response).code, 'EMAIL_UNAVAILABLE')
  t.equal(response.headers['retry-after'], '30', 'Retry-After, as on every 503')

  const warnings = lines.map((line) => JSON.parse(line)).filter((entry) => entry.level === 40 && entry.msg === 'email could not be sent')
  t.equal(warnings.length, 1, 'one warn line')
  t.match(warnings[0]?.smtp, /550.*Recipient address rejected/, `the cause: ${warnings[0]?.smtp}`)
  t.notOk(lines.join('').includes(email), 'the address is in no log line')
  t.notOk(lines.join('').includes(email.split('@')[0]!), 'not even its local part')
})

t.test('SPEC 8b: every query string is closed: an unknown parameter is a 400 on every route that declares none', async (t) => {
  const introspectionSecret = 'i'.repeat(40)
  const app = await buildApp(t, stack, { INTROSPECTION_SECRET: introspectionSecret })
  const { accessToken } = await signUp(app, stack)
  const document = json(await app.inject({ method: 'GET', url: '/openapi.json' }))
  let checked = 0
  for (const [path, item] of Object.entries<Record<string, { parameters?: Array<{ in: string }>, tags?: string[] }>>(document.paths)) {
    for (const [method, operation] of Object.entries(item)) {
      if (!['get', 'post', 'put', 'patch', 'delete'].includes(method)) continue
      if ((operation.parameters ?? []).some((parameter) => parameter.in === 'query')) continue // its own closed schema
      const url = `${path.replace(/\{[^}]+\}/g, '0123456789abcdef01234567')}?userId[$ne]=x`
      const response = await app.inject({ method: method.toUpperCase() as InjectOptions['method'], url, headers: bearer(path === '/auth/introspect' ? introspectionSecret : accessToken), payload: method === 'get' || method === 'delete' ? undefined : {} })
      const name = `${method.toUpperCase()} ${path}?userId[$ne]=x`
      if (operation.tags?.includes('pages') === true && /^text\/html/.test(String(response.headers['content-type']))) {
        // Page forms handle their own validation: an invalid request is never acted on (the form is refused).
        t.ok(response.statusCode >= 400 && response.statusCode < 500, `${name} → refused with ${response.statusCode} (page)`)
      } else {
        t.same([response.statusCode, json(response).code], [400, 'VALIDATION_FAILED'], `${name} → 400`)
      }
      checked++
    }
  }
  t.ok(checked >= 20, `${checked} operations checked`)
  const todos = await app.inject({ method: 'GET', url: '/todos?userId[$ne]=x', headers: bearer(accessToken) })
  t.equal(todos.statusCode, 400, 'the example from the review: GET /todos?userId[$ne]=x')
})
