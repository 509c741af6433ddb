/**
 * Cross-device sign-in in a real browser (Debian's Chromium through playwright-core): a desktop
 * context asks on the start page, a phone context opens the link from the delivered email and picks
 * the number, and the desktop lands on its account page by itself (Server-Sent Events, or the
 * no-JavaScript refresh). Two app instances share Redis and MongoDB: the desktop talks to one, the
 * phone to the other. Screenshots go to test-artifacts/browser/xd-*.png.
 */
import { join } from 'node:path'
import type { ParsedMail } from 'mailparser'
import { devices, type Browser, type BrowserContext, type Page } from 'playwright-core'
import t, { type Test } from 'tap'
import { bearer, signUp, startStack, testConfig, uniqueEmail } from '../helper.js'
import { serveInstance } from '../cross-device.js'
import { freePort } from '../stack/ports.js'
import { artifacts, audit, launchChromium } from './chromium.js'

// Four scenarios, two browser profiles each, key pages audited three times.
t.setTimeout(240_000)
const stack = await startStack(t)

/**
 * Two instances of the app on real ports sharing Redis, MongoDB and the secret. APP_URL is the
 * phone's instance, so the emailed link itself opens there; the desktop talks to the other one.
 */
async function servePair (overrides: Record<string, string> = {}) {
  const port = await freePort()
  const config = testConfig(stack, { APP_URL: `http://127.0.0.1:${port}`, EMAIL_COOLDOWN: '0', ...overrides })
  const phoneSide = await serveInstance(t, config, undefined, { port })
  const desktopSide = await serveInstance(t, config)
  return { desktopSide, phoneSide }
}

const browser = await launchChromium(t)

interface Device { context: BrowserContext, page: Page, shot: (step: string) => Promise<void>, problems: string[] }

/** A browser profile; any console error (a CSP violation, say) other than an expected 410 page is a problem. */
async function device (t: Test, name: string, options: Parameters<Browser['newContext']>[0]): Promise<Device> {
  const context = await browser.newContext(options)
  t.teardown(async () => { await context.close() })
  const page = await context.newPage()
  const problems: string[] = []
  page.on('console', (message) => { if (message.type() === 'error' && !/status of 410 /.test(message.text())) problems.push(message.text()) })
  page.on('pageerror', (error) => problems.push(error.message))
  let step = 0
  const shot = async (label: string): Promise<void> => {
    await page.screenshot({ path: join(artifacts, `xd-${name}-${String(++step).padStart(2, '0')}-${label}.png`), fullPage: true })
  }
  return { context, page, shot, problems }
}

const desktopOptions = { viewport: { width: 1280, height: 800 } }
const { defaultBrowserType: _webkit, ...phoneOptions } = devices['iPhone 13']! // its viewport, touch and user agent, in Chromium

/** The approval link in an email, exactly as a person taps it. */
const approveLinkFrom = (mail: ParsedMail): string => {
  const match = /https?:\/\/\S+\/auth\/magic-link\/approve\?token=[A-Za-z0-9_-]+/.exec(mail.text ?? '')
  if (match === null) throw new Error(`no approval link in: ${mail.text}`)
  return match[0]
}

const heading = async (page: Page): Promise<string> => (await page.locator('h1').textContent()) ?? ''

/** The desktop asks on the start page and reads the number on its waiting page. */
async function askOnDesktop (desktop: Device, origin: string, email: string): Promise<number> {
  await desktop.page.goto(`${origin}/`)
  await desktop.page.getByLabel('Email address').fill(email)
  await desktop.shot('start')
  await Promise.all([
    desktop.page.waitForURL(/\/auth\/magic-link\/requests\/[A-Za-z0-9_-]{22}$/),
    desktop.page.getByRole('button', { name: 'Sign in on this device from my phone' }).click()
  ])
  return Number(await desktop.page.locator('#match-number').textContent())
}

t.test('1. desktop asks, the phone types the number, the desktop lands on its account page by itself', async (t) => {
  const { desktopSide, phoneSide } = await servePair()
  const desktop = await device(t, '1-desktop', desktopOptions)
  const phone = await device(t, '1-phone', phoneOptions)
  const email = uniqueEmail('browser.xd')

  const match = await askOnDesktop(desktop, desktopSide.origin, email)
  t.equal(await heading(desktop.page), 'Approve on your phone')
  t.ok(match >= 0 && match <= 99, `the desktop shows ${match}`)
  t.match(await desktop.page.locator('#match-number').textContent(), /^\d\d$/, 'always two digits')
  // (waitForFunction would evaluate a string: the page's CSP forbids eval, so wait on locators)
  await desktop.page.locator('#countdown').filter({ hasNotText: '15:00' }).waitFor()
  t.match(await desktop.page.locator('#countdown').textContent(), /^14:5\d$/, 'the countdown runs (the script is live)')
  await desktop.shot('waiting')
  await audit(t, desktop.page, 'xd-waiting', desktopOptions.viewport)
  const desktopUrl = desktop.page.url()
  t.equal(await desktop.page.getByRole('link', { name: 'Start again' }).getAttribute('href'), `/?email=${encodeURIComponent(email)}`,
    '"Start again" prefills the address, like every ask-again link')

  // The phone opens the link from the delivered email (on the other instance).
  const link = approveLinkFrom(await stack.smtp.waitForMail(email))
  t.equal(new URL(link).origin, phoneSide.origin, 'the emailed link (APP_URL) opens the other instance')
  await phone.page.goto(link)
  t.equal(await heading(phone.page), 'Create your account on another device?')
  t.match(await phone.page.locator('main').textContent(), /Chrome on Linux, near 127\.0\.0\.x, just now/)
  t.equal(await phone.page.locator('button[name="choice"]').count(), 0, 'no numbers to pick from')
  t.match(await phone.page.locator('#asking').textContent(), /Chrome on Linux, network 127\.0\.0\.x/, 'where the request came from')
  t.match(await phone.page.locator('#approving').textContent(), /, network 127\.0\.0\.x/, 'next to where this device is')
  t.match(await phone.page.locator('main').textContent(), /Both devices are on the same network/)
  await phone.shot('approval')
  await audit(t, phone.page, 'xd-approval-signup', phoneOptions.viewport)
  await phone.page.getByLabel('Your name').fill('Desmond Phone')
  await phone.page.getByLabel('Type the number shown on the device that asked').fill(String(match).padStart(2, '0'))
  await phone.page.getByRole('button', { name: 'Approve', exact: true }).click()
  t.equal(await heading(phone.page), 'Approved')
  t.match(await phone.page.locator('main').textContent(), /Chrome on Linux is signing in now/)
  await phone.shot('approved')
  await audit(t, phone.page, 'xd-approved', phoneOptions.viewport)
  t.notOk((await phone.context.cookies()).some((cookie) => cookie.name === 'lk_at'), 'the phone is not signed in')

  // Nobody touches the desktop: the stream tells its page, which signs in and goes to /account.
  await desktop.page.waitForURL(`${desktopSide.origin}/account`, { timeout: 15_000 })
  t.equal(await heading(desktop.page), 'Your account')
  t.match(await desktop.page.locator('dl').textContent(), /Desmond Phone/)
  await desktop.shot('account')
  const cookies = await desktop.context.cookies()
  const access = cookies.find((cookie) => cookie.name === 'lk_at')
  t.match(access, { httpOnly: true, sameSite: 'Lax' }, 'the session is in HttpOnly cookies')
  t.notOk(cookies.some((cookie) => cookie.name === 'lk_xd'), 'the device cookie is gone')
  t.equal(await desktop.page.evaluate('document.cookie'), '', 'no script-readable cookie at all')
  t.equal((await desktopSide.app.inject({ method: 'GET', url: '/auth/me', headers: bearer(access!.value) })).statusCode, 200)

  await desktop.page.goto(desktopUrl)
  t.equal(await heading(desktop.page), 'This sign-in request has expired', 'the waiting page afterwards: finished')
  await phone.page.goto(link)
  t.equal(await heading(phone.page), 'This request was already answered')
  await phone.shot('answered')
  await audit(t, phone.page, 'xd-answered', phoneOptions.viewport)
  t.same(desktop.problems, [], 'no console errors on the desktop (CSP included)')
  t.same(phone.problems, [], 'no console errors on the phone')
})

t.test('2. a wrong number denies: the phone says so, the desktop shows the denial live', async (t) => {
  const { desktopSide } = await servePair()
  const { user } = await signUp(desktopSide.app, stack, uniqueEmail('browser.xd.wrong'), 'Wanda Wrong')
  const desktop = await device(t, '2-desktop', desktopOptions)
  const phone = await device(t, '2-phone', { ...phoneOptions, colorScheme: 'dark' })

  const match = await askOnDesktop(desktop, desktopSide.origin, user.email)
  await phone.page.goto(approveLinkFrom(await stack.smtp.waitForMail(user.email, { count: 2 })))
  t.equal(await heading(phone.page), 'Sign in on another device?')
  await phone.shot('approval-dark')
  await audit(t, phone.page, 'xd-approval-login', phoneOptions.viewport)
  await phone.page.getByLabel('Type the number shown on the device that asked').fill(String((match + 1) % 100))
  await phone.page.getByRole('button', { name: 'Approve', exact: true }).click()
  t.equal(await heading(phone.page), 'That was not the number')
  await phone.shot('wrong-number')
  await audit(t, phone.page, 'xd-wrong-number', phoneOptions.viewport)

  await desktop.page.locator('h1', { hasText: 'Sign-in denied' }).waitFor({ timeout: 15_000 })
  t.match(await desktop.page.locator('main').textContent(), /was not the one on this screen/)
  await desktop.shot('denied')
  await audit(t, desktop.page, 'xd-denied', desktopOptions.viewport)
  t.notOk((await desktop.context.cookies()).some((cookie) => cookie.name === 'lk_at'), 'nobody signed in')
  t.same(desktop.problems, [])
  t.same(phone.problems, [])
})

t.test('3. an expired request shows its state on both devices', async (t) => {
  const { desktopSide } = await servePair({ MAGIC_LINK_TTL: '3' })
  const desktop = await device(t, '3-desktop', desktopOptions)
  const phone = await device(t, '3-phone', phoneOptions)
  const email = uniqueEmail('browser.xd.expired')
  await askOnDesktop(desktop, desktopSide.origin, email)
  await desktop.shot('waiting')
  await desktop.page.locator('h1', { hasText: 'This sign-in request has expired' }).waitFor({ timeout: 15_000 })
  await desktop.shot('expired')
  await audit(t, desktop.page, 'xd-expired', desktopOptions.viewport)
  await desktop.page.getByRole('link', { name: 'Start again' }).click()
  t.equal(await heading(desktop.page), 'Sign in or create an account')

  const response = await phone.page.goto(approveLinkFrom(await stack.smtp.waitForMail(email)))
  t.equal(response?.status(), 410)
  t.equal(await heading(phone.page), 'This link no longer works')
  await phone.shot('expired-link')
  t.same(desktop.problems, [])
})

t.test('4. without JavaScript the waiting page refreshes itself and still lands signed in', async (t) => {
  const { desktopSide, phoneSide } = await servePair()
  const { user } = await signUp(desktopSide.app, stack, uniqueEmail('browser.xd.nojs'), 'Nora Script')
  const desktop = await device(t, '4-desktop-nojs', { ...desktopOptions, javaScriptEnabled: false })
  const phone = await device(t, '4-phone', phoneOptions)
  const match = await askOnDesktop(desktop, desktopSide.origin, user.email)
  t.equal(await desktop.page.locator('#countdown').textContent(), '15:00', 'the server-rendered countdown')
  await desktop.shot('waiting-nojs')

  await phone.page.goto(approveLinkFrom(await stack.smtp.waitForMail(user.email, { count: 2 })))
  await phone.page.getByLabel('Also sign me in on this device').check()
  await phone.page.getByLabel('Type the number shown on the device that asked').fill(String(match))
  await Promise.all([phone.page.waitForURL(`${phoneSide.origin}/account`), phone.page.getByRole('button', { name: 'Approve', exact: true }).click()])
  t.equal(await heading(phone.page), 'Your account', 'the phone asked to be signed in too')
  await phone.shot('phone-account')

  await desktop.page.waitForURL(`${desktopSide.origin}/account`, { timeout: 20_000 })
  t.equal(await heading(desktop.page), 'Your account', 'the <noscript> refresh picked up the approval')
  await desktop.shot('account-nojs')
})
