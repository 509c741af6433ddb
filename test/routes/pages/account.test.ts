/**
 * The account page's forms over inject (the browser test drives the same forms in Chromium): each
 * one needs the CSRF token and a session, does what the matching Bearer route does, and clears
 * this browser's cookies wherever its session ends. Also the HTML 404 for browsers.
 */
import t from 'tap'
import { bearer, buildApp, signUp, startStack, tokenFrom, uniqueEmail } from '../../helper.js'
import { browser, csrfOf } from './page-client.js'
import { mongoCommandsDuring } from '../../counters.js'

const stack = await startStack(t)
const app = await buildApp(t, stack, { EMAIL_COOLDOWN: '0' })

/** A browser holding the cookies of a fresh account's session, on its account page. */
async function signedInBrowser (name = 'Ada Lovelace') {
  const email = uniqueEmail('account.page')
  const session = await signUp(app, stack, email, name)
  const person = browser(app)
  person.jar.set('lk_at', session.accessToken)
  person.jar.set('lk_rt', session.refreshToken)
  const account = await person.request({ method: 'GET', url: '/account' })
  if (account.statusCode !== 200) throw new Error(`account page: ${account.statusCode}`)
  return { person, email, session, csrf: csrfOf(account.body), account }
}

/** Another session of an existing account: a login link, consumed through the API. */
async function signIn (email: string): Promise<{ accessToken: string }> {
  const before = stack.smtp.inbox(email).length
  await app.inject({ method: 'POST', url: '/auth/magic-link', payload: { email } })
  const token = tokenFrom(await stack.smtp.waitForMail(email, { count: before + 1 }))
  const response = await app.inject({ method: 'POST', url: '/auth/magic-link/consume', payload: { token } })
  if (response.statusCode !== 200) throw new Error(`consume: ${response.statusCode} ${response.body}`)
  return response.json()
}

const status = async (accessToken: string): Promise<number> => (await app.inject({ method: 'GET', url: '/auth/me', headers: bearer(accessToken) })).statusCode
const cleared = (response: { cookies: Array<{ name: string, value: string }> }, name: string): boolean =>
  response.cookies.some((cookie) => cookie.name === name && cookie.value === '')

t.test('every account form needs the CSRF token and a session; without them nothing changes', async (t) => {
  const { person, session, email } = await signedInBrowser()
  const other = await signIn(email)
  const otherId = ((await app.inject({ method: 'GET', url: '/auth/sessions', headers: bearer(other.accessToken) })).json() as Array<{ id: string, current: boolean }>).find((entry) => entry.current)!.id
  const forms: Array<[string, Record<string, string>]> = [
    ['/account/logout', {}],
    ['/account/logout-all', {}],
    ['/account/sessions/revoke', { session: otherId }],
    ['/account/name', { name: 'Mallory' }],
    ['/account/delete', { confirm: 'delete' }]
  ]
  for (const [url, fields] of forms) {
    const forged = await person.submit(url, fields)
    t.equal(forged.statusCode, 403, `${url} without the token: 403`)
    t.match(forged.body, /This form has expired/)
    t.equal((await person.submit(url, { ...fields, csrf: 'x'.repeat(43) })).statusCode, 403, `${url} with a wrong token: 403`)
  }
  t.same([await status(session.accessToken), await status(other.accessToken)], [200, 200], 'both sessions still work')
  t.equal(((await app.inject({ method: 'GET', url: '/auth/me', headers: bearer(session.accessToken) })).json() as { name: string }).name, 'Ada Lovelace', 'the name is unchanged')

  // A browser with the CSRF cookie but no session: to the start page, nothing done.
  const stranger = browser(app)
  const start = await stranger.request({ method: 'GET', url: '/' })
  for (const [url, fields] of forms.slice(1)) {
    const answer = await stranger.submit(url, { ...fields, csrf: csrfOf(start.body) })
    t.equal(answer.statusCode, 303, `${url} signed out: 303`)
    t.equal(answer.headers.location, '/')
  }
  t.same([await status(session.accessToken), await status(other.accessToken)], [200, 200], 'still nothing changed')
})

t.test('the account page lists the sessions; signing one out revokes exactly that one', async (t) => {
  const { person, email, session, csrf } = await signedInBrowser()
  const cli = await signIn(email) // a second session of the same account
  const stranger = await signUp(app, stack)
  const sessions = (await app.inject({ method: 'GET', url: '/auth/sessions', headers: bearer(session.accessToken) })).json() as Array<{ id: string, current: boolean }>
  t.equal(sessions.length, 2)
  const page = await person.request({ method: 'GET', url: '/account' })
  for (const { id } of sessions) t.match(page.body, `id="session-${id}"`, 'each session is listed')
  t.equal(page.body.match(/Sign out this session/g)?.length, 1, 'a button for the other session only')
  t.match(page.body, /<span class="badge">This device<\/span>/)

  const strangerSessions = (await app.inject({ method: 'GET', url: '/auth/sessions', headers: bearer(stranger.accessToken) })).json() as Array<{ id: string }>
  const foreign = await person.submit('/account/sessions/revoke', { csrf, session: strangerSessions[0]!.id })
  t.equal(foreign.headers.location, '/account?done=gone', 'another user\'s session is not one of yours')
  t.equal(await status(stranger.accessToken), 200, 'and it still works')
  t.equal((await person.submit('/account/sessions/revoke', { csrf, session: 'not-an-id' })).headers.location, '/account?done=gone')

  const otherId = sessions.find((entry) => !entry.current)!.id
  const revoked = await person.submit('/account/sessions/revoke', { csrf, session: otherId })
  t.equal(revoked.statusCode, 303)
  t.equal(revoked.headers.location, '/account?done=revoked')
  t.same([await status(session.accessToken), await status(cli.accessToken)], [200, 401], 'exactly that session is refused')
  t.match((await person.request({ method: 'GET', url: '/account?done=revoked' })).body, /role="status">That session is signed out/)
  t.equal((await person.request({ method: 'GET', url: '/account?done=nonsense&utm=x' })).statusCode, 200, 'unknown query parameters are ignored')

  const own = sessions.find((entry) => entry.current)!.id
  const self = await person.submit('/account/sessions/revoke', { csrf, session: own })
  t.equal(self.headers.location, '/?signed-out=1', 'signing out this browser\'s own session is a log out')
  t.ok(cleared(self, 'lk_at') && cleared(self, 'lk_rt'), 'its cookies are cleared')
  t.equal(await status(session.accessToken), 401)
})

t.test('log out everywhere: every session of the user dies, this browser\'s cookies are cleared', async (t) => {
  const { person, email, session, csrf } = await signedInBrowser()
  const other = await signIn(email)
  const out = await person.submit('/account/logout-all', { csrf })
  t.equal(out.statusCode, 303)
  t.equal(out.headers.location, '/?signed-out=everywhere')
  t.ok(cleared(out, 'lk_at') && cleared(out, 'lk_rt'), 'cookies cleared')
  t.same([await status(session.accessToken), await status(other.accessToken)], [401, 401])
  t.match((await person.request({ method: 'GET', url: '/?signed-out=everywhere' })).body, /You are signed out on every device/)
})

t.test('rename: a bad name shows the page again with the field marked and focused; a good one is saved', async (t) => {
  const { person, session, csrf } = await signedInBrowser()
  const bad = await person.submit('/account/name', { csrf, name: '   ' })
  t.equal(bad.statusCode, 400)
  t.match(bad.body, /role="alert">Enter a name of 1 to 100 characters/)
  t.match(bad.body, /<input id="name" name="name"[^>]* autofocus aria-invalid="true" aria-describedby="form-error">/)
  const long = await person.submit('/account/name', { csrf, name: 'n'.repeat(101) })
  t.equal(long.statusCode, 400, 'over 100 characters')
  const good = await person.submit('/account/name', { csrf, name: '  Ada King  ' })
  t.equal(good.statusCode, 303)
  t.equal(good.headers.location, '/account?done=renamed')
  t.equal(((await app.inject({ method: 'GET', url: '/auth/me', headers: bearer(session.accessToken) })).json() as { name: string }).name, 'Ada King', 'trimmed and saved')
  const page = await person.request({ method: 'GET', url: '/account?done=renamed' })
  t.match(page.body, /<dd>Ada King<\/dd>/)
  t.match(page.body, /Your name is saved/)
})

t.test('delete: a confirmation page first; then the account, its sessions and the cookies are gone', async (t) => {
  const { person, email, session, csrf } = await signedInBrowser()
  const confirm = await person.request({ method: 'GET', url: '/account/delete' })
  t.equal(confirm.statusCode, 200)
  t.match(confirm.body, /Delete your account\?/)
  t.match(confirm.body, /name="confirm" value="delete"/)
  t.equal(await status(session.accessToken), 200, 'looking at the confirmation deletes nothing')

  const unconfirmed = await person.submit('/account/delete', { csrf })
  t.equal(unconfirmed.headers.location, '/account/delete', 'without confirm: back to the confirmation page')
  t.equal(await app.mongo.models.User.countDocuments({ email }), 1)

  const deleted = await person.submit('/account/delete', { csrf: csrfOf(confirm.body), confirm: 'delete' })
  t.equal(deleted.statusCode, 303)
  t.equal(deleted.headers.location, '/?signed-out=deleted')
  t.ok(cleared(deleted, 'lk_at') && cleared(deleted, 'lk_rt'), 'cookies cleared')
  t.equal(await app.mongo.models.User.countDocuments({ email }), 0, 'the account is gone')
  t.equal(await app.mongo.models.Session.countDocuments({ userId: session.user.id }), 0, 'its sessions too')
  t.equal(await status(session.accessToken), 401)
  t.match((await person.request({ method: 'GET', url: '/?signed-out=deleted' })).body, /Your account has been deleted/)
  t.equal((await person.request({ method: 'GET', url: '/account/delete' })).headers.location, '/', 'signed out: no confirmation page')
})

t.test('account forms: the CSRF check comes before any database read; 400 forged posts → no MongoDB read, 429 once over RATE_LIMIT_REFRESH', async (t) => {
  // No data-loss check during the count (its own MongoDB reads would mix in).
  const limited = await buildApp(t, stack, { RATE_LIMIT_REFRESH: '30' }, { dataLossCheckMs: 3_600_000 })
  const session = await signUp(limited, stack, uniqueEmail('account.forged'))
  const person = browser(limited)
  // Only the refresh cookie: finding this session means a refresh (MongoDB reads and a rotation).
  person.jar.set('lk_rt', session.refreshToken)
  const start = await person.request({ method: 'GET', url: '/' }) // a CSRF cookie, and a signed-out token
  const signedOutToken = csrfOf(start.body)
  const forms: Array<[string, Record<string, string>]> = [
    ['/account/logout', {}],
    ['/account/logout-all', {}],
    ['/account/sessions/revoke', { session: 'x' }],
    ['/account/name', { name: 'Mallory' }],
    ['/account/delete', { confirm: 'delete' }],
    ['/account/passkeys/rename', { id: 'x', name: 'Mallory' }],
    ['/account/passkeys/delete', { id: 'x' }],
    ['/account/reauthenticate/code', { next: 'delete' }],
    ['/account/reauthenticate', { next: 'delete', code: '123456' }],
    // The pages' script calls (JSON): refused with 401 TOKEN_REVOKED instead of the expired-form page.
    ['/account/passkeys/options', {}],
    ['/account/passkeys', { credential: 'x' }],
    ['/account/reauthenticate/passkey', { credential: 'x' }]
  ]
  const scriptCalls = new Set(['/account/passkeys/options', '/account/passkeys', '/account/reauthenticate/passkey'])
  const forgeries = [undefined, 'x'.repeat(43), `${session.accessToken.slice(0, 24)}.${'A'.repeat(43)}`]
  // A credential of the right shape, so the calls reach their CSRF check (and not a 400).
  const credentialOf = (url: string) => ({
    id: 'AAAA',
    rawId: 'AAAA',
    type: 'public-key',
    clientExtensionResults: {},
    response: url === '/account/passkeys' ? { clientDataJSON: 'AAAA', attestationObject: 'AAAA' } : { clientDataJSON: 'AAAA', authenticatorData: 'AAAA', signature: 'AAAA' }
  })
  const statuses: number[] = []
  const reads = await mongoCommandsDuring(limited, async () => {
    for (let i = 0; i < 400; i++) {
      const [url, fields] = forms[i % forms.length]!
      const csrf = forgeries[i % forgeries.length]
      const cookie = [...person.jar].map(([name, value]) => `${name}=${value}`).join('; ')
      const response = scriptCalls.has(url)
        ? await limited.inject({ method: 'POST', url, remoteAddress: '198.51.100.40', headers: { cookie }, payload: { csrf: csrf ?? '', ...(url === '/account/passkeys/options' ? {} : { credential: credentialOf(url) }) } })
        : await limited.inject({
          method: 'POST',
          url,
          remoteAddress: '198.51.100.40',
          headers: { 'content-type': 'application/x-www-form-urlencoded', cookie },
          payload: new URLSearchParams(csrf === undefined ? fields : { ...fields, csrf }).toString()
        })
      // A forged script call is 401 TOKEN_REVOKED; a forged form, the 403 expired-form page.
      statuses.push(scriptCalls.has(url) && response.statusCode === 401 ? 403 : response.statusCode)
    }
  })
  t.same(reads, [], 'no MongoDB command at all')
  t.equal(statuses.filter((code) => code === 403).length, 30, 'the first 30 are refused as forged (form expired, or 401 for a script call)')
  t.equal(statuses.filter((code) => code === 429).length, 370, 'the rest: 429, the shared limit of the account forms')
  t.same(statuses.slice(0, 30), Array(30).fill(403))
  t.equal((await limited.inject({ method: 'POST', url: '/auth/refresh', payload: { refreshToken: session.refreshToken } })).statusCode, 200,
    'the refresh token was never rotated by the forged posts')

  // A signed-out page's token is no token for a signed-in form (checked once the session is known).
  const other = browser(limited)
  const fresh = await signUp(limited, stack, uniqueEmail('account.crossed'))
  other.jar.set('lk_at', fresh.accessToken)
  const page = await other.request({ method: 'GET', url: '/account', remoteAddress: '198.51.100.41' })
  other.jar.set('lk_csrf', person.jar.get('lk_csrf')!)
  const crossed = await other.request({
    method: 'POST', url: '/account/name', remoteAddress: '198.51.100.41', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: new URLSearchParams({ csrf: signedOutToken, name: 'Mallory' }).toString()
  })
  t.equal(crossed.statusCode, 403, "a signed-out page's token does not change a signed-in account")
  t.equal(page.statusCode, 200)

  // Over the limit, a good form is refused too; another client is not.
  const own = browser(limited)
  own.jar.set('lk_at', fresh.accessToken)
  const mine = await own.request({ method: 'GET', url: '/account', remoteAddress: '198.51.100.42' })
  const rename = async (remoteAddress: string) => await own.request({
    method: 'POST', url: '/account/name', remoteAddress, headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: new URLSearchParams({ csrf: csrfOf(mine.body), name: 'Ada Renamed' }).toString()
  })
  const refused = await rename('198.51.100.40')
  t.equal(refused.statusCode, 429, 'the spent IP: 429')
  t.ok(Number(refused.headers['retry-after']) > 0, 'with Retry-After')
  t.equal((await rename('198.51.100.42')).statusCode, 303, 'another IP: saved')
})

t.test('an unknown URL: an HTML page for Accept: text/html, the JSON error otherwise', async (t) => {
  const html = await app.inject({ method: 'GET', url: '/nowhere?token=abc', headers: { accept: 'text/html,application/xhtml+xml,*/*;q=0.8' } })
  t.equal(html.statusCode, 404)
  t.match(html.headers['content-type'], /^text\/html/)
  t.match(html.headers['content-security-policy'], /default-src 'self'/, 'the page header set')
  t.equal(html.headers['cache-control'], 'no-store')
  t.match(html.body, /<h1>Page not found<\/h1>/)
  t.match(html.body, /<code>\/nowhere<\/code>/)
  t.notMatch(html.body, /token=abc/, 'the query string is not echoed')
  const hostile = await app.inject({ method: 'GET', url: '/%3Cscript%3E', headers: { accept: 'text/html' } })
  t.notMatch(hostile.body, /<script>/, 'the path is escaped')
  const posted = await app.inject({ method: 'POST', url: '/nowhere', headers: { accept: 'text/html' } })
  t.equal(posted.statusCode, 404)
  t.match(posted.body, /Page not found/, 'a form posted to a wrong address too')

  for (const accept of [undefined, '*/*', 'application/json']) {
    const json = await app.inject({ method: 'GET', url: '/nowhere', headers: accept === undefined ? {} : { accept } })
    t.equal(json.statusCode, 404)
    t.match(json.json(), { statusCode: 404, code: 'NOT_FOUND', error: 'Not Found' }, `Accept: ${accept ?? 'none'} → JSON`)
  }
})
