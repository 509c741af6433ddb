/**
 * The cross-device pages over HTTP: the start page's button, the waiting page (live and without
 * JavaScript), the approval page's forms, and the outcomes on both devices.
 */
import t from 'tap'
import { buildApp, startStack, testConfig, uniqueEmail } from '../../helper.js'
import { browser, csrfOf } from './page-client.js'
import { approvalTokenFrom, asksToTypeNumber, openEvents, serveInstance, wrongNumber } from '../../cross-device.js'

const stack = await startStack(t)

/** The number on the waiting page: always two digits, 00 to 99 (MATCH_NUMBERS). */
const matchOf = (html: string): number => Number(/class="match"[^>]*>(\d{2})</.exec(html)?.[1])

/** The desktop asks through the start page; returns its jar, the request id and the waiting page. */
async function startOnDesktop (app: Parameters<typeof browser>[0], email: string) {
  const desktop = browser(app)
  const start = await desktop.request({ method: 'GET', url: '/' })
  const asked = await desktop.submit('/auth/magic-link/requests', { csrf: csrfOf(start.body), email })
  const requestId = /^\/auth\/magic-link\/requests\/([A-Za-z0-9_-]{22})$/.exec(asked.headers.location as string)?.[1]
  if (asked.statusCode !== 303 || requestId === undefined) throw new Error(`start failed: ${asked.statusCode} ${asked.body}`)
  const waiting = await desktop.request({ method: 'GET', url: asked.headers.location as string })
  return { desktop, asked, requestId, waiting }
}

async function openOnPhone (app: Parameters<typeof browser>[0], email: string, count = 1) {
  const token = approvalTokenFrom(await stack.smtp.waitForMail(email, { count }))
  const phone = browser(app)
  const page = await phone.request({ method: 'GET', url: `/auth/magic-link/approve?token=${token}` })
  return { phone, token, page, csrf: csrfOf(page.body) }
}

t.test('the start page offers "Sign in on this device from my phone"; its form keeps the device secret in a path-scoped HttpOnly cookie', async (t) => {
  const app = await buildApp(t, stack)
  const home = await app.inject({ method: 'GET', url: '/' })
  t.match(home.body, /<button type="submit" formaction="\/auth\/magic-link\/requests" class="secondary">Sign in on this device from my phone<\/button>/)

  const person = browser(app)
  const start = await person.request({ method: 'GET', url: '/' })
  const forged = await person.submit('/auth/magic-link/requests', { email: uniqueEmail() })
  t.equal(forged.statusCode, 403, 'no CSRF token → 403')
  const invalid = await person.submit('/auth/magic-link/requests', { csrf: csrfOf(start.body), email: 'not-an-address' })
  t.equal(invalid.statusCode, 400)
  t.match(invalid.body, /Enter one email address/)

  const email = uniqueEmail('xd.pages.start')
  const asked = await person.submit('/auth/magic-link/requests', { csrf: csrfOf(start.body), email })
  t.equal(asked.statusCode, 303)
  const path = asked.headers.location as string
  t.match(path, /^\/auth\/magic-link\/requests\/[A-Za-z0-9_-]{22}$/, 'to the waiting page; the URL carries the request id only')
  const cookie = asked.cookies.find((entry) => entry.name === 'lk_xd')
  t.match(cookie, { path, httpOnly: true, sameSite: 'Strict', maxAge: 900 }, 'HttpOnly, SameSite=Strict, only for this request, as long as the link')
  t.match(cookie?.value, /^[A-Za-z0-9_-]{43}$/)
  t.notOk(asked.body.includes(cookie!.value))
  const mail = await stack.smtp.waitForMail(email)
  t.notOk(`${mail.text}${mail.html}`.includes(cookie!.value), 'the device secret is not in the email')

  const cooling = await person.submit('/auth/magic-link/requests', { csrf: csrfOf(start.body), email })
  t.equal(cooling.statusCode, 429, 'the email cooldown: the start page again')
  t.ok(Number(cooling.headers['retry-after']) > 0)
  t.match(cooling.body, /We just emailed this address/)
})

t.test('the waiting page shows the number, works without JavaScript (refresh), and signs this browser in once approved', async (t) => {
  const app = await buildApp(t, stack)
  const email = uniqueEmail('xd.pages.wait')
  const { desktop, requestId, waiting } = await startOnDesktop(app, email)
  t.equal(waiting.statusCode, 200)
  t.equal(waiting.headers['cache-control'], 'no-store')
  const match = matchOf(waiting.body)
  t.ok(Number.isInteger(match) && match >= 0 && match <= 99, `the number to pick, two digits: ${match}`)
  t.match(waiting.body, /<noscript><meta http-equiv="refresh" content="5"><\/noscript>/, 'without JavaScript the page reloads itself')
  t.match(waiting.body, /<script src="\/assets\/cross-device.js" defer><\/script>/, 'with JavaScript it listens to the stream')
  t.match(waiting.body, new RegExp(`data-events="/auth/magic-link/requests/${requestId}/events"`))
  t.match(waiting.body, /role="status"/, 'the status line is announced')
  t.notMatch(waiting.body, /<script>|style=/, 'no inline script or style (strict CSP)')
  t.match(waiting.body, email.replace('@', '@<wbr>'), 'the address (breakable after the @)')

  const script = await app.inject({ method: 'GET', url: '/assets/cross-device.js' })
  t.equal(script.statusCode, 200)
  t.match(script.headers['content-type'], /^text\/javascript/)
  t.match(script.body, /new window\.EventSource/)
  t.notMatch(script.body, /accessToken|refreshToken/, 'the page script never handles tokens')
  const styles = await app.inject({ method: 'GET', url: '/assets/cross-device.css' })
  t.match(styles.headers['content-type'], /^text\/css/)

  const reloaded = await desktop.request({ method: 'GET', url: `/auth/magic-link/requests/${requestId}` })
  t.equal(matchOf(reloaded.body), match, 'a reload (the no-JavaScript refresh) shows the same number')

  const { phone, token, page, csrf } = await openOnPhone(app, email)
  t.match(page.body, /Create your account on another device/)
  await phone.submit('/auth/magic-link/approve', { csrf, token, choice: String(match), name: 'Paige' })

  const done = await desktop.request({ method: 'GET', url: `/auth/magic-link/requests/${requestId}` })
  t.equal(done.statusCode, 303, 'the next load signs in')
  t.equal(done.headers.location, '/account')
  t.ok(desktop.jar.get('lk_at'), 'session cookies set')
  t.notOk(desktop.jar.has('lk_xd'), 'the device cookie is cleared')
  const account = await desktop.request({ method: 'GET', url: '/account' })
  t.equal(account.statusCode, 200)
  t.match(account.body, /Paige/)
  t.notOk(phone.jar.has('lk_at'), 'the phone was not signed in')

  const after = await browser(app).request({ method: 'GET', url: `/auth/magic-link/requests/${requestId}`, headers: { cookie: `lk_xd=${'x'.repeat(43)}` } })
  t.equal(after.statusCode, 410, 'another browser (or a guessed cookie) sees nothing')
  t.match(after.body, /has expired/)
})

t.test('the page stream (cookie) says approved without any token; the page itself claims the session', async (t) => {
  const config = testConfig(stack)
  const a = await serveInstance(t, config, { recheckMs: 3_600_000 })
  const b = await serveInstance(t, config, { recheckMs: 3_600_000 })
  const email = uniqueEmail('xd.pages.sse')
  const { desktop, requestId, waiting } = await startOnDesktop(a.app, email)
  const cookie = `lk_xd=${desktop.jar.get('lk_xd')}`
  const stream = await openEvents(`${a.origin}/auth/magic-link/requests/${requestId}/events`, { cookie })
  t.equal(stream.status, 200)
  t.same(await stream.next(), { event: 'pending', data: { matchNumber: matchOf(waiting.body), expiresIn: 900 } })

  const { phone, token, csrf } = await openOnPhone(b.app, email)
  await phone.submit('/auth/magic-link/approve', { csrf, token, choice: String(matchOf(waiting.body)), name: 'Streamed' })
  t.same(await stream.next(), { event: 'approved', data: { next: `/auth/magic-link/requests/${requestId}` } }, 'no token in a stream a page script reads')
  t.equal(await stream.next(), null)
  const done = await desktop.request({ method: 'GET', url: `/auth/magic-link/requests/${requestId}` })
  t.equal(done.statusCode, 303)
  t.ok(desktop.jar.get('lk_at'))
})

t.test('denial and expiry: the waiting page says so and drops its cookie', async (t) => {
  const app = await buildApp(t, stack)
  const email = uniqueEmail('xd.pages.denied')
  const { desktop, requestId, waiting } = await startOnDesktop(app, email)
  const { phone, token, csrf, page } = await openOnPhone(app, email)
  t.ok(asksToTypeNumber(page.body), 'the approval page asks to type the number')
  const wrong = wrongNumber(matchOf(waiting.body))
  const forged = await phone.submit('/auth/magic-link/approve', { token, decision: 'deny' })
  t.equal(forged.statusCode, 403, 'Deny needs the CSRF token too')
  t.equal((await desktop.request({ method: 'GET', url: `/auth/magic-link/requests/${requestId}` })).statusCode, 200, 'still waiting')

  const picked = await phone.submit('/auth/magic-link/approve', { csrf, token, choice: String(wrong), name: 'Wrong' })
  t.match(picked.body, /That was not the number/)
  const denied = await desktop.request({ method: 'GET', url: `/auth/magic-link/requests/${requestId}` })
  t.equal(denied.statusCode, 200)
  t.match(denied.body, /Sign-in denied/)
  t.match(denied.body, /was not the one on this screen/)
  t.notOk(desktop.jar.has('lk_xd'))
  t.notOk(desktop.jar.has('lk_at'))

  const short = await buildApp(t, stack, { MAGIC_LINK_TTL: '1' })
  const late = await startOnDesktop(short, uniqueEmail('xd.pages.expired'))
  await new Promise((resolve) => setTimeout(resolve, 1_500))
  const expired = await late.desktop.request({ method: 'GET', url: `/auth/magic-link/requests/${late.requestId}` })
  t.equal(expired.statusCode, 410)
  t.match(expired.body, /This sign-in request has expired/)
  t.match(expired.body, /last 1 minute/)
  t.notOk(late.desktop.jar.has('lk_xd'))
})
