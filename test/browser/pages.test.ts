/**
 * The built-in pages in a real browser (Debian's Chromium, driven by playwright-core), against the
 * real app listening on a real port, with real Redis, FerretDB and the SMTP sink. Links and codes
 * are read from the delivered emails, as a person would. Every page is audited with axe-core in
 * light, dark and phone (no serious or critical violation, nothing wider than the screen or the
 * card). Screenshots of every step and every audit go to test-artifacts/browser/ (gitignored).
 */
import { join } from 'node:path'
import type { FastifyInstance } from 'fastify'
import type { BrowserContext, Page } from 'playwright-core'
import t, { type Test } from 'tap'
import { minutes } from '../../services/email/mail-templates.js'
import { bearer, buildApp, codeFrom, linkFrom, startStack, uniqueEmail } from '../helper.js'
import { freePort } from '../stack/ports.js'
import { artifacts, audit, DESKTOP, launchChromium } from './chromium.js'

// Ten scenarios in one browser, each page audited three times: more than the suite's 120 s per file.
t.setTimeout(360_000)
const started = performance.now()
const stack = await startStack(t)

// Lifetimes other than the defaults, so the pages are seen to say the configured ones.
const MAGIC_LINK_TTL = 1200
const OTP_TTL = 420

/** The real app on a real port; APP_URL is that address, so the emailed links open it. */
async function serve (overrides: Record<string, string> = {}): Promise<{ app: FastifyInstance, origin: string }> {
  const port = await freePort()
  const origin = `http://127.0.0.1:${port}`
  const app = await buildApp(t, stack, { APP_URL: origin, EMAIL_COOLDOWN: '0', MAGIC_LINK_TTL: String(MAGIC_LINK_TTL), OTP_TTL: String(OTP_TTL), ...overrides })
  await app.listen({ port, host: '127.0.0.1' })
  return { app, origin }
}

const { app, origin } = await serve()

const browser = await launchChromium(t)
t.teardown(() => { t.comment(`browser tests took ${Math.round(performance.now() - started)} ms`) })

/** A fresh browser profile per scenario; any console error (a CSP violation, say) fails the test. */
async function person (t: Test, scenario: string): Promise<{ context: BrowserContext, page: Page, shot: (step: string) => Promise<void>, problems: string[] }> {
  const context = await browser.newContext({ viewport: DESKTOP })
  t.teardown(async () => { await context.close() })
  const page = await context.newPage()
  const problems: string[] = []
  // Refusals (400 a form in error, 401 a wrong code, 404 an unknown page, 410 a dead link, 429 a
  // lock) are error statuses on purpose; anything else is a problem.
  page.on('console', (message) => { if (message.type() === 'error' && !/status of (400|401|404|409|410|429) /.test(message.text())) problems.push(message.text()) })
  page.on('pageerror', (error) => problems.push(error.message))
  let step = 0
  const shot = async (name: string): Promise<void> => {
    await page.screenshot({ path: join(artifacts, `${scenario}-${String(++step).padStart(2, '0')}-${name}.png`), fullPage: true })
  }
  return { context, page, shot, problems }
}

const heading = async (page: Page): Promise<string> => (await page.locator('h1').textContent()) ?? ''
const focused = async (page: Page): Promise<string> => await page.evaluate('document.activeElement.id') as string

async function accessCookie (context: BrowserContext): Promise<string> {
  const cookie = (await context.cookies(origin)).find((entry) => entry.name === 'lk_at')
  if (cookie === undefined) throw new Error('no access cookie')
  return cookie.value
}

/**
 * A 253-character address (a 64-character local part and 63-character labels; the API takes 254,
 * the SMTP sink, smtp-server, refuses more than 253), unique per call: no break opportunity in it,
 * so only the stylesheet keeps it inside the card.
 */
let longAddresses = 0
function longEmail (): string {
  const local = `long${process.pid}x${++longAddresses}x`.padEnd(64, 'l')
  const email = `${local}@${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(52)}.example`
  if (email.length !== 253) throw new Error(`long address is ${email.length} characters`)
  return email
}

/** Start page → "Email me a code" → the code page; the code from the email (the `count`-th to the address). */
async function askForCode (page: Page, email: string, { at = origin, count = 1 } = {}): Promise<string> {
  await page.goto(`${at}/`)
  await page.getByLabel('Email address').fill(email)
  await Promise.all([page.waitForURL(/\/code\?email=/), page.getByRole('button', { name: 'Email me a code' }).click()])
  return codeFrom(await stack.smtp.waitForMail(email, { count }))
}

/** A new account signed in through the code page, landing on /account. */
async function signInWithCode (page: Page, email: string, name?: string): Promise<void> {
  await page.getByLabel('Code').fill(await askForCode(page, email))
  if (name !== undefined) await page.getByLabel(/Your name/).fill(name)
  await Promise.all([page.waitForURL(`${origin}/account`), page.getByRole('button', { name: 'Sign in' }).click()])
}

/** Signed in on /account; reload keeps the session; Log out ends it and the old token is refused. */
async function accountThenLogout (t: Test, context: BrowserContext, page: Page, shot: (step: string) => Promise<void>, name: string): Promise<void> {
  t.equal(new URL(page.url()).pathname, '/account', 'lands on the account page')
  t.equal(await heading(page), 'Your account')
  t.match(await page.locator('dl').textContent(), name)
  await shot('account')
  const cookies = await context.cookies(origin)
  t.match(cookies.find((cookie) => cookie.name === 'lk_at'), { httpOnly: true, sameSite: 'Lax' }, 'the access token is in an HttpOnly cookie')
  t.equal(await page.evaluate('document.cookie'), '', 'scripts see no cookie at all')

  await page.reload()
  t.equal(await heading(page), 'Your account', 'still signed in after a reload')
  await shot('account-reloaded')

  const accessToken = await accessCookie(context)
  t.equal((await app.inject({ method: 'GET', url: '/auth/me', headers: bearer(accessToken) })).statusCode, 200, 'the cookie token works before logout')
  await Promise.all([page.waitForURL(`${origin}/?signed-out=1`), page.getByRole('button', { name: 'Log out', exact: true }).click()])
  t.match(await page.locator('[role=status]').textContent(), /You are signed out/)
  await shot('signed-out')
  t.notOk((await context.cookies(origin)).some((cookie) => cookie.name === 'lk_at'), 'the session cookies are gone')
  const me = await fetch(`${origin}/auth/me`, { headers: bearer(accessToken) })
  t.equal(me.status, 401, 'the old access token is refused')
  t.equal(((await me.json()) as { code: string }).code, 'TOKEN_REVOKED')
  await page.goto(`${origin}/account`)
  t.equal(new URL(page.url()).pathname, '/', 'the account page sends a signed-out visitor to the start page')
}

t.test('1. magic link with a 253-character address: start → inbox → signup → account → logout; focus, lifetimes, axe', async (t) => {
  const { context, page, shot, problems } = await person(t, '1-magic-link')
  const email = longEmail()

  await page.goto(`${origin}/`)
  t.equal(await heading(page), 'Sign in or create an account')
  t.equal(await page.evaluate('getComputedStyle(document.querySelector("main")).maxWidth'), '448px', 'the stylesheet applies (CSP allows it)')
  t.equal(await focused(page), 'email', 'the email field has the focus')
  await audit(t, page, 'start')
  await shot('start')

  await page.getByLabel('Email address').fill('ada@example') // the browser's own check lets it through; ours does not
  await page.getByRole('button', { name: 'Email me a link' }).click()
  t.equal(await focused(page), 'email', 'after a bad address the focus is back in the email field')
  t.equal(await page.getAttribute('#email', 'aria-invalid'), 'true', 'marked invalid')
  t.equal(await page.getAttribute('#email', 'aria-describedby'), 'form-error', 'described by the message')
  await audit(t, page, 'start-error')

  // The field has the focus: typing goes straight into it.
  await page.getByLabel('Email address').fill('')
  await page.keyboard.type(email)
  await page.getByRole('button', { name: 'Email me a link' }).click()
  t.equal(await heading(page), 'Check your inbox')
  t.match(await page.locator('main').textContent(), email)
  await audit(t, page, 'check-inbox')
  await shot('check-inbox')
  const lifetime = minutes(MAGIC_LINK_TTL)
  const mail = await stack.smtp.waitForMail(email)
  t.match(mail.text, `expires in ${lifetime}`, 'the email says the configured lifetime')
  t.match(await page.locator('main').textContent(), `expires in ${lifetime}`, 'and the page says the same')
  t.equal(await page.getByRole('link', { name: 'ask again' }).getAttribute('href'), `/?email=${encodeURIComponent(email)}`, '"ask again" keeps the address')

  const link = linkFrom(mail)
  t.equal(link.origin, origin, 'the emailed link points at APP_URL')
  await page.goto(link.href)
  t.equal(await heading(page), 'Create your account')
  t.equal(await focused(page), 'name', 'the name field has the focus')
  await audit(t, page, 'signup')
  await shot('signup-form')
  await page.getByLabel('Your name').fill('Grace Hopper')
  // A browser that does not check minlength itself (the server is the judge either way).
  await page.evaluate('document.getElementById("password").removeAttribute("minlength")')
  await page.getByLabel(/Password/).fill('short')
  await page.getByRole('button', { name: 'Create account' }).click()
  t.match(await page.locator('[role=alert]').textContent(), /8 to 128 characters/)
  t.equal(await focused(page), 'password', 'a wrong password moves the focus to the password field')
  t.equal(await page.getAttribute('#password', 'aria-invalid'), 'true')
  t.equal(await page.getAttribute('#name', 'aria-invalid'), null, 'the name is not marked')
  await audit(t, page, 'signup-error')
  await page.getByLabel(/Password/).fill('a long enough passphrase')
  await Promise.all([page.waitForURL(`${origin}/account`), page.getByRole('button', { name: 'Create account' }).click()])
  await audit(t, page, 'account')
  await accountThenLogout(t, context, page, shot, 'Grace Hopper')

  await page.goto(link.href)
  t.equal(await heading(page), 'This link no longer works', 'the link worked once')
  t.match(await page.locator('main').textContent(), `expire ${lifetime} after they are sent`, 'the dead-link page says the configured lifetime')
  await audit(t, page, 'link-expired')
  t.same(problems, [], 'no console errors (CSP violations included)')
})

t.test('2. email code: start → code page → wrong code → account → logout; focus, lifetime, axe', async (t) => {
  const { context, page, shot, problems } = await person(t, '2-code')
  const email = uniqueEmail('browser.code')

  await page.goto(`${origin}/`)
  await page.getByLabel('Email address').fill(email)
  await Promise.all([page.waitForURL(/\/code\?email=/), page.getByRole('button', { name: 'Email me a code' }).click()])
  t.equal(await heading(page), 'Enter your code')
  t.equal(await focused(page), 'code', 'the code field has the focus')
  await audit(t, page, 'code')
  await shot('code-page')
  const mail = await stack.smtp.waitForMail(email)
  t.match(mail.text, `expires in ${minutes(OTP_TTL)}`, 'the email says the configured lifetime')
  t.match(await page.locator('main').textContent(), `expires ${minutes(OTP_TTL)} after it was sent`, 'and the page says the same')
  const code = codeFrom(mail)

  const wrong = code === '000000' ? '111111' : '000000'
  await page.keyboard.type(wrong)
  await page.getByRole('button', { name: 'Sign in' }).click()
  t.match(await page.locator('[role=alert]').textContent(), /not correct\. \d+ attempts? left/, 'a wrong code says how many tries are left')
  t.equal(await focused(page), 'code', 'the focus is back in the code field')
  t.equal(await page.getAttribute('#code', 'aria-invalid'), 'true')
  await audit(t, page, 'code-wrong')
  await shot('code-wrong')

  await page.getByLabel('Code').fill(code)
  await page.evaluate('document.getElementById("name").removeAttribute("maxlength")')
  await page.getByLabel(/Your name/).fill('n'.repeat(101))
  await page.getByRole('button', { name: 'Sign in' }).click()
  t.equal(await focused(page), 'name', 'a bad name moves the focus to the name field')
  t.equal(await page.getAttribute('#name', 'aria-invalid'), 'true')

  await page.getByLabel('Code').fill(code)
  await page.getByLabel(/Your name/).fill('Katherine Johnson')
  await Promise.all([page.waitForURL(`${origin}/account`), page.getByRole('button', { name: 'Sign in' }).click()])
  await accountThenLogout(t, context, page, shot, 'Katherine Johnson')
  t.same(problems, [], 'no console errors (CSP violations included)')
})

t.test('3. a mail scanner GET/HEAD does not consume the link; the click afterwards works', async (t) => {
  const { context, page, shot, problems } = await person(t, '3-scanner')
  const email = uniqueEmail('browser.scanner')
  await page.goto(`${origin}/`)
  await page.getByLabel('Email address').fill(email)
  await page.getByRole('button', { name: 'Email me a link' }).click()
  const link = linkFrom(await stack.smtp.waitForMail(email))

  const head = await fetch(link, { method: 'HEAD' })
  t.equal(head.status, 200, 'HEAD answers')
  const scanned = await fetch(link, { headers: { 'user-agent': 'SafeLinks-Scanner/1.0' } })
  t.equal(scanned.status, 200, 'a plain GET answers')
  t.equal(scanned.headers.get('cache-control'), 'no-store')
  t.equal(scanned.headers.get('referrer-policy'), 'no-referrer')
  const htmlScan = await fetch(link, { headers: { accept: 'text/html' } })
  t.match(await htmlScan.text(), /Create your account/, 'a scanner that asks for HTML gets the form, nothing more')

  // The person clicks the link in a webmail on another site: a cross-site navigation, so the
  // SameSite=Strict CSRF cookie from the start page is not sent and the page sets a fresh one.
  const csrfBefore = (await context.cookies(origin)).find((cookie) => cookie.name === 'lk_csrf')?.value
  t.ok(csrfBefore, 'the start page set the CSRF cookie')
  await page.goto('about:blank')
  await page.setContent(`<p>Your webmail</p><a href="${link.href}">Finish signing up</a>`)
  await Promise.all([page.waitForURL(link.href), page.getByRole('link', { name: 'Finish signing up' }).click()])
  t.equal(await heading(page), 'Create your account', 'the link still works for the person')
  const csrfAfter = (await context.cookies(origin)).find((cookie) => cookie.name === 'lk_csrf')?.value
  t.not(csrfAfter, csrfBefore, 'the cross-site click did not carry the Strict cookie; the page set a new one')
  await shot('signup-form-after-scan')
  await page.getByLabel('Your name').fill('Scanned Person')
  await Promise.all([page.waitForURL(`${origin}/account`), page.getByRole('button', { name: 'Create account' }).click()])
  t.equal(await heading(page), 'Your account')
  t.match(await page.locator('dl').textContent(), 'Scanned Person')
  await shot('account')
  t.ok(await accessCookie(context))
  t.same(problems, [], 'no console errors (CSP violations included)')
})

t.test('4. an expired link shows the expiry page with a way to ask for a new one', async (t) => {
  const short = await serve({ MAGIC_LINK_TTL: '1' })
  const context = await browser.newContext({ viewport: DESKTOP })
  t.teardown(async () => { await context.close() })
  const page = await context.newPage()
  const email = uniqueEmail('browser.expired')

  await page.goto(`${short.origin}/`)
  await page.getByLabel('Email address').fill(email)
  await page.getByRole('button', { name: 'Email me a link' }).click()
  const link = linkFrom(await stack.smtp.waitForMail(email))
  await page.goto(link.href)
  t.equal(await heading(page), 'Create your account', 'the form, opened in time')
  await new Promise((resolve) => setTimeout(resolve, 1_500))

  // The person filled in the form after the link died: the page offers a new one for the same address.
  await page.getByLabel('Your name').fill('Too Late')
  const posted = page.waitForResponse((response) => response.request().method() === 'POST')
  await page.getByRole('button', { name: 'Create account' }).click()
  t.equal((await posted).status(), 410)
  t.equal(await heading(page), 'This link no longer works')
  t.equal(await page.getByRole('link', { name: 'Request a new link or code' }).getAttribute('href'), `/?email=${encodeURIComponent(email)}`, 'the way out keeps the address')
  await page.screenshot({ path: join(artifacts, '4-expired-01-expired.png'), fullPage: true })
  await page.getByRole('link', { name: 'Request a new link or code' }).click()
  t.equal(await heading(page), 'Sign in or create an account', 'the way out leads to the start page')
  t.equal(await page.getByLabel('Email address').inputValue(), email, 'with the address filled in')

  const response = await page.goto(link.href)
  t.equal(response?.status(), 410, 'the link opened from the email is dead too')
  t.equal(await heading(page), 'This link no longer works')

  // A phone in dark mode: the same page must stay readable.
  const phone = await browser.newContext({ viewport: { width: 390, height: 760 }, colorScheme: 'dark' })
  t.teardown(async () => { await phone.close() })
  const small = await phone.newPage()
  await small.goto(link.href)
  t.equal(await heading(small), 'This link no longer works')
  await small.screenshot({ path: join(artifacts, '4-expired-02-phone-dark.png'), fullPage: true })
  await small.goto(`${short.origin}/`)
  await small.screenshot({ path: join(artifacts, '4-expired-03-start-phone-dark.png'), fullPage: true })

  const bogus = await page.goto(`${short.origin}/auth/magic-link/verify?token=not-a-real-token`)
  t.equal(bogus?.status(), 410, 'an invalid token gets the same page')
  t.equal(await heading(page), 'This link no longer works')
})

t.test('5. development: the dev inbox shows the mail (a 253-character address inside the card) and its link opens the signup page; /docs renders under its CSP', async (t) => {
  const dev = await serve({ NODE_ENV: 'development', SMTP_URL: '' })
  const { page, shot, problems } = await person(t, '5-dev')
  const email = longEmail()

  await page.goto(`${dev.origin}/`)
  await page.getByLabel('Email address').fill(email)
  await page.getByRole('button', { name: 'Email me a link' }).click()
  await page.goto(`${dev.origin}/dev/inbox`)
  t.equal(await heading(page), 'Dev inbox')
  t.match(await page.locator('article').first().textContent(), email)
  await audit(t, page, 'dev-inbox')
  await shot('inbox')
  await page.locator('article').first().getByRole('link').click()
  t.equal(await heading(page), 'Create your account', 'the captured link opens the signup page')
  t.equal(stack.smtp.inbox(email).length, 0, 'nothing went over SMTP')

  await page.goto(`${dev.origin}/docs`)
  // Swagger UI's bundle is large: on a loaded machine it took more than 10 s to render once.
  await page.locator('.swagger-ui .info .title').waitFor({ timeout: 30_000 })
  t.match(await page.locator('.swagger-ui .info .title').textContent(), /Latchkey/, 'Swagger UI renders the document')
  t.ok(await page.locator('.opblock-tag-section').count() >= 5, 'operations grouped by tag')
  await shot('docs')
  t.same(problems, [], 'no console errors: the docs CSP lets Swagger UI run without inline scripts')
})

t.test('6. a locked code: the lock page (no code form), the real wait, "send a new code"; the next try says locked', async (t) => {
  const { page, shot, problems } = await person(t, '6-lock')
  const email = longEmail()
  const code = await askForCode(page, email)
  // The code page with a 253-character address: it stays inside the card on every screen.
  await audit(t, page, 'code-long-address')
  const wrong = code === '000000' ? '111111' : '000000'
  for (let attempt = 1; attempt <= 5; attempt++) {
    await page.getByLabel('Code').fill(wrong)
    await page.getByRole('button', { name: 'Sign in' }).click()
    if (attempt < 5) t.match(await page.locator('[role=alert]').textContent(), `${5 - attempt} attempt`)
  }
  t.equal(await heading(page), 'Code locked', 'the fifth wrong code locks it')
  t.equal(await page.locator('svg.lock').count(), 1, 'the lock is shown')
  t.equal(await page.locator('input[name=code]').count(), 0, 'no code form on the lock page')
  t.match(await page.locator('main').textContent(), 'You can send a new code now.', 'the real wait: no email cooldown in this app')
  await audit(t, page, 'code-locked')
  await shot('locked')

  // An old copy of the code form (another tab, or typed again): the right digits now get the lock page, not "expired".
  await page.goto(`${origin}/code?email=${encodeURIComponent(email)}`)
  await page.getByLabel('Code').fill(code)
  await page.getByRole('button', { name: 'Sign in' }).click()
  t.equal(await heading(page), 'Code locked', 'the next try says the code is locked')
  t.notMatch(await page.locator('main').textContent(), /expired|already used/)
  await shot('locked-again')

  await Promise.all([page.waitForURL(/\/code\?email=/), page.getByRole('button', { name: 'Send a new code' }).click()])
  t.equal(await heading(page), 'Enter your code', 'one click sends a new code')
  const fresh = codeFrom(await stack.smtp.waitForMail(email, { count: 2 }))
  // After five wrong codes the failure ceiling backs off (1 s before the next check of this
  // address); a person reading the new email takes longer than that, this test does not.
  await page.waitForTimeout(2_000)
  await page.getByLabel('Code').fill(fresh)
  await Promise.all([page.waitForURL(`${origin}/account`), page.getByRole('button', { name: 'Sign in' }).click()])
  t.equal(await heading(page), 'Your account', 'the new code signs in')
  t.same(problems, [], 'no console errors (CSP violations included)')
})

t.test('7. an address out of guesses: the lock page with the real wait (about an hour) and a link that works now', async (t) => {
  const strict = await serve({ OTP_ADDRESS_BUDGET: '2' })
  const { page, shot, problems } = await person(t, '7-address-lock')
  const email = uniqueEmail('browser.budget')
  const code = await askForCode(page, email, { at: strict.origin })
  const wrong = code === '000000' ? '111111' : '000000'
  await page.getByLabel('Code').fill(wrong)
  await page.getByRole('button', { name: 'Sign in' }).click()
  await page.getByLabel('Code').fill(wrong)
  const answer = page.waitForResponse((response) => response.request().method() === 'POST')
  await page.getByRole('button', { name: 'Sign in' }).click()
  const locked = await answer
  t.equal(locked.status(), 429)
  const retryAfter = Number(locked.headers()['retry-after'])
  t.ok(retryAfter > 3500 && retryAfter <= 3600, `Retry-After is the budget's remaining hour (${retryAfter} s)`)
  t.equal(await heading(page), 'Code locked')
  t.match(await page.locator('main').textContent(), /Codes work again in (1 hour|5\d minutes)/, 'the page says the same wait')
  t.equal(await page.locator('input[name=code]').count(), 0, 'no code form')
  await audit(t, page, 'address-locked')
  await shot('address-locked')

  await page.getByRole('button', { name: 'Email me a link instead' }).click()
  t.equal(await heading(page), 'Check your inbox', 'a link is not limited by wrong codes')
  await page.goto(linkFrom(await stack.smtp.waitForMail(email, { count: 2 })).href)
  t.equal(await heading(page), 'Create your account')
  t.same(problems, [], 'no console errors (CSP violations included)')
})

t.test('8. the account page: sessions (device, IP, last used, this one), sign one out, rename, log out everywhere', async (t) => {
  const { context, page, shot, problems } = await person(t, '8-account')
  const email = uniqueEmail('browser.account')
  await signInWithCode(page, email, 'Mary Jackson')

  // Two more sessions through the API, from a command-line client.
  const apiSession = async (count: number): Promise<{ accessToken: string }> => {
    await fetch(`${origin}/auth/otp`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email }) })
    const code = codeFrom(await stack.smtp.waitForMail(email, { count }))
    const response = await fetch(`${origin}/auth/otp/verify`, { method: 'POST', headers: { 'content-type': 'application/json', 'user-agent': 'curl/8.5.0' }, body: JSON.stringify({ email, code }) })
    return await response.json() as { accessToken: string }
  }
  const cli = await apiSession(2)
  const spare = await apiSession(3)
  await page.reload()
  const items = page.locator('ul.sessions li')
  t.equal(await items.count(), 3, 'three live sessions listed')
  const mine = items.filter({ hasText: 'This device' })
  t.equal(await mine.count(), 1, 'this one is marked')
  t.match(await mine.textContent(), /Chrome on Linux/, 'the device, from the User-Agent')
  t.match(await mine.textContent(), /IP 127\.0\.0\.1/, 'the IP')
  t.match(await mine.textContent(), /last used just now/, 'when it was last used')
  t.equal(await mine.getByRole('button').count(), 0, 'this session ends with Log out, not from the list')
  t.equal(await items.filter({ hasText: 'curl/8.5.0' }).count(), 2, 'an API client shows its own User-Agent')
  await audit(t, page, 'account-sessions')
  await shot('sessions')

  await Promise.all([page.waitForURL(`${origin}/account?done=revoked`), items.filter({ hasText: 'curl/8.5.0' }).first().getByRole('button', { name: 'Sign out this session' }).click()])
  t.match(await page.locator('[role=status]').textContent(), /That session is signed out/)
  t.equal(await items.count(), 2, 'one session fewer')
  const statuses = await Promise.all([cli, spare].map(async (session) => (await fetch(`${origin}/auth/me`, { headers: bearer(session.accessToken) })).status))
  t.same(statuses.sort(), [200, 401], 'exactly the session signed out is refused')
  await shot('revoked')

  // Rename: an empty name is refused with the focus on the field; a good one is saved.
  await page.getByLabel('Name', { exact: true }).fill('   ')
  await page.getByRole('button', { name: 'Save name' }).click()
  t.equal(await focused(page), 'name', 'the name field in error has the focus')
  t.equal(await page.getAttribute('#name', 'aria-invalid'), 'true')
  await audit(t, page, 'account-name-error')
  await page.getByLabel('Name', { exact: true }).fill('Mary W. Jackson')
  await Promise.all([page.waitForURL(`${origin}/account?done=renamed`), page.getByRole('button', { name: 'Save name' }).click()])
  t.match(await page.locator('dl').textContent(), 'Mary W. Jackson')
  t.match(await page.locator('[role=status]').textContent(), /Your name is saved/)
  const ownToken = await accessCookie(context)
  t.equal(((await (await fetch(`${origin}/auth/me`, { headers: bearer(ownToken) })).json()) as { name: string }).name, 'Mary W. Jackson', 'the API sees the new name')
  await shot('renamed')

  await Promise.all([page.waitForURL(`${origin}/?signed-out=everywhere`), page.getByRole('button', { name: 'Log out everywhere' }).click()])
  t.match(await page.locator('[role=status]').textContent(), /signed out on every device/)
  t.notOk((await context.cookies(origin)).some((cookie) => cookie.name === 'lk_at' || cookie.name === 'lk_rt'), 'this browser\'s session cookies are cleared')
  const after = await Promise.all([ownToken, cli.accessToken, spare.accessToken].map(async (token) => (await fetch(`${origin}/auth/me`, { headers: bearer(token) })).status))
  t.same(after, [401, 401, 401], 'every token of the user is refused')
  await audit(t, page, 'start-signed-out')
  await shot('signed-out-everywhere')

  // Back with a login link: the one-click Continue page.
  await page.getByLabel('Email address').fill(email)
  await page.getByRole('button', { name: 'Email me a link' }).click()
  await page.goto(linkFrom(await stack.smtp.waitForMail(email, { count: 4 })).href)
  t.equal(await heading(page), 'Continue signing in')
  await audit(t, page, 'continue')
  await Promise.all([page.waitForURL(`${origin}/account`), page.getByRole('button', { name: 'Continue' }).click()])
  t.match(await page.locator('dl').textContent(), 'Mary W. Jackson', 'signed in again')
  t.same(problems, [], 'no console errors (CSP violations included)')
})

t.test('9. deleting the account takes a confirmation step; then the cookies and the account are gone', async (t) => {
  const { context, page, shot, problems } = await person(t, '9-delete')
  const email = uniqueEmail('browser.delete')
  await signInWithCode(page, email)
  const token = await accessCookie(context)

  await page.getByRole('link', { name: 'Delete account…' }).click()
  t.equal(await heading(page), 'Delete your account?', 'a confirmation page first')
  t.match(await page.locator('main').textContent(), email)
  t.equal(await (await fetch(`${origin}/auth/me`, { headers: bearer(token) })).status, 200, 'nothing deleted yet')
  t.equal(await page.evaluate('document.activeElement.textContent'), 'Keep my account', 'the safe choice has the focus')
  await audit(t, page, 'delete-confirm')
  await shot('confirm')
  await page.getByRole('link', { name: 'Keep my account' }).click()
  t.equal(await heading(page), 'Your account', 'the way back keeps everything')

  await page.getByRole('link', { name: 'Delete account…' }).click()
  await Promise.all([page.waitForURL(`${origin}/?signed-out=deleted`), page.getByRole('button', { name: 'Delete my account' }).click()])
  t.match(await page.locator('[role=status]').textContent(), /Your account has been deleted/)
  t.notOk((await context.cookies(origin)).some((cookie) => cookie.name === 'lk_at' || cookie.name === 'lk_rt'), 'the session cookies are cleared')
  t.equal(await (await fetch(`${origin}/auth/me`, { headers: bearer(token) })).status, 401, 'the token is refused')
  t.equal(await app.mongo.models.User.countDocuments({ email }), 0, 'the account is gone')
  await shot('deleted')
  t.same(problems, [], 'no console errors (CSP violations included)')
})

t.test('10. an unknown URL: an HTML page for the browser, JSON for API clients; the other refusal pages pass axe', async (t) => {
  const { page, shot, problems } = await person(t, '10-refusals')
  const missing = await page.goto(`${origin}/acount?token=secret-looking`)
  t.equal(missing?.status(), 404)
  t.equal(await heading(page), 'Page not found')
  t.match(await page.locator('main').textContent(), '/acount', 'names the path')
  t.notMatch(await page.locator('main').textContent(), 'secret-looking', 'never the query string')
  t.equal(missing?.headers()['cache-control'], 'no-store')
  t.match(missing?.headers()['content-security-policy'], /default-src 'self'/, 'the page CSP')
  await audit(t, page, 'not-found')
  await shot('not-found')
  await page.getByRole('link', { name: 'Go to the start page' }).click()
  t.equal(await heading(page), 'Sign in or create an account')

  const api = await fetch(`${origin}/acount`, { headers: { accept: 'application/json' } })
  t.equal(api.status, 404)
  t.match(await api.json(), { statusCode: 404, code: 'NOT_FOUND' }, 'API clients keep the JSON error')
  t.match(await (await fetch(`${origin}/auth/nothing`)).json(), { code: 'NOT_FOUND' }, 'no Accept header: JSON')

  // A signup link whose address got an account meanwhile (by a code, in another tab): the
  // already-registered page, with a way to sign in for that address.
  const taken = uniqueEmail('browser.taken')
  await page.getByLabel('Email address').fill(taken)
  await page.getByRole('button', { name: 'Email me a link' }).click()
  const signupLink = linkFrom(await stack.smtp.waitForMail(taken))
  await page.goto(signupLink.href)
  t.equal(await heading(page), 'Create your account')
  await fetch(`${origin}/auth/otp`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email: taken }) })
  const code = codeFrom(await stack.smtp.waitForMail(taken, { count: 2 }))
  t.equal((await fetch(`${origin}/auth/otp/verify`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email: taken, code }) })).status, 200)
  await page.getByLabel('Your name').fill('Second Tab')
  await page.getByRole('button', { name: 'Create account' }).click()
  t.equal(await heading(page), 'You already have an account')
  t.equal(await page.getByRole('link', { name: 'Request a sign-in link or code' }).getAttribute('href'), `/?email=${encodeURIComponent(taken)}`, 'the way on keeps the address')
  await audit(t, page, 'email-taken')
  await shot('email-taken')
  await page.goto(`${origin}/`)

  // A form whose CSRF cookie is gone: the expired-form page, the address kept for "Start again".
  const email = uniqueEmail('browser.expired-form')
  await page.getByLabel('Email address').fill(email)
  await page.context().clearCookies()
  await page.getByRole('button', { name: 'Email me a link' }).click()
  t.equal(await heading(page), 'This form has expired')
  t.equal(await page.getByRole('link', { name: 'Start again' }).getAttribute('href'), `/?email=${encodeURIComponent(email)}`)
  await audit(t, page, 'form-expired')
  await shot('form-expired')
  t.same(problems.filter((problem) => !/status of 403 /.test(problem)), [], 'no console errors but the 403 itself')
})
