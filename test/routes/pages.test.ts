import t from 'tap'
import { bearer, buildApp, codeFrom, startStack, tokenFrom, uniqueEmail } from '../helper.js'
import { addressHtml } from '../../views/layout.js'
import { browser, csrfOf } from './pages/page-client.js'

const stack = await startStack(t)

t.test('pages: strict CSP, stylesheet instead of inline style, no-store on every page', async (t) => {
  const app = await buildApp(t, stack)
  const start = await app.inject({ method: 'GET', url: '/' })
  t.equal(start.statusCode, 200)
  t.match(start.headers['content-type'], /^text\/html/)
  t.match(start.headers['content-security-policy'], /style-src 'self'(;|$)/, 'no unsafe-inline styles')
  t.equal(start.headers['cache-control'], 'no-store')
  t.equal(start.headers['referrer-policy'], 'no-referrer')
  t.notMatch(start.body, /<style|style=|<script(?! src="\/assets\/[a-z-]+\.js" defer><\/script>)/, 'no inline style or script (only our own script files)')
  t.match(start.body, /<link rel="stylesheet" href="\/assets\/latchkey.css">/)
  t.match(start.body, /name="method" value="link"/)
  t.match(start.body, /name="method" value="code"/)
  t.match(start.body, /<label for="email">/, 'the field has a label')

  const css = await app.inject({ method: 'GET', url: '/assets/latchkey.css' })
  t.equal(css.statusCode, 200)
  t.match(css.headers['content-type'], /^text\/css/)
  t.equal(css.headers['cache-control'], 'public, max-age=86400')
  t.match(css.body, /prefers-color-scheme:dark/)
})

t.test('magic link through the pages: form → email → page → signup form → cookies → account → logout', async (t) => {
  const app = await buildApp(t, stack)
  const person = browser(app)
  const email = uniqueEmail('pages')

  const start = await person.request({ method: 'GET', url: '/' })
  const forged = await person.submit('/', { email, method: 'link' })
  t.equal(forged.statusCode, 403, 'no CSRF token → 403 page')
  t.match(forged.body, /This form has expired/)
  const wrong = await person.submit('/', { csrf: 'x'.repeat(43), email, method: 'link' })
  t.equal(wrong.statusCode, 403, 'a wrong CSRF token → 403')

  const invalid = await person.submit('/', { csrf: csrfOf(start.body), email: 'a@b@example.com', method: 'link' })
  t.equal(invalid.statusCode, 400, 'a bad address re-renders the page with 400')
  t.match(invalid.headers['content-type'], /^text\/html/)
  t.match(invalid.body, /role="alert"[^>]*>Enter one email address/)
  t.match(invalid.body, /value="a@b@example.com"/, 'what was typed stays in the field (escaped)')
  const hostile = await person.submit('/', { csrf: csrfOf(start.body), email: '"><script>alert(1)</script>@x.io', method: 'link' })
  t.equal(hostile.statusCode, 400)
  t.notMatch(hostile.body, /<script>/, 'typed text is escaped')

  const asked = await person.submit('/', { csrf: csrfOf(start.body), email: `  ${email.toUpperCase()} `, method: 'link' })
  t.equal(asked.statusCode, 200)
  t.match(asked.body, /Check your inbox/)
  const token = tokenFrom(await stack.smtp.waitForMail(email))

  const opened = await person.request({ method: 'GET', url: `/auth/magic-link/verify?token=${token}` })
  t.equal(opened.statusCode, 200)
  t.equal(opened.headers['cache-control'], 'no-store', 'invariant 8c: no-store')
  t.equal(opened.headers['referrer-policy'], 'no-referrer', 'invariant 8c: no-referrer')
  t.match(opened.body, /Create your account/)

  const noName = await person.submit('/auth/magic-link/verify', { csrf: csrfOf(opened.body), token, name: '  ', password: '' })
  t.equal(noName.statusCode, 400, 'an empty name re-renders the signup form')
  t.match(noName.body, /Enter your name/)
  const shortPassword = await person.submit('/auth/magic-link/verify', { csrf: csrfOf(opened.body), token, name: 'Grace', password: 'short' })
  t.equal(shortPassword.statusCode, 400)
  t.match(shortPassword.body, /8 to 128 characters/)
  t.equal(await app.mongo.models.User.countDocuments({ email }), 0, 'nothing was created by the refused forms')

  const created = await person.submit('/auth/magic-link/verify', { csrf: csrfOf(opened.body), token, name: 'Grace Hopper', password: '' })
  t.equal(created.statusCode, 303)
  t.equal(created.headers.location, '/account')
  t.equal(created.headers['cache-control'], 'no-store')
  const cookies = Object.fromEntries(created.cookies.map((cookie) => [cookie.name, cookie]))
  t.match(cookies.lk_at, { httpOnly: true, sameSite: 'Lax', path: '/' }, 'access cookie: HttpOnly, SameSite=Lax')
  t.match(cookies.lk_rt, { httpOnly: true, sameSite: 'Lax', path: '/account' }, 'refresh cookie only for /account')
  t.notOk(cookies.lk_at!.secure, 'not Secure on an http APP_URL')

  const account = await person.request({ method: 'GET', url: '/account' })
  t.equal(account.statusCode, 200)
  t.match(account.body, /Grace Hopper/)
  t.match(account.body, addressHtml(email), 'the address, with line-break opportunities')
  t.equal(account.headers['cache-control'], 'no-store')

  const reused = await person.submit('/auth/magic-link/verify', { csrf: csrfOf(opened.body), token, name: 'Again' })
  t.equal(reused.statusCode, 410, 'the link worked once')
  t.match(reused.body, /This link no longer works/)
  t.match(reused.body, /href="\/"/, 'with a way to request a new one')

  const accessToken = person.jar.get('lk_at')!
  t.equal((await app.inject({ method: 'GET', url: '/auth/me', headers: bearer(accessToken) })).statusCode, 200, 'the cookie holds a working access token')
  const forgedLogout = await person.submit('/account/logout', {})
  t.equal(forgedLogout.statusCode, 403, 'logout needs the CSRF token')
  const out = await person.submit('/account/logout', { csrf: csrfOf(account.body) })
  t.equal(out.statusCode, 303)
  t.equal(out.headers.location, '/?signed-out=1')
  t.notOk(person.jar.has('lk_at'), 'cookies cleared')
  t.notOk(person.jar.has('lk_rt'))
  const me = await app.inject({ method: 'GET', url: '/auth/me', headers: bearer(accessToken) })
  t.equal(me.statusCode, 401, 'the old access token is refused at once')
  t.equal(me.json().code, 'TOKEN_REVOKED')
  const after = await app.inject({ method: 'GET', url: '/account', headers: { cookie: `lk_at=${accessToken}` } })
  t.equal(after.statusCode, 303, 'the old cookie no longer opens the account page')
  t.equal(after.headers.location, '/')
  const signedOut = await person.request({ method: 'GET', url: '/?signed-out=1' })
  t.match(signedOut.body, /You are signed out/)
})

t.test('a login link: one-click Continue; a JSON endpoint still refuses form bodies', async (t) => {
  const app = await buildApp(t, stack, { EMAIL_COOLDOWN: '0' })
  const person = browser(app)
  const email = uniqueEmail('login')
  await app.inject({ method: 'POST', url: '/auth/magic-link', payload: { email } })
  const signup = tokenFrom(await stack.smtp.waitForMail(email))
  t.equal((await app.inject({ method: 'POST', url: '/auth/signup', payload: { token: signup, email, name: 'Ada' } })).statusCode, 201)

  await app.inject({ method: 'POST', url: '/auth/magic-link', payload: { email } })
  const token = tokenFrom(await stack.smtp.waitForMail(email, { count: 2 }))
  const opened = await person.request({ method: 'GET', url: `/auth/magic-link/verify?token=${token}` })
  t.match(opened.body, /Continue signing in/)
  t.notMatch(opened.body, /name="name"/, 'no signup fields on a login link')
  const continued = await person.submit('/auth/magic-link/verify', { csrf: csrfOf(opened.body), token })
  t.equal(continued.statusCode, 303)
  t.match((await person.request({ method: 'GET', url: '/account' })).body, /Ada/)

  const form = await app.inject({ method: 'POST', url: '/auth/magic-link', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: `email=${encodeURIComponent(email)}` })
  t.equal(form.statusCode, 415, 'form bodies are parsed only by the pages')
})

t.test('code page: CSRF, bad input re-renders with 400, wrong code 401 with attempts left, lock 429, right code signs in', async (t) => {
  const app = await buildApp(t, stack, { OTP_MAX_ATTEMPTS: '2' })
  const person = browser(app)
  const email = uniqueEmail('code')

  const start = await person.request({ method: 'GET', url: '/' })
  const asked = await person.submit('/', { csrf: csrfOf(start.body), email, method: 'code' })
  t.equal(asked.statusCode, 303)
  t.equal(asked.headers.location, `/code?email=${encodeURIComponent(email)}`)
  const code = codeFrom(await stack.smtp.waitForMail(email))
  const page = await person.request({ method: 'GET', url: asked.headers.location as string })
  t.equal(page.statusCode, 200)
  t.equal(page.headers['cache-control'], 'no-store')
  t.match(page.body, /autocomplete="one-time-code"/)
  const csrf = csrfOf(page.body)

  t.equal((await person.submit('/code', { email, code })).statusCode, 403, 'no CSRF token → 403')
  const letters = await person.submit('/code', { csrf, email, code: '12a456', name: 'Kay' })
  t.equal(letters.statusCode, 400)
  t.match(letters.body, /six digits/)
  t.match(letters.body, /value="Kay"/, 'the name typed is kept')
  const wrong = code === '000000' ? '111111' : '000000'
  const first = await person.submit('/code', { csrf, email, code: wrong })
  t.equal(first.statusCode, 401)
  t.match(first.body, /That code is not correct\. 1 attempt left\./)
  const locked = await person.submit('/code', { csrf, email, code: wrong })
  t.equal(locked.statusCode, 429, 'the last attempt locks the code')
  t.match(locked.body, /<h1>Code locked<\/h1>/)
  const wait = /You can send a new code in <strong>(\d+) seconds?<\/strong>|You can send a new code in <strong>1 minute<\/strong>/.exec(locked.body)
  t.ok(wait, 'the real wait before a new code can be sent: the email cooldown (60 s) is still running')
  t.ok(wait?.[1] === undefined || (Number(wait[1]) > 0 && Number(wait[1]) <= 60), 'at most the cooldown')
  t.notMatch(locked.body, /name="code"/, 'no code form on the lock page')
  t.match(locked.body, /name="method" value="code"[^>]*>Send a new code/)
  t.match(locked.body, new RegExp(`name="email" value="${email.replace(/\./g, '\\.')}"`), 'the new-code form carries the address')
  const gone = await person.submit('/code', { csrf, email, code })
  t.equal(gone.statusCode, 429, 'the next try on an old copy of the form is told the code is locked, even with the right digits')
  t.match(gone.body, /Code locked/)
  t.notMatch(gone.body, /expired|already used/)
  const elsewhere = browser(app)
  const otherPage = await elsewhere.request({ method: 'GET', url: `/code?email=${encodeURIComponent(email)}` })
  const otherTry = await elsewhere.submit('/code', { csrf: csrfOf(otherPage.body), email, code })
  t.equal(otherTry.statusCode, 401, 'another browser never saw the lock: no live code')
  t.match(otherTry.body, /no live code for this address/)
  t.equal(await app.mongo.models.User.countDocuments({ email }), 0)

  const resend = await person.submit('/', { csrf, email, method: 'code' })
  t.equal(resend.statusCode, 429, 'sending a new code inside the cooldown is refused, as the lock page said')
  t.ok(Number(resend.headers['retry-after']) <= 60)

  const noEmail = await person.request({ method: 'GET', url: '/code?email=nonsense' })
  t.equal(noEmail.statusCode, 303, 'a code page without a valid address goes back to the start page')
  const prefilled = await person.request({ method: 'GET', url: `/?email=${encodeURIComponent(email)}` })
  t.match(prefilled.body, new RegExp(`value="${email.replace(/\./g, '\\.')}"`), '"Request a new one" keeps the address')
})

t.test('code page: the right code creates the account with the name given and signs in', async (t) => {
  const app = await buildApp(t, stack)
  const person = browser(app)
  const email = uniqueEmail('code.ok')
  const start = await person.request({ method: 'GET', url: '/' })
  await person.submit('/', { csrf: csrfOf(start.body), email, method: 'code' })
  const code = codeFrom(await stack.smtp.waitForMail(email))
  const page = await person.request({ method: 'GET', url: `/code?email=${encodeURIComponent(email)}` })
  const done = await person.submit('/code', { csrf: csrfOf(page.body), email, code, name: 'Dorothy Vaughan' })
  t.equal(done.statusCode, 303)
  t.equal(done.headers.location, '/account')
  const account = await person.request({ method: 'GET', url: '/account' })
  t.match(account.body, /Dorothy Vaughan/)
  t.equal((await app.inject({ method: 'GET', url: '/auth/me', headers: bearer(person.jar.get('lk_at')!) })).json().name, 'Dorothy Vaughan')
})

t.test('account page: an expired access cookie is renewed with the refresh cookie', async (t) => {
  // Two seconds, not one: JWT times are whole seconds, so a one-second token can be expired a
  // moment after it is issued (when a second boundary falls in between), renewed one included.
  const app = await buildApp(t, stack, { ACCESS_TOKEN_TTL: '2' })
  const person = browser(app)
  const email = uniqueEmail('refresh')
  await app.inject({ method: 'POST', url: '/auth/magic-link', payload: { email } })
  const token = tokenFrom(await stack.smtp.waitForMail(email))
  const opened = await person.request({ method: 'GET', url: `/auth/magic-link/verify?token=${token}` })
  t.equal((await person.submit('/auth/magic-link/verify', { csrf: csrfOf(opened.body), token, name: 'Renewed' })).statusCode, 303)
  const firstAccess = person.jar.get('lk_at')!
  const firstRefresh = person.jar.get('lk_rt')!

  await new Promise((resolve) => setTimeout(resolve, 3100))
  t.equal((await app.inject({ method: 'GET', url: '/auth/me', headers: bearer(firstAccess) })).json().code, 'TOKEN_EXPIRED')
  person.jar.set('lk_at', firstAccess) // the browser may still send it
  const account = await person.request({ method: 'GET', url: '/account' })
  t.equal(account.statusCode, 200, 'still signed in')
  t.match(account.body, /Renewed/)
  t.not(person.jar.get('lk_at'), firstAccess, 'new access cookie')
  t.not(person.jar.get('lk_rt'), firstRefresh, 'refresh cookie rotated')

  const stranger = await app.inject({ method: 'GET', url: '/account', headers: { cookie: 'lk_at=not.a.jwt; lk_rt=nope' } })
  t.equal(stranger.statusCode, 303, 'bad cookies: back to the start page')
  t.ok(stranger.cookies.some((cookie) => cookie.name === 'lk_at' && cookie.value === ''), 'and they are cleared')
})

t.test('CSRF: a form token is bound to the session it was shown to, and posts from another origin are refused', async (t) => {
  const app = await buildApp(t, stack)
  const signIn = async (label: string) => {
    const person = browser(app)
    const email = uniqueEmail(label)
    await app.inject({ method: 'POST', url: '/auth/magic-link', payload: { email } })
    const token = tokenFrom(await stack.smtp.waitForMail(email))
    const opened = await person.request({ method: 'GET', url: `/auth/magic-link/verify?token=${token}` })
    t.equal((await person.submit('/auth/magic-link/verify', { csrf: csrfOf(opened.body), token, name: label })).statusCode, 303)
    return person
  }
  const victim = await signIn('victim')
  const attacker = await signIn('attacker')

  // On plain http a sibling subdomain can plant the CSRF cookie: the attacker gives the victim
  // their own cookie value and posts the attacker's valid form token. It was made for the
  // attacker's session, so it does not work on the victim's.
  const attackerPage = await attacker.request({ method: 'GET', url: '/account' })
  victim.jar.set('lk_csrf', attacker.jar.get('lk_csrf')!)
  const planted = await victim.submit('/account/logout', { csrf: csrfOf(attackerPage.body) })
  t.equal(planted.statusCode, 403, 'a token made for another session is refused')
  t.equal((await victim.request({ method: 'GET', url: '/account' })).statusCode, 200, 'the victim is still signed in')

  // Nor does a token from a signed-out page (the start page) work on the account form.
  const start = await victim.request({ method: 'GET', url: '/' })
  t.equal((await victim.submit('/account/logout', { csrf: csrfOf(start.body) })).statusCode, 403, 'a signed-out page\'s token is refused')

  const page = await victim.request({ method: 'GET', url: '/account' })
  for (const headers of [{ origin: 'http://evil.latchkey.test' }, { 'sec-fetch-site': 'same-site' }, { 'sec-fetch-site': 'cross-site' }]) {
    const response = await victim.request({ method: 'POST', url: '/account/logout', headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers }, payload: `csrf=${encodeURIComponent(csrfOf(page.body))}` })
    t.equal(response.statusCode, 403, `a post from elsewhere is refused (${JSON.stringify(headers)})`)
  }
  const own = await victim.request({ method: 'POST', url: '/account/logout', headers: { 'content-type': 'application/x-www-form-urlencoded', origin: 'http://latchkey.test', 'sec-fetch-site': 'same-origin' }, payload: `csrf=${encodeURIComponent(csrfOf(page.body))}` })
  t.equal(own.statusCode, 303, 'the page\'s own form, from its own origin, signs out')
})

t.test('/dev/inbox lists captured mail in development, and does not exist otherwise', async (t) => {
  const dev = await buildApp(t, stack, { NODE_ENV: 'development', SMTP_URL: '' })
  const empty = await dev.inject({ method: 'GET', url: '/dev/inbox' })
  t.equal(empty.statusCode, 200)
  t.match(empty.body, /No mail yet/)
  const email = uniqueEmail('dev')
  t.equal((await dev.inject({ method: 'POST', url: '/auth/magic-link', payload: { email } })).statusCode, 202)
  const inbox = await dev.inject({ method: 'GET', url: '/dev/inbox' })
  t.equal(inbox.statusCode, 200)
  t.equal(inbox.headers['cache-control'], 'no-store')
  t.match(inbox.body, /Finish creating your Latchkey account/)
  t.match(inbox.body, /<a href="http:\/\/latchkey\.test\/auth\/magic-link\/verify\?token=[A-Za-z0-9_-]+">/, 'the link is clickable')
  t.equal(stack.smtp.inbox(email).length, 0, 'nothing went over SMTP')

  const test = await buildApp(t, stack)
  t.equal((await test.inject({ method: 'GET', url: '/dev/inbox' })).statusCode, 404, 'not mounted outside development')
  const production = await buildApp(t, stack, { NODE_ENV: 'production' })
  t.equal((await production.inject({ method: 'GET', url: '/dev/inbox' })).statusCode, 404, 'never in production')
})

t.test('invariant 8c: the page flow leaves no token, code, password or cookie in the logs', async (t) => {
  const lines: string[] = []
  const app = await buildApp(t, stack, { LOG_LEVEL: 'trace', EMAIL_COOLDOWN: '0' }, { logStream: { write: (line: string) => { lines.push(line) } } })
  const person = browser(app)
  const email = uniqueEmail('page.logs')
  const password = 'page flow passphrase'

  const start = await person.request({ method: 'GET', url: '/' })
  await person.submit('/', { csrf: csrfOf(start.body), email, method: 'link' })
  const token = tokenFrom(await stack.smtp.waitForMail(email))
  const opened = await person.request({ method: 'GET', url: `/auth/magic-link/verify?token=${token}` })
  await person.submit('/auth/magic-link/verify', { csrf: csrfOf(opened.body), token, name: 'Logged', password })
  const secrets = { token, password, csrfForm: csrfOf(opened.body), ...Object.fromEntries(person.jar) }
  const account = await person.request({ method: 'GET', url: '/account' })
  await person.submit('/account/logout', { csrf: csrfOf(account.body) })

  const codeStart = await person.request({ method: 'GET', url: '/' })
  await person.submit('/', { csrf: csrfOf(codeStart.body), email, method: 'code' })
  const code = codeFrom(await stack.smtp.waitForMail(email, { count: 2 }))
  const codePage = await person.request({ method: 'GET', url: `/code?email=${encodeURIComponent(email)}` })
  await person.submit('/code', { csrf: csrfOf(codePage.body), email, code })

  const log = lines.join('')
  t.ok(lines.length > 10, `captured ${lines.length} log lines`)
  t.ok(Object.keys(secrets).length >= 6, 'token, password, form token and three cookies collected')
  for (const [name, secret] of Object.entries({ ...secrets, code, ...Object.fromEntries([...person.jar].map(([k, v]) => [`after ${k}`, v])) })) {
    t.notOk(log.includes(secret), `${name} is not in the logs`)
  }
})

t.test('a page form whose email cannot be sent: 503 page with Retry-After, for a link and for a code', async (t) => {
  const app = await buildApp(t, stack)
  t.teardown(() => { stack.smtp.setMode('accept') })
  stack.smtp.setMode('refuse')
  for (const method of ['link', 'code'] as const) {
    const person = browser(app)
    const email = uniqueEmail(`pages-smtp-${method}`)
    const start = await person.request({ method: 'GET', url: '/' })
    const refused = await person.submit('/', { csrf: csrfOf(start.body), email, method })
    t.equal(refused.statusCode, 503, `${method}: 503`)
    t.match(refused.headers['content-type'], /^text\/html/)
    t.equal(refused.headers['retry-after'], '30', `${method}: Retry-After, as on every 503`)
    t.match(refused.body, /We could not send email just now/)
    t.equal(stack.smtp.inbox(email).length, 0, 'nothing was delivered')
  }
})

t.test('with an https APP_URL every session cookie is __Host- (Secure, Path=/, no Domain); a planted plain cookie is ignored', async (t) => {
  const app = await buildApp(t, stack, { APP_URL: 'https://latchkey.test', OTP_MAX_ATTEMPTS: '1', EMAIL_COOLDOWN: '0' })
  const hostOnly = (cookie: { name: string, path?: string, secure?: boolean, domain?: string } | undefined, name: string) => {
    t.ok(cookie, `${name} is set`)
    t.match(cookie, { name: `__Host-${name}`, path: '/', secure: true, httpOnly: true }, `${name}: __Host-, Secure, Path=/`)
    t.equal(cookie?.domain, undefined, `${name}: no Domain`)
  }
  const person = browser(app)
  const email = uniqueEmail('host-cookies')
  const start = await person.request({ method: 'GET', url: '/' })
  const first = await person.submit('/', { csrf: csrfOf(start.body), email, method: 'code' })
  const code = codeFrom(await stack.smtp.waitForMail(email))
  const page = await person.request({ method: 'GET', url: first.headers.location as string })
  const csrf = csrfOf(page.body)
  const locked = await person.submit('/code', { csrf, email, code: code === '000000' ? '111111' : '000000' })
  t.equal(locked.statusCode, 429)
  hostOnly(locked.cookies.find((cookie) => cookie.name.endsWith('lk_otp_lock')), 'lk_otp_lock')

  await person.submit('/', { csrf, email, method: 'code' })
  const second = codeFrom(await stack.smtp.waitForMail(email, { count: 2 }))
  const signedIn = await person.submit('/code', { csrf, email, code: second, name: 'Hedy' })
  t.equal(signedIn.statusCode, 303)
  for (const name of ['lk_at', 'lk_rt']) hostOnly(signedIn.cookies.find((cookie) => cookie.name.endsWith(name)), name)
  t.notOk(signedIn.cookies.some((cookie) => !cookie.name.startsWith('__Host-')), 'no cookie without the prefix')
  t.equal((await person.request({ method: 'GET', url: '/account' })).statusCode, 200, 'the account page reads them')

  // A sibling subdomain can set plain `lk_at` / `lk_rt` for the parent domain; they sign nobody in.
  const planted = `lk_at=${person.jar.get('__Host-lk_at')!}; lk_rt=${person.jar.get('__Host-lk_rt')!}`
  const stranger = await app.inject({ method: 'GET', url: '/account', headers: { accept: 'text/html', cookie: planted } })
  t.equal(stranger.statusCode, 303, 'plain-named cookies are not the session')
  t.equal(stranger.headers.location, '/')

  // The waiting device's secret of a cross-device request.
  const desktop = browser(app)
  const home = await desktop.request({ method: 'GET', url: '/' })
  const asked = await desktop.submit('/auth/magic-link/requests', { csrf: csrfOf(home.body), email: uniqueEmail('host-device') })
  t.equal(asked.statusCode, 303)
  const requestId = (asked.headers.location as string).split('/').at(-1)!
  hostOnly(asked.cookies.find((cookie) => cookie.name.includes('lk_xd')), `lk_xd_${requestId}`)
  t.equal((await desktop.request({ method: 'GET', url: asked.headers.location as string })).statusCode, 200, 'the waiting page reads it')
})

t.test('on a plain-http APP_URL the plain names stay', async (t) => {
  const app = await buildApp(t, stack, { EMAIL_COOLDOWN: '0' })
  const person = browser(app)
  const email = uniqueEmail('plain-cookies')
  const start = await person.request({ method: 'GET', url: '/' })
  const asked = await person.submit('/', { csrf: csrfOf(start.body), email, method: 'code' })
  const page = await person.request({ method: 'GET', url: asked.headers.location as string })
  const signedIn = await person.submit('/code', { csrf: csrfOf(page.body), email, code: codeFrom(await stack.smtp.waitForMail(email)), name: 'Plain' })
  t.same(signedIn.cookies.map((cookie) => [cookie.name, cookie.path, cookie.secure ?? false]).sort(), [['lk_at', '/', false], ['lk_otp_lock', '/code', false], ['lk_rt', '/account', false]], 'lk_otp_lock: cleared on sign-in')
})

t.test('code page: a new code that meets the short back-off after a lock says "try again", and works after the wait', async (t) => {
  let time = Date.now()
  const app = await buildApp(t, stack, { EMAIL_COOLDOWN: '0' }, { clock: { now: () => time } })
  const person = browser(app)
  const email = uniqueEmail('backoff-page')
  const start = await person.request({ method: 'GET', url: '/' })
  const csrf = csrfOf(start.body)
  await person.submit('/', { csrf, email, method: 'code' })
  const first = codeFrom(await stack.smtp.waitForMail(email))
  const wrong = (code: string) => code === '000000' ? '111111' : '000000'
  let last
  for (let i = 0; i < 5; i++) last = await person.submit('/code', { csrf, email, code: wrong(first) })
  t.match(last!.body, /This code was entered wrong too many times/, 'the first code is locked')

  await person.submit('/', { csrf, email, method: 'code' })
  const second = codeFrom(await stack.smtp.waitForMail(email, { count: 2 }))
  t.equal((await person.submit('/code', { csrf, email, code: wrong(second) })).statusCode, 401, 'the sixth failure starts the back-off')
  const waiting = await person.submit('/code', { csrf, email, code: second })
  t.equal(waiting.statusCode, 429)
  t.match(waiting.body, /Codes work again in <strong>1 second<\/strong>: try again then/)
  t.notMatch(waiting.body, /send a new code after that/, 'the new code is still good: no need for another')
  time += 1_000
  t.equal((await person.submit('/code', { csrf, email, code: second })).statusCode, 303, 'after the wait the same code signs in')
})
