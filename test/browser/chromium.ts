/**
 * What the browser tests share: Debian's Chromium (installed by scripts/ensure-chromium.sh on a
 * fresh clone's first `npm test`), the screenshot folder, and the axe-core audit of a page in
 * light, dark and on a phone.
 */
import { execFileSync } from 'node:child_process'
import { mkdirSync, readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { chromium, type Browser, type Page } from 'playwright-core'
import type { Test } from 'tap'

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
/** Screenshots of every step and audit (gitignored). */
export const artifacts = join(root, 'test-artifacts', 'browser')
mkdirSync(artifacts, { recursive: true })
const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8')

/** Headless Chromium for one test file, closed at its teardown. */
export async function launchChromium (t: Test): Promise<Browser> {
  // A fresh clone's `npm test` installs the browser here (apt, as root), once.
  const executablePath = execFileSync(join(root, 'scripts', 'ensure-chromium.sh'), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim()
  const browser = await chromium.launch({
    executablePath,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run', '--disable-sync', '--disable-quic']
  })
  t.teardown(async () => { await browser.close() })
  return browser
}

export const DESKTOP = { width: 900, height: 720 }

const MODES = [
  { mode: 'light', viewport: DESKTOP, colorScheme: 'light' },
  { mode: 'dark', viewport: DESKTOP, colorScheme: 'dark' },
  { mode: 'phone', viewport: { width: 390, height: 760 }, colorScheme: 'light' }
] as const

interface Violation { id: string, impact: string | null, help: string, targets: string[] }
const AXE_RUN = `axe.run(document, { resultTypes: ['violations'] }).then((result) => result.violations.map((v) =>
  ({ id: v.id, impact: v.impact, help: v.help, targets: v.nodes.map((node) => node.target.join(' ')) })))`
const OVERFLOW = `(() => { const main = document.querySelector('main');
  return { page: document.documentElement.scrollWidth - window.innerWidth, card: main.scrollWidth - main.clientWidth } })()`

/**
 * axe-core on the page as it is, in light, dark and on a phone: zero serious or critical
 * violations (lesser ones are printed), and nothing wider than the screen or than the card (a
 * 253-character address included). axe is evaluated through the DevTools protocol, which the
 * page's CSP (no inline scripts) does not apply to; the page itself is not changed. A screenshot
 * of each mode goes to test-artifacts/browser/axe-<name>-<mode>.png.
 */
export async function audit (t: Test, page: Page, name: string, restore: { width: number, height: number } = DESKTOP): Promise<void> {
  for (const { mode, viewport, colorScheme } of MODES) {
    await page.setViewportSize(viewport)
    await page.emulateMedia({ colorScheme })
    if (await page.evaluate('typeof window.axe') !== 'object') await page.evaluate(axeSource)
    const violations = await page.evaluate(AXE_RUN) as Violation[]
    const blocking = violations.filter((violation) => violation.impact === 'serious' || violation.impact === 'critical')
    t.same(blocking, [], `${name} (${mode}): no serious or critical axe-core violation`)
    for (const minor of violations.filter((violation) => !blocking.includes(violation))) {
      t.comment(`axe ${name} (${mode}): ${minor.impact ?? 'n/a'} ${minor.id}: ${minor.help} at ${minor.targets.join(', ')}`)
    }
    const overflow = await page.evaluate(OVERFLOW) as { page: number, card: number }
    t.ok(overflow.page <= 0 && overflow.card <= 0, `${name} (${mode}): nothing wider than the screen or the card (${JSON.stringify(overflow)})`)
    await page.screenshot({ path: join(artifacts, `axe-${name}-${mode}.png`), fullPage: true })
  }
  await page.setViewportSize(restore)
  await page.emulateMedia({ colorScheme: 'light' })
}
