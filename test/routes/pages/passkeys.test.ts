/**
 * The pages' passkey side over inject (test/browser/passkeys.test.ts drives it in Chromium): the
 * start page's offer, the account page's list with rename and delete, the scripts' JSON calls with
 * the cookies and CSRF token, and re-authentication before deleting (a passkey or the account).
 */
import t from 'tap'
import { bearer, buildApp, codeFrom, json, signUp, startStack, uniqueEmail } from '../../helper.js'
import { decodeJwt } from '../../jwt-forgery.js'
import { createSoftAuthenticator } from '../../passkeys/soft-authenticator.js'
import { browser, csrfOf } from './page-client.js'

const stack = await startStack(t)
let offset = 0
const app = await buildApp(t, stack, { EMAIL_COOLDOWN: '0', RECENT_AUTH_WINDOW: '600' }, { clock: { now: () => Date.now() + offset } })
const device = () => createSoftAuthenticator({ origin: 'http://latchkey.test', rpId: 'latchkey.test' })

async function signedInBrowser () {
  const email = uniqueEmail('passkey.page')
  const session = await signUp(app, stack, email)
  const person = browser(app)
  person.jar.set('lk_at', session.accessToken)
  person.jar.set('lk_rt', session.refreshToken)
  const account = await person.request({ method: 'GET', url: '/account' })
  return { person, email, session, csrf: csrfOf(account.body), account }
}

const postJson = async (person: ReturnType<typeof browser>, url: string, payload: unknown) =>
  await person.request({ method: 'POST', url, headers: { 'content-type': 'application/json', accept: 'application/json' }, payload: JSON.stringify(payload) })

t.test('the start page offers passkeys: a button and autofill, scripts from our origin only', async (t) => {
  const person = browser(app)
  const page = await person.request({ method: 'GET', url: '/' })
  t.match(page.body, /autocomplete="username webauthn"/)
  t.match(page.body, /Sign in with a passkey/)
  t.match(page.body, /<script src="\/assets\/simplewebauthn-browser\.js" defer><\/script>/)
  t.notMatch(page.body, /<script>|<script [^>]*>[^<]/, 'no inline script')
  t.match(page.headers['content-security-policy'], /script-src 'self'/)
  for (const url of ['/assets/simplewebauthn-browser.js', '/assets/passkeys.js']) {
    const script = await person.request({ method: 'GET', url })
    t.equal(script.statusCode, 200, url)
    t.match(script.headers['content-type'], /javascript/)
  }
  t.match((await person.request({ method: 'GET', url: '/assets/simplewebauthn-browser.js' })).body, /SimpleWebAuthnBrowser/)
})

t.test('add (script call), list, rename, sign in (script call), delete; old sign-ins re-authenticate first', async (t) => {
  const { person, csrf, session, email } = await signedInBrowser()
  const authenticator = device()
  const options = await postJson(person, '/account/passkeys/options', { csrf })
  t.equal(options.statusCode, 200, options.body)
  t.equal((await postJson(person, '/account/passkeys/options', { csrf: 'x'.repeat(43) })).statusCode, 401, 'a wrong CSRF token is refused')
  const added = await postJson(person, '/account/passkeys', { csrf, credential: authenticator.register(json(options)) })
  t.equal(added.statusCode, 201, added.body)
  const id = json(added).id as string

  let account = await person.request({ method: 'GET', url: '/account?done=passkey-added' })
  t.match(account.body, /Your passkey is added/)
  t.match(account.body, /<strong>Passkey<\/strong>/)
  t.match(account.body, /This device only/)
  t.match(account.body, /last used never/)
  t.match(account.body, /Add a passkey/)

  const renamed = await person.submit('/account/passkeys/rename', { csrf, id, name: 'Laptop' })
  t.equal(renamed.statusCode, 303)
  account = await person.request({ method: 'GET', url: '/account' })
  t.match(account.body, /<strong>Laptop<\/strong>/)

  // Signing in from the start page's script: cookies set, no address typed.
  const stranger = browser(app)
  const start = await stranger.request({ method: 'GET', url: '/' })
  const request = json(await app.inject({ method: 'POST', url: '/auth/passkeys/login/options', payload: {} }))
  const signIn = await postJson(stranger, '/signin/passkey', { csrf: csrfOf(start.body), credential: authenticator.assert(request) })
  t.equal(signIn.statusCode, 200, signIn.body)
  t.same(json(signIn), { redirect: '/account' })
  t.ok(stranger.jar.has('lk_at'), 'signed in with cookies')
  t.match((await stranger.request({ method: 'GET', url: '/account' })).body, new RegExp(email.replace(/[.@]/g, (c) => `\\${c}`).replace('@', '@(<wbr>)?')))

  // An old sign-in: deleting sends the browser to confirm first (nothing deleted).
  offset = 601_000
  t.teardown(() => { offset = 0 })
  const tooOld = await person.submit('/account/passkeys/delete', { csrf, id })
  t.equal(tooOld.statusCode, 303)
  t.equal(tooOld.headers.location, '/account/reauthenticate?next=passkeys')
  t.equal(await app.mongo.models.Passkey.countDocuments({ credentialId: id }), 1, 'not deleted')
  const reauthPage = await person.request({ method: 'GET', url: '/account/reauthenticate?next=passkeys' })
  t.match(reauthPage.body, /Confirm it&#39;s you|Confirm it's you/)
  t.match(reauthPage.body, /Confirm with a passkey/)

  const sent = await person.submit('/account/reauthenticate/code', { csrf, next: 'passkeys' })
  t.equal(sent.statusCode, 303)
  const code = codeFrom(await stack.smtp.waitForMail(email, { count: stack.smtp.inbox(email).length || 1 }))
  const wrong = await person.submit('/account/reauthenticate', { csrf, next: 'passkeys', code: code === '000000' ? '111111' : '000000' })
  t.equal(wrong.statusCode, 401)
  const confirmed = await person.submit('/account/reauthenticate', { csrf, next: 'passkeys', code })
  t.equal(confirmed.statusCode, 303)
  t.equal(confirmed.headers.location, '/account#passkeys')
  t.equal(decodeJwt(person.jar.get('lk_at')!).sid, decodeJwt(session.accessToken).sid, 'the same session, renewed')

  const deleted = await person.submit('/account/passkeys/delete', { csrf, id })
  t.equal(deleted.headers.location, '/account?done=passkey-deleted#passkeys')
  t.equal(await app.mongo.models.Passkey.countDocuments({ credentialId: id }), 0)

  const refused = await postJson(stranger, '/signin/passkey', { csrf: csrfOf(start.body), credential: authenticator.assert(json(await app.inject({ method: 'POST', url: '/auth/passkeys/login/options', payload: {} }))) })
  t.equal(refused.statusCode, 401)
  t.equal(json(refused).unknownCredential, true, 'the page is told to signal the browser')
})

t.test('the account page\'s delete needs a recent sign-in; a passkey confirms it', async (t) => {
  const { person, csrf, session } = await signedInBrowser()
  const authenticator = device()
  const options = json(await postJson(person, '/account/passkeys/options', { csrf }))
  t.equal((await postJson(person, '/account/passkeys', { csrf, credential: authenticator.register(options) })).statusCode, 201)
  offset = 601_000
  t.teardown(() => { offset = 0 })

  const confirm = await person.request({ method: 'GET', url: '/account/delete' })
  t.equal(confirm.statusCode, 303)
  t.equal(confirm.headers.location, '/account/reauthenticate?next=delete')
  const forced = await person.submit('/account/delete', { csrf, confirm: 'delete' })
  t.equal(forced.headers.location, '/account/reauthenticate?next=delete', 'posting the form directly does not skip it')
  t.equal((await app.inject({ method: 'GET', url: '/auth/me', headers: bearer(session.accessToken) })).statusCode, 200, 'not deleted')

  const request = json(await app.inject({ method: 'POST', url: '/auth/passkeys/login/options', payload: {} }))
  const reauth = await postJson(person, '/account/reauthenticate/passkey', { csrf, credential: authenticator.assert(request) })
  t.equal(reauth.statusCode, 200, reauth.body)
  t.equal((await person.request({ method: 'GET', url: '/account/delete' })).statusCode, 200, 'now the confirmation page')
  const gone = await person.submit('/account/delete', { csrf, confirm: 'delete' })
  t.equal(gone.headers.location, '/?signed-out=deleted')
  t.equal(await app.mongo.models.Passkey.countDocuments({ userId: session.user.id }), 0, 'its passkeys went with it')
})
