import { execFile } from 'node:child_process'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import t from 'tap'
import { ConfigError, describeMongoUrl, describeRedisUrl, loadConfig, parseRedisUrl, parseTrustProxy, redirectOrigins } from '../../../services/infrastructure/config.js'

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

t.test('REDIS_URL: one node, a Redis Cluster by its seed nodes, or a master through Sentinels', async (t) => {
  t.same(parseRedisUrl('redis://:pw@cache:6380/2'), { topology: 'single', url: 'redis://:pw@cache:6380/2' }, 'one node: ioredis reads the URL')
  t.same(parseRedisUrl('rediss://cache.example.com'), { topology: 'single', url: 'rediss://cache.example.com' })
  t.same(parseRedisUrl('redis+cluster://app:p%40ss@10.0.0.1:7000,10.0.0.2:7001,[::1]:7002,seed.example.com'), {
    topology: 'cluster',
    tls: false,
    nodes: [{ host: '10.0.0.1', port: 7000 }, { host: '10.0.0.2', port: 7001 }, { host: '::1', port: 7002 }, { host: 'seed.example.com', port: 6379 }],
    username: 'app',
    password: 'p@ss'
  })
  t.match(parseRedisUrl('rediss+cluster://c1:6379/'), { topology: 'cluster', tls: true, nodes: [{ host: 'c1', port: 6379 }] })
  t.same(parseRedisUrl('redis+sentinel://:secret@s1:26379,s2,s3:26380/mymaster'), {
    topology: 'sentinel',
    tls: false,
    sentinels: [{ host: 's1', port: 26379 }, { host: 's2', port: 26379 }, { host: 's3', port: 26380 }],
    masterName: 'mymaster',
    db: 0,
    password: 'secret'
  })
  t.match(parseRedisUrl('rediss+sentinel://s1/main/3?sentinelUsername=watch&sentinelPassword=s%20pw'), {
    topology: 'sentinel', tls: true, masterName: 'main', db: 3, sentinelUsername: 'watch', sentinelPassword: 's pw'
  })

  t.equal(describeRedisUrl('redis+cluster://app:hunter2@h1:7000,h2:7001'), 'redis+cluster://h1:7000,h2:7001', 'described without credentials')
  t.equal(describeRedisUrl('redis+sentinel://:hunter2@s1,s2:26380/mymaster?sentinelPassword=hunter2'), 'redis+sentinel://s1:26379,s2:26380/mymaster')
  t.equal(describeRedisUrl('rediss://u:hunter2@cache:6380/1'), 'rediss://cache:6380/1')

  const env = { JWT_SECRET: secret, SMTP_URL: 'smtp://h' }
  t.equal(loadConfig({ ...env, REDIS_URL: 'redis+cluster://h1:7000,h2:7001' }).REDIS_URL, 'redis+cluster://h1:7000,h2:7001', 'accepted by the config')
  const refused: Array<[string, RegExp]> = [
    ['redis://h1:6379,h2:6379', /lists several hosts: use redis\+cluster:\/\/ or redis\+sentinel:\/\//],
    ['redis+sentinel://hunter2@s1:26379', /must end with the master's name/],
    ['redis+sentinel://s1/master?password=hunter2', /only takes the options sentinelUsername and sentinelPassword/],
    ['redis+cluster://:hunter2@h1:7000/3', /cannot name a database/],
    ['redis+cluster://h1:99999', /must list hosts as host:port/],
    ['redis+cluster://h1:7000,,h2', /must list hosts as host:port/],
    ['redis+cluster://:%zz@h1', /badly escaped/],
    ['redis+shard://hunter2@h1', /must be redis\+cluster/],
    ['http://hunter2@h1', /must be a redis:\/\/, rediss:\/\/, redis\+cluster:\/\/ or redis\+sentinel:\/\/ URL/]
  ]
  for (const [url, reason] of refused) {
    const error = t.throws(() => loadConfig({ ...env, REDIS_URL: url }), ConfigError) as Error
    t.match(error.message, /^Invalid configuration: REDIS_URL /, url)
    t.match(error.message, reason)
    t.notOk(error.message.includes('hunter2'), 'the value is not echoed')
  }
})

t.test('MONGODB_URL: any standard connection string', async (t) => {
  const env = { JWT_SECRET: secret, SMTP_URL: 'smtp://h' }
  for (const url of [
    'mongodb://127.0.0.1:27017/latchkey',
    'mongodb://app:s3cret@db1:27017,db2:27017,db3:27017/latchkey?replicaSet=rs0&authSource=admin',
    'mongodb://db1,db2/latchkey?replicaSet=rs0&readPreference=secondaryPreferred&w=1&retryWrites=true',
    'mongodb+srv://app:s3cret@cluster0.example.net/latchkey?retryWrites=true&w=majority',
    'mongodb://[::1]:27017/latchkey'
  ]) t.equal(loadConfig({ ...env, MONGODB_URL: url }).MONGODB_URL, url, url.replace(/:s3cret@/, ':***@'))

  t.equal(describeMongoUrl('mongodb://app:s3cret@db1:27017,db2:27017/latchkey?replicaSet=rs0&tlsCertificateKeyFilePassword=s3cret'), 'mongodb://db1:27017,db2:27017/latchkey', 'described without credentials or options')
  t.equal(describeMongoUrl('mongodb+srv://app:s3cret@cluster0.example.net/latchkey'), 'mongodb+srv://cluster0.example.net/latchkey')

  for (const url of ['http://s3cret@db1/latchkey', 'mongodb+srv://s3cret@a.example.net:27017/x', 'mongodb://', 'mongodb://db1:70000/x', 'mongodb://db1,/x']) {
    const error = t.throws(() => loadConfig({ ...env, MONGODB_URL: url }), ConfigError) as Error
    t.match(error.message, /^Invalid configuration: MONGODB_URL (must be a mongodb:\/\/ or mongodb\+srv:\/\/ connection string|must list hosts)/, url)
    t.notOk(error.message.includes('s3cret'), 'the value is not echoed')
  }
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

t.test('a bad REDIS_URL stops the server at boot with one line naming it, never its password', async (t) => {
  const run = promisify(execFile)
  const env = { PATH: process.env.PATH, HOME: process.env.HOME, SMTP_URL: 'smtp://127.0.0.1:1', JWT_SECRET: secret, REDIS_URL: 'redis://:hunter2@h1:6379,h2:6379' }
  const error = await run(process.execPath, ['--import', 'tsx', join(root, 'server.ts')], { env, cwd: root }).then(() => null, (e: unknown) => e) as { code: number, stderr: string } | null
  t.equal(error?.code, 1)
  t.equal(error?.stderr.trim().split('\n').length, 1, 'one line')
  t.match(error?.stderr, /^Invalid configuration: REDIS_URL lists several hosts/)
  t.notOk(error?.stderr.includes('hunter2'))
})

t.test('WEBAUTHN_RP_ID: a public suffix (Public Suffix List, ICANN and private sections) is refused', async (t) => {
  const base = { JWT_SECRET: secret, SMTP_URL: 'smtp://h' }
  const refused: Array<[string, string]> = [
    ['co.uk', 'https://auth.example.co.uk'],
    ['github.io', 'https://someone.github.io'],
    ['com', 'https://app.example.com']
  ]
  for (const [rpId, appUrl] of refused) {
    t.throws(() => loadConfig({ ...base, APP_URL: appUrl, WEBAUTHN_RP_ID: rpId }), {
      message: /^Invalid configuration: WEBAUTHN_RP_ID must not be a public suffix such as com, co\.uk or github\.io[^\n]*$/
    }, rpId)
  }
  t.equal(loadConfig({ ...base, APP_URL: 'https://auth.example.co.uk', WEBAUTHN_RP_ID: 'example.co.uk' }).WEBAUTHN_RP_ID, 'example.co.uk', 'a registrable domain under co.uk')
  t.equal(loadConfig({ ...base, APP_URL: 'https://auth.example.co.uk', WEBAUTHN_RP_ID: 'auth.example.co.uk' }).WEBAUTHN_RP_ID, 'auth.example.co.uk', 'a subdomain of one')
  t.equal(loadConfig({ ...base, APP_URL: 'https://someone.github.io', WEBAUTHN_RP_ID: 'someone.github.io' }).WEBAUTHN_RP_ID, 'someone.github.io', 'a site under a private-section suffix')
  t.equal(loadConfig({ ...base, WEBAUTHN_RP_ID: 'localhost' }).WEBAUTHN_RP_ID, 'localhost', 'localhost (the default APP_URL) is not a listed suffix')
  t.doesNotThrow(() => loadConfig({ ...base, APP_URL: 'http://app:3000' }), 'a defaulted RP id is not checked: a container named app (also a TLD) still boots')
})

t.test('signing-key settings: the algorithm by name, a rotation longer than the pre-publication window', async (t) => {
  const base = { JWT_SECRET: secret, SMTP_URL: 'smtp://h' }
  t.match(loadConfig(base), { JWT_ALGORITHM: 'HS256', JWT_KEY_ROTATION: 2592000, JWT_KEY_SYNC_INTERVAL: 30, RATE_LIMIT_INTROSPECT: 3000 })
  t.throws(() => loadConfig({ ...base, JWT_ALGORITHM: 'RS256' }), /^Invalid configuration: JWT_ALGORITHM is invalid/)
  t.throws(() => loadConfig({ ...base, JWT_ALGORITHM: 'EdDSA', JWT_KEY_ROTATION: '300' }), /^Invalid configuration: JWT_KEY_ROTATION must be more than 360 s/)
  t.equal(loadConfig({ ...base, JWT_KEY_ROTATION: '300' }).JWT_KEY_ROTATION, 300, 'HS256 has no key pairs to rotate: not checked')
  t.throws(() => loadConfig({ ...base, INTROSPECTION_SECRET: 'too-short' }), /^Invalid configuration: INTROSPECTION_SECRET is invalid/)
  t.throws(() => loadConfig({ ...base, KEY_ENCRYPTION_SECRET: 'too-short' }), /^Invalid configuration: KEY_ENCRYPTION_SECRET is invalid/)
})
