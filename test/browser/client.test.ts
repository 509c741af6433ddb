/**
 * The browser client (client/, @latchkey/client) in a real browser: Debian's Chromium through
 * playwright-core, five tabs of one origin against the real app on a real port (real Redis,
 * FerretDB and SMTP sink). The client is built with the repository's tsc into a temporary folder
 * and served, with a bare test page, under /__client/ on the app's origin by the browser context's
 * request routing; everything else reaches the app. The server counts every POST /auth/refresh
 * itself (a root hook), and can hold one to play a tab closed in the middle of its refresh.
 */
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import Fastify from 'fastify'
import type { BrowserContext, Page } from 'playwright-core'
import t, { type Test } from 'tap'
import app, { serverOptions } from '../../app.js'
import { codeFrom, pollUntil, startStack, testConfig, uniqueEmail } from '../helper.js'
import { freePort } from '../stack/ports.js'
import { launchChromium } from './chromium.js'

t.setTimeout(240_000)
const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
const stack = await startStack(t)

// The client, built by the repository's TypeScript exactly as `npm run build:client` builds it.
const built = mkdtempSync(join(tmpdir(), 'latchkey-client-'))
t.teardown(() => { rmSync(built, { recursive: true, force: true }) })
execFileSync(process.execPath, [createRequire(import.meta.url).resolve('typescript/bin/tsc'), '-p', join(root, 'client', 'tsconfig.json'), '--outDir', built])

const TAB_PAGE = `<!doctype html><html lang="en"><meta charset="utf-8"><title>client tab</title>
<script type="module">import * as latchkey from '/__client/index.js'; window.latchkey = latchkey</script></html>`

// Server side: time the test moves forward (to expire access tokens; the JWT library reads
// Date.now itself, so this process's Date.now is moved, not only the app's clock), and a record of
// every refresh. The browser keeps real time: to the client its tokens still look valid, as on a
// machine whose clock is behind, so the server's 401 TOKEN_EXPIRED is what starts each refresh.
let offset = 0
const realNow = Date.now.bind(Date)
Date.now = () => realNow() + offset
t.teardown(() => { Date.now = realNow })
const clock = { now: () => Date.now() }
const ACCESS_TOKEN_TTL = 900
const expireAccessTokens = (): void => { offset += (ACCESS_TOKEN_TTL + 5) * 1000 }
const refreshes = { arrived: 0, answered: [] as number[], held: 0 }
let holdNext = false

const port = await freePort()
// localhost (not 127.0.0.1): the passkeys' RP id must be a domain.
const origin = `http://localhost:${port}`
// No grace at all: a second refresh with the same token would be REFRESH_REUSED and end the
// session. The client must never need the grace.
const config = testConfig(stack, { APP_URL: origin, EMAIL_COOLDOWN: '0', ACCESS_TOKEN_TTL: String(ACCESS_TOKEN_TTL), REFRESH_REUSE_GRACE: '0' })
const server = Fastify(serverOptions(config))
server.addHook('onRequest', async (request, reply) => {
  if (request.method !== 'POST' || request.url !== '/auth/refresh') return
  refreshes.arrived++
  if (!holdNext) return
  // Held until its tab is gone (the browser closes the connection), then dropped unanswered and
  // unprocessed: the refresh of a tab closed mid-flight.
  holdNext = false
  refreshes.held++
  await new Promise((resolve) => request.raw.socket.once('close', resolve))
  reply.hijack()
})
server.addHook('onResponse', async (request, reply) => {
  if (request.method === 'POST' && request.url === '/auth/refresh') refreshes.answered.push(reply.statusCode)
})
await server.register(app, { config, clock })
await server.listen({ port, host: '127.0.0.1' })
t.teardown(async () => { await server.close() })

const browser = await launchChromium(t)

function resetCounts (): void {
  refreshes.arrived = 0
  refreshes.answered = []
  refreshes.held = 0
}

/** One browser profile whose pages see the built client under /__client/. */
async function profile (t: Test, { withoutWebLocks = false } = {}): Promise<{ context: BrowserContext, problems: string[] }> {
  const context = await browser.newContext()
  t.teardown(async () => { await context.close() })
  await context.route(`${origin}/__client/**`, async (route) => {
    const file = new URL(route.request().url()).pathname.slice('/__client/'.length)
    if (file === 'tab.html') return await route.fulfill({ contentType: 'text/html', body: TAB_PAGE })
    if (!/^[a-z-]+\.js$/.test(file)) return await route.fulfill({ status: 404, body: '' })
    await route.fulfill({ contentType: 'text/javascript', body: readFileSync(join(built, file), 'utf8') })
  })
  // A browser without Web Locks: the client falls back to its claim over BroadcastChannel.
  if (withoutWebLocks) await context.addInitScript('Object.defineProperty(Navigator.prototype, "locks", { get: () => undefined })')
  const problems: string[] = []
  context.on('weberror', (error) => { problems.push(error.error().message) })
  return { context, problems }
}

/**
 * A tab with a client: `window.lk`, its changes in `window.changes`, and `window.refreshCalls`
 * counting the refreshes this tab itself sent (the client's fetch option).
 */
async function tab (context: BrowserContext, options: Record<string, unknown> = {}): Promise<Page> {
  const page = await context.newPage()
  await page.goto(`${origin}/__client/tab.html`)
  await page.waitForFunction('window.latchkey !== undefined')
  await page.evaluate(`(() => {
    window.changes = []
    window.refreshCalls = 0
    window.lk = latchkey.createClient({
      ...${JSON.stringify(options)},
      onChange: (change) => { window.changes.push(change) },
      fetch: (url, init) => { if (String(url).endsWith('/auth/refresh')) window.refreshCalls++; return fetch(url, init) }
    })
    return window.lk.ready
  })()`)
  return page
}

/** A new account signed in on `page` with an emailed code; its address. */
async function signIn (page: Page): Promise<string> {
  const email = uniqueEmail('client.tabs')
  await page.evaluate(`lk.requestCode(${JSON.stringify(email)})`)
  const code = codeFrom(await stack.smtp.waitForMail(email))
  await page.evaluate(`lk.verifyCode(${JSON.stringify(email)}, ${JSON.stringify(code)}, 'Tab Tester')`)
  return email
}

/** Signs in on `first` with an emailed code, then opens four more tabs that pick the session up. */
async function fiveTabs (context: BrowserContext, options: Record<string, unknown> = {}): Promise<Page[]> {
  const first = await tab(context, options)
  await signIn(first)
  const pages = [first]
  for (let i = 1; i < 5; i++) pages.push(await tab(context, options))
  return pages
}

const sessionIds = async (pages: Page[]): Promise<unknown[]> => await Promise.all(pages.map(async (page) => await page.evaluate('lk.sessionId')))
const accessTokens = async (pages: Page[]): Promise<unknown[]> => await Promise.all(pages.map(async (page) => await page.evaluate('lk.signedIn && lk.accessToken()')))
/** Every tab calls GET /auth/me through client.fetch at once; their statuses. */
const meFromEvery = async (pages: Page[]): Promise<number[]> =>
  await Promise.all(pages.map(async (page) => await page.evaluate('lk.fetch("/auth/me").then((response) => response.status)') as number))

t.test('five tabs whose access token expired call at the same moment: one refresh reaches the server, every call is 200', async (t) => {
  const { context, problems } = await profile(t)
  const pages = await fiveTabs(context)
  const sids = await sessionIds(pages)
  t.equal(new Set(sids).size, 1, 'the four later tabs got the first tab\'s session (memory only, over BroadcastChannel)')
  t.type(sids[0], 'string')

  resetCounts()
  expireAccessTokens()
  t.same(await meFromEvery(pages), [200, 200, 200, 200, 200], 'every tab: 401 TOKEN_EXPIRED, one refresh, retried once: 200')
  t.equal(refreshes.arrived, 1, 'exactly one POST /auth/refresh reached the server')
  t.same(refreshes.answered, [200], 'and it was a 200: no REFRESH_REUSED, no REFRESH_INVALID')
  t.equal(new Set(await accessTokens(pages)).size, 1, 'every tab holds the same new pair')
  const calls = await Promise.all(pages.map(async (page) => await page.evaluate('window.refreshCalls') as number))
  t.equal(calls.reduce((sum, n) => sum + n, 0), 1, 'one tab sent it')
  t.same(await meFromEvery(pages), [200, 200, 200, 200, 200], 'every tab\'s next call: 200, no refresh')
  t.equal(refreshes.arrived, 1)

  // A tab frozen (as a background tab is) while the others refresh wakes with an expired token.
  const sleeper = pages[4]!
  const sleeperCalls = await sleeper.evaluate('window.refreshCalls')
  const cdp = await context.newCDPSession(sleeper)
  await cdp.send('Page.setWebLifecycleState', { state: 'frozen' })
  resetCounts()
  expireAccessTokens()
  t.same(await meFromEvery(pages.slice(0, 4)), [200, 200, 200, 200], 'the four awake tabs refresh (once) and carry on')
  t.equal(refreshes.arrived, 1)
  await cdp.send('Page.setWebLifecycleState', { state: 'active' })
  t.same(await meFromEvery([sleeper]), [200], 'the tab that slept through it gets a fresh token...')
  t.equal(refreshes.arrived, 1, '...without a second refresh call')
  t.equal(await sleeper.evaluate('window.refreshCalls'), sleeperCalls, 'it sent none itself')

  // Sign-out in one tab: the other four are signed out within a second.
  const oldToken = await pages[1]!.evaluate('lk.accessToken()') as string
  await pages[0]!.evaluate('lk.logout()')
  const states = await pollUntil(async () => await Promise.all(pages.slice(1).map(async (page) => await page.evaluate('lk.signedIn'))),
    (states) => states.every((signedIn) => signedIn === false), { timeoutMs: 1000, intervalMs: 20 })
  t.same(states, [false, false, false, false], 'the other four tabs are signed out within 1 s')
  t.same(await pages[1]!.evaluate('window.changes.at(-1)'), { type: 'signed-out', reason: 'other-tab', code: 'logout' }, 'and they say why')
  t.same(await pages[0]!.evaluate('window.changes.at(-1)'), { type: 'signed-out', reason: 'logout' })
  const me = await fetch(`${origin}/auth/me`, { headers: { authorization: `Bearer ${oldToken}` } })
  t.equal(me.status, 401, 'the session is over on the server too')
  t.equal(await pages[2]!.evaluate('lk.fetch("/auth/me").then(() => "sent", (error) => error.code)'), 'NOT_SIGNED_IN', 'a signed-out tab sends nothing')

  // The built-in pages are unaffected by a client running in the same profile.
  const page = await context.newPage()
  await page.goto(`${origin}/`)
  t.equal(await page.locator('h1').textContent(), 'Sign in or create an account', 'the start page still works beside the client')
  t.same(problems, [], 'no page errors')
})

t.test('the tab holding the lock is closed mid-refresh: another tab completes within 5 s', async (t) => {
  const { context, problems } = await profile(t)
  const pages = await fiveTabs(context)
  resetCounts()
  expireAccessTokens()
  holdNext = true
  // Started in every tab at once, not awaited (one of them is about to be closed).
  for (const page of pages) void page.evaluate('void (window.result = lk.fetch("/auth/me").then((response) => { window.result = response.status }, (error) => { window.result = error.code }))').catch(() => {})
  t.equal(await pollUntil(async () => refreshes.held, (held) => held === 1, { timeoutMs: 10_000 }), 1, 'the first refresh is held on the server')
  const holders = await pollUntil(async () => await Promise.all(pages.map(async (page) => await page.evaluate('window.refreshCalls') as number)),
    (calls) => calls.includes(1))
  const holder = holders.indexOf(1)
  t.equal(holders.reduce((sum, n) => sum + n, 0), 1, 'one tab holds the lock and its refresh is in flight')
  await pages[holder]!.close()
  const others = pages.filter((_, index) => index !== holder)
  const results = await pollUntil(async () => await Promise.all(others.map(async (page) => await page.evaluate('window.result'))),
    (statuses) => statuses.every((status) => status === 200), { timeoutMs: 5000, intervalMs: 50 })
  t.same(results, [200, 200, 200, 200], 'the four other tabs completed within 5 s')
  t.equal(refreshes.arrived, 2, 'the closed tab\'s refresh and one more')
  t.same(refreshes.answered, [200], 'one refresh was processed, a 200 (the held one was never answered)')
  t.same(problems, [])
})

t.test('the tab holding the lock is frozen mid-refresh: after lockTimeout one tab takes over, once, and every other tab completes', async (t) => {
  const { context, problems } = await profile(t)
  const pages = await fiveTabs(context, { lockTimeout: 1500 })
  resetCounts()
  expireAccessTokens()
  holdNext = true
  for (const page of pages) void page.evaluate('void (window.result = lk.fetch("/auth/me").then((response) => { window.result = response.status }, (error) => { window.result = error.code }))').catch(() => {})
  t.equal(await pollUntil(async () => refreshes.held, (held) => held === 1, { timeoutMs: 10_000 }), 1, 'the first refresh is held on the server')
  const calls = await pollUntil(async () => await Promise.all(pages.map(async (page) => await page.evaluate('window.refreshCalls') as number)),
    (calls) => calls.includes(1))
  const holder = pages[calls.indexOf(1)]!
  const cdp = await context.newCDPSession(holder)
  await cdp.send('Page.setWebLifecycleState', { state: 'frozen' })
  const others = pages.filter((page) => page !== holder)
  const results = await pollUntil(async () => await Promise.all(others.map(async (page) => await page.evaluate('window.result'))),
    (statuses) => statuses.every((status) => status === 200), { timeoutMs: 10_000, intervalMs: 50 })
  t.same(results, [200, 200, 200, 200], 'the four other tabs completed after the takeover')
  t.equal(refreshes.arrived, 2, 'the frozen tab\'s refresh and exactly one more: one takeover')
  t.same(refreshes.answered, [200], 'the takeover\'s refresh was a 200')
  await holder.close()
  t.same(problems, [])
})

const passkeyRoutes = (await fetch(`${origin}/auth/passkeys/login/options`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })).status !== 404
t.test('passkeys through the client: register, sign out, sign in with no address typed (a virtual authenticator)', {
  skip: passkeyRoutes ? false : 'this server has no passkey routes yet'
}, async (t) => {
  const { context, problems } = await profile(t)
  const page = await tab(context)
  const cdp = await context.newCDPSession(page)
  await cdp.send('WebAuthn.enable', { enableUI: false })
  await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: { protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true }
  })
  const email = await signIn(page)
  t.match(await page.evaluate('lk.registerPasskey("Laptop")'), { name: 'Laptop', id: String }, 'registered through the browser\'s own JSON WebAuthn methods')
  await page.evaluate('lk.logout()')
  t.equal(await page.evaluate('lk.signedIn'), false)
  t.equal(await page.evaluate('lk.signInWithPasskey().then((signedIn) => signedIn.user.email)'), email, 'signed in with the passkey')
  t.equal(await page.evaluate('lk.fetch("/auth/me").then((response) => response.status)'), 200)
  t.same(problems, [])
})

t.test('without Web Locks (the BroadcastChannel claim): five tabs, one refresh, and sign-out everywhere', async (t) => {
  const { context, problems } = await profile(t, { withoutWebLocks: true })
  const pages = await fiveTabs(context)
  t.equal(await pages[0]!.evaluate('navigator.locks'), undefined, 'no Web Locks in these pages')
  resetCounts()
  expireAccessTokens()
  t.same(await meFromEvery(pages), [200, 200, 200, 200, 200])
  t.equal(refreshes.arrived, 1, 'exactly one POST /auth/refresh reached the server')
  t.same(refreshes.answered, [200])
  await pages[3]!.evaluate('lk.logoutEverywhere()')
  const states = await pollUntil(async () => await Promise.all(pages.map(async (page) => await page.evaluate('lk.signedIn'))),
    (states) => states.every((signedIn) => signedIn === false), { timeoutMs: 1000, intervalMs: 20 })
  t.same(states, [false, false, false, false, false], 'every tab signed out within 1 s')
  t.same(problems, [])
})

t.test('persisted (localStorage): a reload finds the session at once, before any tab answers', async (t) => {
  const { context, problems } = await profile(t)
  const [first, second] = await fiveTabs(context, { persist: true })
  const sid = await first!.evaluate('lk.sessionId')
  await second!.reload()
  await second!.waitForFunction('window.latchkey !== undefined')
  t.equal(await second!.evaluate('latchkey.createClient({ persist: true, storageKey: "latchkey" }).sessionId'), sid, 'the session is back at once after a reload, before any tab answers')
  t.same(problems, [])
})
