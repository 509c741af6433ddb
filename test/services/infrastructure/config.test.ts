import { execFile } from 'node:child_process'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import t from 'tap'
import { ConfigError, loadConfig, parseTrustProxy, redirectOrigins } from '../../../services/infrastructure/config.js'

const secret = 'x'.repeat(40)
const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..')

t.test('defaults from SPEC §2', async (t) => {
  const config = loadConfig({ JWT_SECRET: secret, SMTP_URL: 'smtp://localhost:1025' })
  t.match(config, {
    PORT: 3000,
    HOST: '127.0.0.1',
    APP_URL: 'http://localhost:3000',
    REDIS_URL: 'redis://127.0.0.1:6379',
    MONGODB_URL: 'mongodb://127.0.0.1:27017/latchkey',
    MAIL_FROM: 'Latchkey <no-reply@localhost>',
    ACCESS_TOKEN_TTL: 900,
    REFRESH_TOKEN_TTL: 2592000,
    MAGIC_LINK_TTL: 900,
    OTP_TTL: 600,
    OTP_MAX_ATTEMPTS: 5,
    EMAIL_COOLDOWN: 60,
    EMAIL_HOURLY_LIMIT: 5,
    OTP_ADDRESS_BUDGET: 10,
    REFRESH_REUSE_GRACE: 10,
    SMTP_TIMEOUT: 10000,
    REDIS_TIMEOUT: 500,
    TRUST_PROXY: 'false',
    LOG_LEVEL: 'info',
    NODE_ENV: 'production'
  })
  t.same(redirectOrigins(config), ['http://localhost:3000'], "REDIRECT_ALLOWLIST defaults to APP_URL's origin")
})

t.test('a missing or invalid value names the variable in one line, never its value', async (t) => {
  const cases: Array<[Record<string, string>, RegExp]> = [
    [{}, /^Invalid configuration: JWT_SECRET is required$/],
    [{ JWT_SECRET: 'short-secret-value' }, /^Invalid configuration: JWT_SECRET is invalid/],
    [{ JWT_SECRET: secret, SMTP_URL: 'smtp://h', PORT: 'eighty' }, /^Invalid configuration: PORT is invalid/],
    [{ JWT_SECRET: secret, SMTP_URL: 'smtp://h', OTP_TTL: '0' }, /^Invalid configuration: OTP_TTL is invalid/],
    [{ JWT_SECRET: secret }, /^Invalid configuration: SMTP_URL is required outside development$/],
    [{ JWT_SECRET: secret, SMTP_URL: 'http://h' }, /^Invalid configuration: SMTP_URL must be an smtp/],
    [{ JWT_SECRET: secret, SMTP_URL: 'smtp://h', REDIS_URL: 'localhost:6379' }, /^Invalid configuration: REDIS_URL/],
    [{ JWT_SECRET: secret, SMTP_URL: 'smtp://h', APP_URL: 'ftp://x' }, /^Invalid configuration: APP_URL/],
    [{ JWT_SECRET: secret, SMTP_URL: 'smtp://h', REDIRECT_ALLOWLIST: 'https://ok.example,evil' }, /^Invalid configuration: REDIRECT_ALLOWLIST/],
    [{ JWT_SECRET: secret, SMTP_URL: 'smtp://h', TRUST_PROXY: 'yes please' }, /^Invalid configuration: TRUST_PROXY/],
    [{ JWT_SECRET: secret, SMTP_URL: 'smtp://h', LOG_LEVEL: 'loud' }, /^Invalid configuration: LOG_LEVEL/]
  ]
  for (const [env, message] of cases) {
    const error = t.throws(() => loadConfig(env), ConfigError) as Error
    t.match(error.message, message, JSON.stringify(env))
    t.notOk(error.message.includes('\n'), 'one line')
    t.notOk(error.message.includes('short-secret-value'), 'the value is not echoed')
  }
})

t.test('development needs no SMTP_URL; values are trimmed; empty means default', async (t) => {
  const config = loadConfig({ NODE_ENV: 'development', JWT_SECRET: ` ${secret} `, PORT: '' })
  t.equal(config.SMTP_URL, undefined)
  t.equal(config.JWT_SECRET, secret)
  t.equal(config.PORT, 3000)
})

t.test('TRUST_PROXY forms', async (t) => {
  t.equal(parseTrustProxy('false'), false)
  t.equal(parseTrustProxy('true'), true)
  t.equal(parseTrustProxy('1'), 1)
  t.same(parseTrustProxy('10.0.0.1, 192.168.0.0/16'), ['10.0.0.1', '192.168.0.0/16'])
})

t.test('the server process stops at boot with one clear line', async (t) => {
  const run = promisify(execFile)
  const env = { PATH: process.env.PATH, HOME: process.env.HOME, SMTP_URL: 'smtp://127.0.0.1:1', JWT_SECRET: 'too-short' }
  const error = await run(process.execPath, ['--import', 'tsx', join(root, 'server.ts')], { env, cwd: root }).then(() => null, (e: unknown) => e) as { code: number, stderr: string } | null
  t.ok(error, 'the process exits with an error')
  t.equal(error?.code, 1)
  t.equal(error?.stderr.trim().split('\n').length, 1, 'one line')
  t.match(error?.stderr, /^Invalid configuration: JWT_SECRET is invalid/)
  t.notOk(error?.stderr.includes('too-short'))
})
