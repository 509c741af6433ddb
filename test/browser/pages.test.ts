/**
 * The built-in pages in a real browser (Debian's Chromium, driven by playwright-core), against the
 * real app listening on a real port, with real Redis, FerretDB and the SMTP sink. Links and codes
 * are read from the delivered emails, as a person would. Screenshots of every step go to
 * test-artifacts/browser/ (gitignored).
 */
import { execFileSync } from 'node:child_process'
import { mkdirSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { FastifyInstance } from 'fastify'
import { chromium, type BrowserContext, type Page } from 'playwright-core'
import t, { type Test } from 'tap'
import { bearer, buildApp, codeFrom, linkFrom, startStack, uniqueEmail } from '../helper.js'
import { freePort } from '../stack/ports.js'

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
const artifacts = join(root, 'test-artifacts', 'browser')
mkdirSync(artifacts, { recursive: true })

// A fresh clone's `npm test` installs the browser here (apt, as root), once.
const executablePath = execFileSync(join(root, 'scripts', 'ensure-chromium.sh'), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim()

const started = performance.now()
const stack = await startStack(t)

/** The real app on a real port; APP_URL is that address, so the emailed links open it. */
async function serve (overrides: Record<string, string> = {}): Promise<{ app: FastifyInstance, origin: string }> {
  const port = await freePort()
  const origin = `http://127.0.0.1:${port}`
  const app = await buildApp(t, stack, { APP_URL: origin, EMAIL_COOLDOWN: '0', ...overrides })
  await app.listen({ port, host: '127.0.0.1' })
  return { app, origin }
}

const { app, origin } = await serve()

const browser = await chromium.launch({
  executablePath,
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run', '--disable-sync', '--disable-quic']
})
t.teardown(async () => {
  await browser.close()
  t.comment(`browser tests took ${Math.round(performance.now() - started)} ms`)
})

/** A fresh browser profile per scenario; any console error (a CSP violation, say) fails the test. */
async function person (t: Test, scenario: string): Promise<{ context: BrowserContext, page: Page, shot: (step: string) => Promise<void>, problems: string[] }> {
  const context = await browser.newContext({ viewport: { width: 900, height: 720 } })
  t.teardown(async () => { await context.close() })
  const page = await context.newPage()
  const problems: string[] = []
  // A wrong code (401) and the expiry page (410) are error statuses on purpose; anything else is a problem.
  page.on('console', (message) => { if (message.type() === 'error' && !/status of (401|410) /.test(message.text())) problems.push(message.text()) })
  page.on('pageerror', (error) => problems.push(error.message))
  let step = 0
  const shot = async (name: string): Promise<void> => {
    await page.screenshot({ path: join(artifacts, `${scenario}-${String(++step).padStart(2, '0')}-${name}.png`), fullPage: true })
  }
  return { context, page, shot, problems }
}

const heading = async (page: Page): Promise<string> => (await page.locator('h1').textContent()) ?? ''

async function accessCookie (context: BrowserContext): Promise<string> {
  const cookie = (await context.cookies(origin)).find((entry) => entry.name === 'lk_at')
  if (cookie === undefined) throw new Error('no access cookie')
  return cookie.value
}

/** Signed in on /account; reload keeps the session; Log out ends it and the old token is refused. */
async function accountThenLogout (t: Test, context: BrowserContext, page: Page, shot: (step: string) => Promise<void>, name: string): Promise<void> {
  t.equal(new URL(page.url()).pathname, '/account', 'lands on the account page')
  t.equal(await heading(page), 'You are signed in')
  t.match(await page.locator('dl').textContent(), name)
  await shot('account')
  const cookies = await context.cookies(origin)
  t.match(cookies.find((cookie) => cookie.name === 'lk_at'), { httpOnly: true, sameSite: 'Lax' }, 'the access token is in an HttpOnly cookie')
  t.equal(await page.evaluate('document.cookie'), '', 'scripts see no cookie at all')

  await page.reload()
  t.equal(await heading(page), 'You are signed in', 'still signed in after a reload')
  await shot('account-reloaded')

  const accessToken = await accessCookie(context)
  t.equal((await app.inject({ method: 'GET', url: '/auth/me', headers: bearer(accessToken) })).statusCode, 200, 'the cookie token works before logout')
  await Promise.all([page.waitForURL(`${origin}/?signed-out=1`), page.getByRole('button', { name: 'Log out' }).click()])
  t.match(await page.locator('[role=status]').textContent(), /You are signed out/)
  await shot('signed-out')
  t.notOk((await context.cookies(origin)).some((cookie) => cookie.name === 'lk_at'), 'the session cookies are gone')
  const me = await fetch(`${origin}/auth/me`, { headers: bearer(accessToken) })
  t.equal(me.status, 401, 'the old access token is refused')
  t.equal(((await me.json()) as { code: string }).code, 'TOKEN_REVOKED')
  await page.goto(`${origin}/account`)
  t.equal(new URL(page.url()).pathname, '/', 'the account page sends a signed-out visitor to the start page')
}

t.test('1. magic link: start page → email → link → signup form → account → reload → logout', async (t) => {
  const { context, page, shot, problems } = await person(t, '1-magic-link')
  const email = uniqueEmail('browser.link')

  await page.goto(`${origin}/`)
  t.equal(await heading(page), 'Sign in or create an account')
  t.equal(await page.evaluate('getComputedStyle(document.querySelector("main")).maxWidth'), '448px', 'the stylesheet applies (CSP allows it)')
  await shot('start')
  await page.getByLabel('Email address').fill(email)
  await shot('start-filled')
  await page.getByRole('button', { name: 'Email me a link' }).click()
  t.equal(await heading(page), 'Check your inbox')
  t.match(await page.locator('main').textContent(), email)
  await shot('check-inbox')

  const link = linkFrom(await stack.smtp.waitForMail(email))
  t.equal(link.origin, origin, 'the emailed link points at APP_URL')
  await page.goto(link.href)
  t.equal(await heading(page), 'Create your account')
  await shot('signup-form')
  await page.getByLabel('Your name').fill('Grace Hopper')
  await page.getByLabel(/Password/).fill('a long enough passphrase')
  await Promise.all([page.waitForURL(`${origin}/account`), page.getByRole('button', { name: 'Create account' }).click()])
  await accountThenLogout(t, context, page, shot, 'Grace Hopper')

  await page.goto(link.href)
  t.equal(await heading(page), 'This link no longer works', 'the link worked once')
  t.same(problems, [], 'no console errors (CSP violations included)')
})

t.test('2. email code: start page → email → code page → account → reload → logout', { skip: !('otp' in app) && 'the OTP service (fastify.otp) is not on this branch yet' }, async (t) => {
  const { context, page, shot, problems } = await person(t, '2-code')
  const email = uniqueEmail('browser.code')

  await page.goto(`${origin}/`)
  await page.getByLabel('Email address').fill(email)
  await Promise.all([page.waitForURL(/\/code\?email=/), page.getByRole('button', { name: 'Email me a code' }).click()])
  t.equal(await heading(page), 'Enter your code')
  await shot('code-page')
  const code = codeFrom(await stack.smtp.waitForMail(email))

  const wrong = code === '000000' ? '111111' : '000000'
  await page.getByLabel('Code').fill(wrong)
  await page.getByRole('button', { name: 'Sign in' }).click()
  t.match(await page.locator('[role=alert]').textContent(), /not correct\. \d+ attempts? left/, 'a wrong code says how many tries are left')
  await shot('code-wrong')

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
  t.equal(await heading(page), 'You are signed in')
  t.match(await page.locator('dl').textContent(), 'Scanned Person')
  await shot('account')
  t.ok(await accessCookie(context))
  t.same(problems, [], 'no console errors (CSP violations included)')
})

t.test('4. an expired link shows the expiry page with a way to ask for a new one', async (t) => {
  const short = await serve({ MAGIC_LINK_TTL: '1' })
  const context = await browser.newContext({ viewport: { width: 900, height: 720 } })
  t.teardown(async () => { await context.close() })
  const page = await context.newPage()
  const email = uniqueEmail('browser.expired')

  await page.goto(`${short.origin}/`)
  await page.getByLabel('Email address').fill(email)
  await page.getByRole('button', { name: 'Email me a link' }).click()
  const link = linkFrom(await stack.smtp.waitForMail(email))
  await new Promise((resolve) => setTimeout(resolve, 1_500))

  const response = await page.goto(link.href)
  t.equal(response?.status(), 410)
  t.equal(await heading(page), 'This link no longer works')
  await page.screenshot({ path: join(artifacts, '4-expired-01-expired.png'), fullPage: true })
  await page.getByRole('link', { name: 'Request a new link or code' }).click()
  t.equal(await heading(page), 'Sign in or create an account', 'the way out leads to the start page')

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

t.test('5. development: the dev inbox shows the mail and its link opens the signup page; /docs renders under its CSP', async (t) => {
  const dev = await serve({ NODE_ENV: 'development', SMTP_URL: '' })
  const { page, shot, problems } = await person(t, '5-dev')
  const email = uniqueEmail('browser.dev')

  await page.goto(`${dev.origin}/`)
  await page.getByLabel('Email address').fill(email)
  await page.getByRole('button', { name: 'Email me a link' }).click()
  await page.goto(`${dev.origin}/dev/inbox`)
  t.equal(await heading(page), 'Dev inbox')
  t.match(await page.locator('article').first().textContent(), email)
  await shot('inbox')
  await page.locator('article').first().getByRole('link').click()
  t.equal(await heading(page), 'Create your account', 'the captured link opens the signup page')
  t.equal(stack.smtp.inbox(email).length, 0, 'nothing went over SMTP')

  await page.goto(`${dev.origin}/docs`)
  await page.locator('.swagger-ui .info .title').waitFor({ timeout: 10_000 })
  t.match(await page.locator('.swagger-ui .info .title').textContent(), /Latchkey/, 'Swagger UI renders the document')
  t.ok(await page.locator('.opblock-tag-section').count() >= 5, 'operations grouped by tag')
  await shot('docs')
  t.same(problems, [], 'no console errors: the docs CSP lets Swagger UI run without inline scripts')
})
