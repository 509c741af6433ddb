/**
 * Passkeys in a real browser: Debian's Chromium with the DevTools protocol's virtual authenticator
 * (WebAuthn.enable, WebAuthn.addVirtualAuthenticator: CTAP2, internal transport, resident keys, user
 * verification), against the real app on a real port (APP_URL http://localhost:<port>, so the RP id
 * is "localhost", a secure context for WebAuthn). Sign up by email → add a passkey → sign out → sign
 * in with the passkey, no address typed → the account page lists it → delete it → signing in with it
 * fails with a clear message. axe-core audits the new pages (no serious or critical violation).
 */
import { join } from 'node:path'
import type { Page } from 'playwright-core'
import t from 'tap'
import { buildApp, codeFrom, startStack, uniqueEmail } from '../helper.js'
import { freePort } from '../stack/ports.js'
import { artifacts, audit, DESKTOP, launchChromium } from './chromium.js'

t.setTimeout(300_000)
const stack = await startStack(t)
const port = await freePort()
const origin = `http://localhost:${port}`
const app = await buildApp(t, stack, { APP_URL: origin, EMAIL_COOLDOWN: '0' })
await app.listen({ port, host: '127.0.0.1' })
const browser = await launchChromium(t)

t.test('sign up by email, add a passkey, sign in with it (no address typed), delete it', async (t) => {
  const context = await browser.newContext({ viewport: DESKTOP })
  t.teardown(async () => { await context.close() })
  const page = await context.newPage()
  const problems: string[] = []
  page.on('console', (message) => { if (message.type() === 'error' && !/status of (401|403) /.test(message.text())) problems.push(message.text()) })
  page.on('pageerror', (error) => problems.push(error.message))
  let step = 0
  const shot = async (name: string) => { await page.screenshot({ path: join(artifacts, `passkeys-${String(++step).padStart(2, '0')}-${name}.png`), fullPage: true }) }

  const cdp = await context.newCDPSession(page)
  await cdp.send('WebAuthn.enable', { enableUI: false })
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: { protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true }
  })

  // The start page offers passkeys (audited while the authenticator holds no credential: with one,
  // Chromium's virtual authenticator answers the autofill request at once).
  await page.goto(`${origin}/`)
  await page.locator('#passkey-signin').waitFor({ state: 'visible' })
  t.equal(await page.getAttribute('#email', 'autocomplete'), 'username webauthn', 'autofill is offered on the email field')
  await audit(t, page, 'start-with-passkey')

  // Sign up by email (a code), landing on the account page.
  const email = uniqueEmail('passkey.browser')
  await page.fill('#email', email)
  await page.click('button[value="code"]')
  const code = codeFrom(await stack.smtp.waitForMail(email))
  await page.fill('#code', code)
  await page.fill('#name', 'Grace Hopper')
  await Promise.all([page.waitForURL(`${origin}/account`), page.click('form[action="/code"] button[type="submit"]')])
  await page.locator('#passkey-add').waitFor({ state: 'visible' })
  await shot('account-no-passkey')

  // Add a passkey.
  await Promise.all([page.waitForURL(/\/account\?done=passkey-added/), page.click('#passkey-add')])
  t.match(await page.locator('.notice').first().textContent(), /passkey is added/)
  const stored = await cdp.send('WebAuthn.getCredentials', { authenticatorId })
  t.equal(stored.credentials.length, 1, 'the authenticator holds one credential')
  t.ok(stored.credentials[0]!.isResidentCredential, 'a discoverable credential')
  await shot('account-with-passkey')
  await audit(t, page, 'account-with-passkey')

  // Sign out, then sign in with the passkey: no address typed.
  await Promise.all([page.waitForURL(/\/\?signed-out=1/), page.click('form[action="/account/logout"] button')])
  // Autofill (conditional mediation) may sign in by itself; otherwise the button does.
  const how = await page.waitForURL(`${origin}/account`, { timeout: 10_000 }).then(() => 'autofill', async () => {
    await Promise.all([page.waitForURL(`${origin}/account`), page.click('#passkey-signin')])
    return 'the button'
  })
  t.comment(`signed in with the passkey through ${how}`)
  t.equal(await page.inputValue('#name'), 'Grace Hopper', 'signed in as the account, nothing typed')
  const list = page.locator('ul.passkeys li')
  t.equal(await list.count(), 1, 'the account page lists the passkey')
  t.match(await list.first().textContent(), /Passkey/)
  t.match(await list.first().textContent(), /last used/)
  await shot('signed-in-with-passkey')

  // Delete it (the sign-in is recent), then signing in with it fails with a clear message.
  await Promise.all([page.waitForURL(/done=passkey-deleted/), page.click('ul.passkeys button.danger')])
  t.equal(await page.locator('ul.passkeys li').count(), 0, 'gone from the list')
  await Promise.all([page.waitForURL(/\/\?signed-out=1/), page.click('form[action="/account/logout"] button')])
  await page.locator('#passkey-signin').waitFor({ state: 'visible' })
  await failedSignIn(page)
  const left = await cdp.send('WebAuthn.getCredentials', { authenticatorId })
  t.comment(`after signalUnknownCredential the authenticator holds ${left.credentials.length} credential(s)`)
  await shot('deleted-passkey-refused')
  t.match(await page.locator('#passkey-status').textContent(), /not accepted/, 'a clear message')
  t.notOk(page.url().includes('/account'), 'not signed in')
  t.equal(await page.isEnabled('#passkey-signin'), true, 'the page stays usable')
  t.same(problems, [], 'no console error or CSP violation')
})

/** A sign-in that the server refuses: by the button (autofill may already have tried and said so). */
async function failedSignIn (page: Page): Promise<void> {
  const refused = page.locator('#passkey-status', { hasText: /not accepted/ })
  // Autofill tries first with the credential the browser still offers, and the page says so.
  const autofilled = await refused.waitFor({ timeout: 10_000 }).then(() => true, () => false)
  if (!autofilled) await page.click('#passkey-signin')
  await refused.waitFor()
}

t.test('a ceremony that never settles, or is cancelled, leaves the page usable with a clear message', async (t) => {
  const context = await browser.newContext({ viewport: DESKTOP })
  t.teardown(async () => { await context.close() })
  const page = await context.newPage()
  const cdp = await context.newCDPSession(page)
  await cdp.send('WebAuthn.enable', { enableUI: false })
  // No presence is ever simulated: create() waits for a touch that never comes.
  await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: { protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: false }
  })
  const email = uniqueEmail('passkey.stuck')
  await page.goto(`${origin}/`)
  await page.fill('#email', email)
  await page.click('button[value="code"]')
  await page.fill('#code', codeFrom(await stack.smtp.waitForMail(email)))
  await Promise.all([page.waitForURL(`${origin}/account`), page.click('form[action="/code"] button[type="submit"]')])
  await page.locator('#passkey-add').waitFor({ state: 'visible' })

  // The page's guard, shortened for the test (read by the script when a ceremony starts).
  await page.evaluate("document.documentElement.setAttribute('data-passkey-timeout', '1500')")
  await page.click('#passkey-add')
  await page.locator('#passkey-status', { hasText: /did not finish in time/ }).waitFor()
  t.equal(await page.isEnabled('#passkey-add'), true, 'the button works again after the timeout')
  t.equal(await page.getAttribute('#passkey-status', 'role'), 'alert', 'the message is announced')
  await page.screenshot({ path: join(artifacts, 'passkeys-timeout.png'), fullPage: true })

  await page.evaluate("document.documentElement.setAttribute('data-passkey-timeout', '120000')")
  await page.click('#passkey-add')
  await page.locator('#passkey-cancel').waitFor({ state: 'visible' })
  await page.click('#passkey-cancel')
  await page.locator('#passkey-status', { hasText: /cancelled/ }).waitFor()
  t.equal(await page.isEnabled('#passkey-add'), true, 'and after a cancel')
  t.equal(await page.isHidden('#passkey-cancel'), true, 'the Cancel button goes away')
  t.equal(await context.request.get(`${origin}/account`).then(async (response) => (await response.text()).includes('You have no passkeys yet')), true, 'nothing was added')
})
