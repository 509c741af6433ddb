/**
 * Swagger UI (/docs) renders the OpenAPI 3.1 document: every operation shows, under its operationId,
 * and the UI reports no error. Swagger UI is not ours and is not audited with axe-core.
 */
import t from 'tap'
import { buildApp, startStack } from '../helper.js'
import { freePort } from '../stack/ports.js'
import { launchChromium } from './chromium.js'

t.setTimeout(240_000)
const stack = await startStack(t)
const port = await freePort()
const origin = `http://127.0.0.1:${port}`
const app = await buildApp(t, stack, { APP_URL: origin })
await app.listen({ port, host: '127.0.0.1' })
const document = (await app.inject({ method: 'GET', url: '/openapi.json' })).json()
const operations = Object.values<Record<string, { operationId: string }>>(document.paths).flatMap((item) => Object.values(item))

t.test('Swagger UI shows every operation of the 3.1 document, and no error', async (t) => {
  const browser = await launchChromium(t)
  const page = await browser.newPage()
  const consoleErrors: string[] = []
  page.on('console', (message) => { if (message.type() === 'error') consoleErrors.push(message.text()) })
  await page.goto(`${origin}/docs/`)
  await page.waitForSelector('.opblock', { timeout: 60_000 })
  t.match(await page.textContent('.info'), /OAS 3\.1/, 'the UI reads the document as OpenAPI 3.1')
  t.equal(await page.locator('.opblock').count(), operations.length, `${operations.length} operations shown`)
  t.equal(await page.locator('.errors-wrapper').count(), 0, 'no rendering error')
  // Swagger UI shows each operationId once "displayOperationId" is on; its anchors carry it always.
  const ids = await page.locator('.opblock').evaluateAll((blocks) => blocks.map((block) => block.getAttribute('id') ?? ''))
  for (const { operationId } of operations) t.ok(ids.some((id) => id.endsWith(`-${operationId}`)), `${operationId} is in the UI`)
  t.same(consoleErrors, [], 'no console error (a CSP refusal, say)')
})
