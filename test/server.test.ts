import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { freshDatabaseUrl, pollUntil, startStack, uniqueEmail } from './helper.js'
import { freePort, waitForPort } from './stack/ports.js'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const stack = await startStack(t)

t.test('graceful shutdown: in-flight requests finish, then the process exits cleanly', async (t) => {
  const port = await freePort()
  const server = spawn(process.execPath, ['--import', 'tsx', join(root, 'server.ts')], {
    cwd: root,
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      NODE_ENV: 'production',
      PORT: String(port),
      HOST: '127.0.0.1',
      APP_URL: `http://127.0.0.1:${port}`,
      REDIS_URL: stack.redis.url,
      MONGODB_URL: freshDatabaseUrl(stack),
      SMTP_URL: stack.smtp.url,
      SMTP_TIMEOUT: '1500',
      JWT_SECRET: randomBytes(32).toString('base64url'),
      LOG_LEVEL: 'info'
    },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let output = ''
  server.stdout.on('data', (chunk: Buffer) => { output += chunk.toString() })
  server.stderr.on('data', (chunk: Buffer) => { output += chunk.toString() })
  const exited = new Promise<number | null>((resolve) => server.once('exit', (code) => resolve(code)))
  t.teardown(() => { server.kill('SIGKILL') })
  await waitForPort(port, 20_000)

  const base = `http://127.0.0.1:${port}`
  t.equal((await fetch(`${base}/health`)).status, 200)

  stack.smtp.setMode('hang')
  t.teardown(() => stack.smtp.setMode('accept'))
  const email = uniqueEmail('shutdown')
  let answered = false
  const holding = stack.smtp.pending()
  const inFlight = fetch(`${base}/auth/magic-link`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email }) })
    .then((response) => { answered = true; return response })
  // The request is in flight once the hanging SMTP server has its message open.
  await pollUntil(async () => stack.smtp.pending(), (count) => count > holding, { timeoutMs: 10_000, intervalMs: 20 })
  server.kill('SIGTERM')
  await pollUntil(async () => output, (text) => /shutting down/.test(text), { timeoutMs: 10_000, intervalMs: 20 })
  t.notOk(answered, 'shutdown began while the request was still in flight')

  const response = await inFlight
  t.equal(response.status, 503, 'the in-flight request got its answer (SMTP hung, so EMAIL_UNAVAILABLE: it ran to its SMTP_TIMEOUT)')
  t.equal((await response.json() as { code: string }).code, 'EMAIL_UNAVAILABLE')
  const code = await exited
  t.equal(code, 0, 'the process exited cleanly')
  if (code !== 0) t.comment(output)
  t.match(output, /shutting down/, 'and said so')
  await t.rejects(fetch(`${base}/health`), 'no longer listening')

  const lines = output.trim().split('\n')
  t.same(lines.filter((line) => { try { JSON.parse(line); return false } catch { return true } }), [], 'production logs are JSON, one object a line')
  const health = lines.map((line) => JSON.parse(line)).filter((entry) => entry.req?.url === '/health')
  t.equal(health.length, 1, 'one line per request')
  t.match(health[0], { level: 30, msg: /^GET \/health 200 [0-9.]+ ms$/, res: { statusCode: 200 }, responseTime: Number })
})
