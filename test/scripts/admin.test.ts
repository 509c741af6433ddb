import { execFile } from 'node:child_process'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import t from 'tap'
import { bearer, buildApp, json, signUp, startStack, testConfig, tokenFrom } from '../helper.js'

/** `npm run admin -- <command> <address>` (issue 22.6), run as an operator would, against a running app's stores. */
const stack = await startStack(t)
const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
const config = testConfig(stack, { EMAIL_COOLDOWN: '0' })
const app = await buildApp(t, stack, {}, { config })
const env = { ...process.env, NODE_ENV: 'test', LOG_LEVEL: 'silent', SMTP_URL: stack.smtp.url, REDIS_URL: config.REDIS_URL, MONGODB_URL: config.MONGODB_URL, JWT_SECRET: config.JWT_SECRET }

async function adminScript (...args: string[]): Promise<{ code: number, stdout: string, stderr: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, ['--import', 'tsx', join(root, 'scripts', 'admin.ts'), ...args], { cwd: root, env })
    return { code: 0, stdout, stderr }
  } catch (error) {
    const failed = error as { code: number, stdout: string, stderr: string }
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr }
  }
}
const me = async (accessToken: string) => await app.inject({ method: 'GET', url: '/auth/me', headers: bearer(accessToken) })

t.test('find, disable, enable, sign-out and delete by address, through the same services', async (t) => {
  const user = await signUp(app, stack, `Script.${process.pid}@Example.com`)
  const email = user.user.email

  const found = await adminScript('find', email.toUpperCase())
  t.equal(found.code, 0)
  t.match(JSON.parse(found.stdout), { id: user.user.id, email, disabled: false, sessionCount: 1 })
  const prefix = await adminScript('find', `script.${process.pid}`)
  t.match(JSON.parse(prefix.stdout.trim()), { id: user.user.id }, 'a prefix lists the accounts it starts')

  const disabled = await adminScript('disable', email, '--reason', 'ticket 4521')
  t.equal(disabled.code, 0, disabled.stderr)
  t.match(JSON.parse(disabled.stdout), { disabled: true, disabledReason: 'ticket 4521' })
  t.equal(json(await me(user.accessToken)).code, 'ACCOUNT_DISABLED', 'the running app refuses the token on the next request')
  t.match((await app.auditLog.list({ userId: user.user.id, type: 'user.disabled', limit: 1 })).events, [{ data: { by: 'script' } }])
  t.match((await app.auditLog.list({ type: 'admin.action', limit: 1 })).events, [{ data: { via: 'script', command: 'disable', targetUserId: user.user.id, reason: 'ticket 4521' } }])

  t.equal((await adminScript('enable', email)).code, 0)
  const before = stack.smtp.inbox(email).length
  await app.inject({ method: 'POST', url: '/auth/magic-link', payload: { email } })
  const token = tokenFrom(await stack.smtp.waitForMail(email, { count: before + 1 }))
  const again = json(await app.inject({ method: 'POST', url: '/auth/magic-link/consume', payload: { token } }))
  t.equal((await me(again.accessToken)).statusCode, 200, 'enabled: signs in again')

  t.equal((await adminScript('sign-out', email)).code, 0)
  t.equal(json(await me(again.accessToken)).code, 'TOKEN_REVOKED', 'signed out everywhere')

  const refused = await adminScript('delete', email)
  t.equal(refused.code, 2, 'delete without --yes is refused')
  t.match(refused.stderr, /add --yes/)
  t.equal((await adminScript('delete', email, '--yes')).code, 0)
  t.equal(await app.mongo.models.User.countDocuments({ _id: user.user.id }), 0, 'deleted')

  const missing = await adminScript('disable', email)
  t.equal(missing.code, 1)
  t.match(missing.stderr, /no account with the address/)
  t.equal((await adminScript('frobnicate', email)).code, 2, 'an unknown command')

  const actions = (await app.auditLog.list({ type: 'admin.action', limit: 50 })).events.filter((event) => event.data.via === 'script')
  t.ok(actions.length >= 7, `each run is an admin.action (${actions.length})`)
})
