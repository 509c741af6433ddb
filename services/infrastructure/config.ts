import { Type, type Static } from '@sinclair/typebox'
import { Value } from '@sinclair/typebox/value'
import { keySchedule } from '../tokens/key-schedule.js'

const Seconds = (defaultValue: number, description: string) =>
  Type.Integer({ minimum: 1, default: defaultValue, description })
const Milliseconds = (defaultValue: number, description: string) =>
  Type.Integer({ minimum: 1, default: defaultValue, description })

/**
 * Every setting the service reads, with its default. SPEC.md §2 names most of them; the rest are
 * documented in the README. Only server.ts (and the dev/test launchers) hand process.env to
 * loadConfig; everything else receives the typed result.
 */
export const EnvSchema = Type.Object({
  NODE_ENV: Type.Union(
    [Type.Literal('production'), Type.Literal('development'), Type.Literal('test')],
    { default: 'production', description: 'development mounts /dev/inbox and captures mail in memory' }
  ),
  PORT: Type.Integer({ minimum: 0, maximum: 65535, default: 3000 }),
  HOST: Type.String({ minLength: 1, default: '127.0.0.1' }),
  APP_URL: Type.String({ minLength: 1, default: 'http://localhost:3000', description: 'public base URL used in emails' }),
  REDIS_URL: Type.String({ minLength: 1, default: 'redis://127.0.0.1:6379' }),
  MONGODB_URL: Type.String({ minLength: 1, default: 'mongodb://127.0.0.1:27017/latchkey' }),
  SMTP_URL: Type.Optional(Type.String({ minLength: 1, description: 'required outside development' })),
  MAIL_FROM: Type.String({ minLength: 3, default: 'Latchkey <no-reply@localhost>' }),
  JWT_SECRET: Type.String({ minLength: 32, description: 'HS256 key; also the root of the derived HMAC and encryption keys' }),
  JWT_ALGORITHM: Type.Union([Type.Literal('HS256'), Type.Literal('EdDSA'), Type.Literal('ES256')], {
    default: 'HS256', description: 'access-token signature: HS256 (shared secret) or EdDSA / ES256 (key pairs kept in MongoDB, public keys at /.well-known/jwks.json)'
  }),
  JWT_KEY_ROTATION: Seconds(2_592_000, 'lifetime of an asymmetric signing key before the next one takes over'),
  JWT_KEY_SYNC_INTERVAL: Seconds(30, 'how often each instance re-reads the signing keys from MongoDB (bounds how long a rotation takes to reach every instance)'),
  KEY_ENCRYPTION_SECRET: Type.Optional(Type.String({ minLength: 32, description: 'seals the private signing keys in MongoDB (AES-256-GCM); defaults to JWT_SECRET' })),
  INTROSPECTION_SECRET: Type.Optional(Type.String({ minLength: 32, description: 'client secret for POST /auth/introspect (Authorization: Bearer <secret>); unset: introspection is off' })),
  ACCESS_TOKEN_TTL: Seconds(900, 'access JWT lifetime'),
  REFRESH_TOKEN_TTL: Seconds(2_592_000, 'absolute refresh token (session) lifetime'),
  MAGIC_LINK_TTL: Seconds(900, 'magic link lifetime'),
  OTP_TTL: Seconds(600, 'one-time code lifetime'),
  OTP_MAX_ATTEMPTS: Type.Integer({ minimum: 1, maximum: 20, default: 5 }),
  EMAIL_COOLDOWN: Type.Integer({ minimum: 0, default: 60, description: 'seconds between two emails to one address' }),
  EMAIL_HOURLY_LIMIT: Type.Integer({ minimum: 1, default: 5 }),
  OTP_ADDRESS_BUDGET: Type.Integer({ minimum: 1, default: 10 }),
  REFRESH_REUSE_GRACE: Type.Integer({ minimum: 0, default: 10 }),
  SMTP_TIMEOUT: Milliseconds(10_000, 'bound on connecting to and sending through SMTP'),
  REDIS_TIMEOUT: Milliseconds(500, 'bound on any Redis command'),
  MONGODB_TIMEOUT: Milliseconds(2_000, 'bound on server selection and on any MongoDB operation'),
  USER_CACHE_TTL: Seconds(600, 'seconds a user stays cached in Redis (plus up to 10% jitter)'),
  RATE_LIMIT_GLOBAL: Type.Integer({ minimum: 1, default: 300, description: 'requests per minute per IP (IPv6 per /64) on routes without a tighter limit; shared through Redis' }),
  RATE_LIMIT_BEARER: Type.Integer({ minimum: 1, default: 3000, description: 'requests per minute per IP on Bearer-authenticated routes, counted per instance (keeps them at one Redis round trip)' }),
  RATE_LIMIT_INTROSPECT: Type.Integer({ minimum: 1, default: 3000, description: 'introspection requests per minute per IP; shared through Redis' }),
  RATE_LIMIT_AUTH: Type.Integer({ minimum: 1, default: 10, description: 'requests per minute per IP on the sign-in endpoints (link, code, signup, consume, login)' }),
  RATE_LIMIT_REFRESH: Type.Integer({ minimum: 1, default: 30, description: 'refreshes per minute per IP' }),
  RATE_LIMIT_ADDRESS: Type.Integer({ minimum: 1, default: 10, description: 'code or password checks per 15 minutes per email address' }),
  FAILURE_CEILING: Type.Integer({ minimum: 1, maximum: 100, default: 100, description: 'consecutive failed code/password checks per address before they are refused for a day (NIST SP 800-63B §5.2.2)' }),
  REDIRECT_ALLOWLIST: Type.Optional(Type.String({ description: "comma-separated origins; defaults to APP_URL's origin" })),
  CORS_ORIGINS: Type.String({ default: '', description: 'comma-separated origins allowed to call the API from a browser' }),
  TRUST_PROXY: Type.String({ default: 'false', description: 'false, true, a hop count, or comma-separated proxy addresses' }),
  LOG_LEVEL: Type.Union(
    ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((level) => Type.Literal(level)),
    { default: 'info' }
  )
})

export type Config = Static<typeof EnvSchema>

export class ConfigError extends Error {
  override name = 'ConfigError'
}

const names = Object.keys(EnvSchema.properties) as Array<keyof Config>

/**
 * Validates the environment once. Throws a ConfigError whose message is one line naming the
 * offending variable and never echoing its value (it may be a secret).
 */
export function loadConfig (env: Record<string, string | undefined>): Config {
  const raw: Record<string, unknown> = {}
  for (const name of names) {
    const value = env[name]
    if (value !== undefined && value.trim() !== '') raw[name] = value.trim()
  }

  const candidate = Value.Convert(EnvSchema, Value.Default(EnvSchema, raw))
  const first = Value.Errors(EnvSchema, candidate).First()
  if (first) {
    const name = first.path.split('/')[1] ?? first.path
    const reason = raw[name] === undefined ? 'is required' : `is invalid (${first.message.toLowerCase()})`
    throw new ConfigError(`Invalid configuration: ${name} ${reason}`)
  }
  const config = candidate as Config

  for (const name of ['APP_URL', 'REDIS_URL', 'MONGODB_URL', 'SMTP_URL'] as const) {
    const value = config[name]
    if (value !== undefined && !URL.canParse(value)) {
      throw new ConfigError(`Invalid configuration: ${name} is not a URL`)
    }
  }
  if (!/^https?:$/.test(new URL(config.APP_URL).protocol)) {
    throw new ConfigError('Invalid configuration: APP_URL must be an http(s) URL')
  }
  if (!/^rediss?:$/.test(new URL(config.REDIS_URL).protocol)) {
    throw new ConfigError('Invalid configuration: REDIS_URL must be a redis:// or rediss:// URL')
  }
  if (config.SMTP_URL !== undefined && !/^smtps?:$/.test(new URL(config.SMTP_URL).protocol)) {
    throw new ConfigError('Invalid configuration: SMTP_URL must be an smtp:// or smtps:// URL')
  }
  if (config.SMTP_URL === undefined && config.NODE_ENV !== 'development') {
    throw new ConfigError('Invalid configuration: SMTP_URL is required outside development')
  }
  for (const [name, list] of [['REDIRECT_ALLOWLIST', config.REDIRECT_ALLOWLIST], ['CORS_ORIGINS', config.CORS_ORIGINS]] as const) {
    for (const entry of splitList(list)) {
      if (!URL.canParse(entry) || new URL(entry).origin !== entry.replace(/\/$/, '')) {
        throw new ConfigError(`Invalid configuration: ${name} must list origins such as https://app.example.com`)
      }
    }
  }
  parseTrustProxy(config.TRUST_PROXY)
  const schedule = keySchedule(config)
  if (config.JWT_ALGORITHM !== 'HS256' && config.JWT_KEY_ROTATION * 1000 <= schedule.prepublishMs) {
    throw new ConfigError(`Invalid configuration: JWT_KEY_ROTATION must be more than ${schedule.prepublishMs / 1000} s (the next key is published that long before it signs)`)
  }
  return config
}

/** For processes (the server, scripts): the configuration, or the one-line reason on stderr and exit 1. */
export function loadConfigOrExit (env: Record<string, string | undefined>): Config {
  try {
    return loadConfig(env)
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error
    console.error(error.message)
    process.exit(1)
  }
}

export function splitList (value: string | undefined): string[] {
  return (value ?? '').split(',').map((entry) => entry.trim()).filter(Boolean)
}

/** Origins a `redirectTo` may point to: REDIRECT_ALLOWLIST, or APP_URL's origin alone. */
export function redirectOrigins (config: Config): string[] {
  const listed = splitList(config.REDIRECT_ALLOWLIST).map((origin) => new URL(origin).origin)
  return listed.length > 0 ? listed : [new URL(config.APP_URL).origin]
}

/** Fastify's trustProxy value: false, true, a hop count or a list of proxy addresses. */
export function parseTrustProxy (value: string): boolean | number | string[] {
  if (value === 'false') return false
  if (value === 'true') return true
  if (/^\d+$/.test(value)) return Number(value)
  const addresses = splitList(value)
  if (addresses.length === 0 || addresses.some((address) => !/^[0-9a-fA-F.:/]+$/.test(address))) {
    throw new ConfigError('Invalid configuration: TRUST_PROXY must be false, true, a hop count or proxy addresses')
  }
  return addresses
}
