import { Type, type Static } from '@sinclair/typebox'
import { Value } from '@sinclair/typebox/value'
import { ConnectionString } from 'mongodb-connection-string-url'
import { parse as parseDomain } from 'tldts'
import { keySchedule } from '../tokens/key-schedule.js'

const Seconds = (defaultValue: number, description: string) =>
  Type.Integer({ minimum: 1, default: defaultValue, description, unit: 'seconds' })
const Milliseconds = (defaultValue: number, description: string) =>
  Type.Integer({ minimum: 1, default: defaultValue, description, unit: 'ms' })

/**
 * Every setting the service reads, with its default. SPEC.md §2 names most of them; docs/configuration.md
 * is generated from this schema (`npm run docs:config`). Only server.ts (and the dev/test launchers) hand process.env to
 * loadConfig; everything else receives the typed result.
 */
export const EnvSchema = Type.Object({
  NODE_ENV: Type.Union(
    [Type.Literal('production'), Type.Literal('development'), Type.Literal('test')],
    { default: 'production', description: 'development mounts /dev/inbox and captures mail in memory' }
  ),
  PORT: Type.Integer({ minimum: 0, maximum: 65535, default: 3000, description: 'TCP port the service listens on (`npm run dev` moves to the next free one when it is taken)' }),
  HOST: Type.String({ minLength: 1, default: '127.0.0.1', description: 'address the service listens on (0.0.0.0 in the Docker image)' }),
  APP_URL: Type.String({ minLength: 1, default: 'http://localhost:3000', description: 'public base URL used in emails' }),
  REDIS_URL: Type.String({ minLength: 1, default: 'redis://127.0.0.1:6379', description: 'redis:// or rediss:// (one node), redis+cluster://h1:p1,h2:p2 (seed nodes of a Redis Cluster), redis+sentinel://s1:p1,s2:p2/<master> (a Sentinel-managed master)' }),
  MONGODB_URL: Type.String({ minLength: 1, default: 'mongodb://127.0.0.1:27017/latchkey', description: 'any standard MongoDB connection string (host lists, replicaSet, mongodb+srv://, options)' }),
  SMTP_URL: Type.Optional(Type.String({ minLength: 1, description: 'required outside development' })),
  MAIL_FROM: Type.String({ minLength: 3, default: 'Latchkey <no-reply@localhost>', description: 'From: address of the emails' }),
  JWT_SECRET: Type.String({ minLength: 32, description: 'HS256 key; also the root of the derived HMAC and encryption keys' }),
  JWT_ALGORITHM: Type.Union([Type.Literal('HS256'), Type.Literal('EdDSA'), Type.Literal('ES256')], {
    default: 'HS256', description: 'access-token signature: HS256 (shared secret) or EdDSA / ES256 (key pairs kept in MongoDB, public keys at /.well-known/jwks.json)'
  }),
  JWT_KEY_ROTATION: Seconds(2_592_000, 'lifetime of an asymmetric signing key before the next one takes over'),
  JWT_KEY_SYNC_INTERVAL: Seconds(30, 'how often each instance re-reads the signing keys from MongoDB (bounds how long a rotation takes to reach every instance)'),
  KEY_ENCRYPTION_SECRET: Type.Optional(Type.String({ minLength: 32, description: 'seals the private signing keys in MongoDB (AES-256-GCM); defaults to JWT_SECRET' })),
  INTROSPECTION_SECRET: Type.Optional(Type.String({ minLength: 32, description: 'client secret for POST /auth/introspect (Authorization: Bearer <secret>); unset: introspection is off' })),
  ADMIN_API_KEYS: Type.Optional(Type.String({ description: 'comma-separated admin API keys (each at least 32 characters; several so they can be rotated) for /admin/* (Authorization: Bearer <key>); unset: the admin API is off (404)' })),
  ACCESS_TOKEN_TTL: Seconds(900, 'access JWT lifetime'),
  REFRESH_TOKEN_TTL: Seconds(2_592_000, 'absolute refresh token (session) lifetime'),
  MAGIC_LINK_TTL: Seconds(900, 'magic link lifetime'),
  CROSS_DEVICE_OPEN_PER_ADDRESS: Type.Integer({ minimum: 1, default: 3, description: 'open (undecided, unexpired) cross-device requests per email address; one more is 429 RATE_LIMITED' }),
  CROSS_DEVICE_WAITS_PER_IP: Type.Integer({ minimum: 1, default: 20, description: 'open cross-device waits (SSE streams and long-polls) per client IP (IPv6 per /64) on one instance; one more is 429' }),
  CROSS_DEVICE_WAITS_PER_INSTANCE: Type.Integer({ minimum: 1, default: 2000, description: 'open cross-device waits on one instance, all clients together; one more is 429' }),
  OTP_TTL: Seconds(600, 'one-time code lifetime'),
  OTP_MAX_ATTEMPTS: Type.Integer({ minimum: 1, maximum: 20, default: 5, description: 'wrong guesses per code; the guess that uses the last one deletes the code' }),
  EMAIL_COOLDOWN: Type.Integer({ minimum: 0, default: 60, description: 'seconds between two emails to one address' }),
  EMAIL_HOURLY_LIMIT: Type.Integer({ minimum: 1, default: 5, description: 'emails per address per hour (links and codes together)' }),
  OTP_ADDRESS_BUDGET: Type.Integer({ minimum: 1, default: 10, description: 'wrong code guesses per address per hour, across resends' }),
  REFRESH_REUSE_GRACE: Type.Integer({ minimum: 0, default: 10, description: 'seconds a rotated refresh token still returns the same new pair (two tabs); after that, reuse revokes the session' }),
  SMTP_TIMEOUT: Milliseconds(10_000, 'bound on connecting to and sending through SMTP'),
  REDIS_TIMEOUT: Milliseconds(500, 'bound on any Redis command'),
  MONGODB_TIMEOUT: Milliseconds(2_000, 'bound on server selection, and on all the MongoDB time of one request together'),
  USER_CACHE_TTL: Seconds(600, 'seconds a user stays cached in Redis (plus up to 10% jitter)'),
  RATE_LIMIT_GLOBAL: Type.Integer({ minimum: 1, default: 300, description: 'requests per minute per IP (IPv6 per /64) on routes without a tighter limit; shared through Redis' }),
  RATE_LIMIT_BEARER: Type.Integer({ minimum: 1, default: 3000, description: 'requests per minute per IP on Bearer-authenticated routes, over every instance (counted locally, sent to Redis in batches: no round trip of its own until a client nears it)' }),
  RATE_LIMIT_INTROSPECT: Type.Integer({ minimum: 1, default: 3000, description: 'introspection requests per minute per IP; shared through Redis' }),
  RATE_LIMIT_ADMIN: Type.Integer({ minimum: 1, default: 120, description: 'admin API requests per minute per IP, over every admin route; shared through Redis, counted before the key is checked' }),
  RATE_LIMIT_AUTH: Type.Integer({ minimum: 1, default: 10, description: 'requests per minute per IP on the sign-in endpoints (link, code, signup, consume, login)' }),
  RATE_LIMIT_AUTH_TOTAL: Type.Integer({ minimum: 1, default: 20, description: 'requests per minute per IP over all the sign-in endpoints together (links, codes, signup, consume, login and the pages\' forms)' }),
  RATE_LIMIT_REFRESH: Type.Integer({ minimum: 1, default: 30, description: 'refreshes per minute per IP' }),
  RATE_LIMIT_ADDRESS: Type.Integer({ minimum: 1, default: 10, description: 'code or password checks per 15 minutes per email address' }),
  FAILURE_CEILING: Type.Integer({ minimum: 1, maximum: 100, default: 100, description: 'consecutive failed code/password checks per address before they are refused for a day (NIST SP 800-63B §5.2.2)' }),
  RECENT_AUTH_WINDOW: Seconds(600, 'how recent (s) the sign-in behind a token must be for sensitive actions (adding or deleting a passkey, deleting the account)'),
  WEBAUTHN_RP_ID: Type.Optional(Type.String({ minLength: 1, maxLength: 253, description: "passkeys' relying-party id; defaults to APP_URL's hostname" })),
  WEBAUTHN_RP_NAME: Type.String({ minLength: 1, maxLength: 64, default: 'Latchkey', description: 'the name authenticators show' }),
  WEBAUTHN_ORIGINS: Type.Optional(Type.String({ description: "comma-separated origins accepted in a passkey's client data; defaults to APP_URL's origin" })),
  REDIRECT_ALLOWLIST: Type.Optional(Type.String({ description: "comma-separated origins; defaults to APP_URL's origin" })),
  CORS_ORIGINS: Type.String({ default: '', description: 'comma-separated origins allowed to call the API from a browser' }),
  TRUST_PROXY: Type.String({ default: 'false', description: 'false, true, a hop count, or comma-separated proxy addresses' }),
  WEBHOOK_URL: Type.Optional(Type.String({ minLength: 1, description: 'one webhook endpoint from the environment (https://; http:// only with WEBHOOK_ALLOW_PRIVATE); more through the admin API' })),
  WEBHOOK_SECRET: Type.Optional(Type.String({ pattern: '^whsec_[A-Za-z0-9+/=]{16,}$', description: "the env endpoint's Standard Webhooks secret (whsec_ then base64)" })),
  WEBHOOK_ALLOW_PRIVATE: Type.Boolean({ default: false, description: 'allow http:// endpoints and ones that resolve to loopback or private addresses (tests, one-box setups); metadata and link-local addresses stay refused' }),
  AUDIT_RETENTION: Seconds(7_776_000, 'how long audit events are kept (a TTL index where MongoDB has them, else a periodic delete by one instance)'),
  NOTIFY_NEW_DEVICE: Type.Boolean({ default: false, description: 'email the account when it signs in from a device and network not seen before, with a link that signs that session out' }),
  LOG_LEVEL: Type.Union(
    ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((level) => Type.Literal(level)),
    { default: 'info', description: 'least severe level logged (pino)' }
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

  for (const name of ['APP_URL', 'SMTP_URL'] as const) {
    const value = config[name]
    if (value !== undefined && !URL.canParse(value)) {
      throw new ConfigError(`Invalid configuration: ${name} is not a URL`)
    }
  }
  if (!/^https?:$/.test(new URL(config.APP_URL).protocol)) {
    throw new ConfigError('Invalid configuration: APP_URL must be an http(s) URL')
  }
  parseRedisUrl(config.REDIS_URL)
  parseMongoUrl(config.MONGODB_URL)
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
  webauthnSettings(config)
  if ((config.WEBHOOK_URL === undefined) !== (config.WEBHOOK_SECRET === undefined)) {
    throw new ConfigError('Invalid configuration: WEBHOOK_URL and WEBHOOK_SECRET go together (set both or neither)')
  }
  if (config.WEBHOOK_URL !== undefined) {
    const url = URL.canParse(config.WEBHOOK_URL) ? new URL(config.WEBHOOK_URL) : null
    if (url === null || !(url.protocol === 'https:' || (config.WEBHOOK_ALLOW_PRIVATE && url.protocol === 'http:'))) {
      throw new ConfigError('Invalid configuration: WEBHOOK_URL must be an https:// URL (http:// needs WEBHOOK_ALLOW_PRIVATE=true)')
    }
  }
  if (config.ADMIN_API_KEYS !== undefined) {
    const adminKeys = splitList(config.ADMIN_API_KEYS)
    if (adminKeys.length === 0 || adminKeys.some((key) => key.length < 32)) {
      throw new ConfigError('Invalid configuration: ADMIN_API_KEYS must list keys of at least 32 characters each, separated by commas')
    }
    if (adminKeys.some((key) => key === config.JWT_SECRET || key === config.INTROSPECTION_SECRET)) {
      throw new ConfigError('Invalid configuration: ADMIN_API_KEYS must not reuse JWT_SECRET or INTROSPECTION_SECRET')
    }
  }
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

const RP_ID = /^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/

/**
 * The passkey relying party: WEBAUTHN_RP_ID (APP_URL's hostname by default), WEBAUTHN_RP_NAME and
 * WEBAUTHN_ORIGINS (APP_URL's origin by default). The RP id must be a registrable suffix of the host
 * of every origin (the host itself, or a parent domain of it with at least one dot, or localhost),
 * and not itself a public suffix (`co.uk`, `github.io`, from the Public Suffix List bundled in tldts),
 * as browsers require; otherwise no passkey could ever be made or used, so the boot stops.
 */
export function webauthnSettings (config: Config): { rpId: string, rpName: string, origins: string[] } {
  const origins = splitList(config.WEBAUTHN_ORIGINS)
  for (const entry of origins) {
    if (!URL.canParse(entry) || new URL(entry).origin !== entry.replace(/\/$/, '') || !/^https?:$/.test(new URL(entry).protocol)) {
      throw new ConfigError('Invalid configuration: WEBAUTHN_ORIGINS must list origins such as https://app.example.com')
    }
  }
  const accepted = origins.length > 0 ? origins.map((origin) => new URL(origin).origin) : [new URL(config.APP_URL).origin]
  const rpId = (config.WEBAUTHN_RP_ID ?? new URL(config.APP_URL).hostname).toLowerCase()
  const isIp = /^[0-9.]+$/.test(rpId) || rpId.includes(':') || rpId.startsWith('[')
  // Only a chosen WEBAUTHN_RP_ID is checked. One defaulted from APP_URL's host may be an IP address (a
  // local setup) or a single label that is also a TLD (a container named `app`): passkeys may not work
  // there (browsers refuse IP RP ids) but nothing else is affected, so the boot goes on.
  if (config.WEBAUTHN_RP_ID !== undefined && isPublicSuffix(rpId)) {
    throw new ConfigError('Invalid configuration: WEBAUTHN_RP_ID must not be a public suffix such as com, co.uk or github.io (a passkey for it would be valid on every site under it)')
  }
  if (config.WEBAUTHN_RP_ID !== undefined && (isIp || !RP_ID.test(rpId) || (!rpId.includes('.') && rpId !== 'localhost'))) {
    throw new ConfigError('Invalid configuration: WEBAUTHN_RP_ID must be a domain name such as example.com (not an IP address or a bare top-level domain)')
  }
  for (const origin of accepted) {
    const host = new URL(origin).hostname
    if (host !== rpId && !host.endsWith(`.${rpId}`)) {
      throw new ConfigError(`Invalid configuration: WEBAUTHN_RP_ID is not a registrable suffix of the host of ${origin} (WEBAUTHN_ORIGINS)`)
    }
  }
  return { rpId, rpName: config.WEBAUTHN_RP_NAME, origins: accepted }
}

/** True when the name is itself on the Public Suffix List, ICANN or private section: `com`, `co.uk`, `github.io`. */
function isPublicSuffix (hostname: string): boolean {
  const { publicSuffix, isIcann, isPrivate } = parseDomain(hostname, { allowPrivateDomains: true })
  return publicSuffix === hostname && (isIcann === true || isPrivate === true)
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

export interface HostPort {
  host: string
  port: number
}

/** Where REDIS_URL points: one node, a Redis Cluster by its seed nodes, or a master watched by Sentinels. */
export type RedisTarget =
  | { topology: 'single', url: string }
  | { topology: 'cluster', tls: boolean, nodes: HostPort[], username?: string, password?: string }
  | {
    topology: 'sentinel'
    tls: boolean
    sentinels: HostPort[]
    masterName: string
    db: number
    username?: string
    password?: string
    sentinelUsername?: string
    sentinelPassword?: string
  }

const redisUrlError = (reason: string) => new ConfigError(`Invalid configuration: REDIS_URL ${reason}`)
const MULTI_HOST = /^(rediss?)\+(cluster|sentinel):\/\/(?:([^@/?#]*)@)?([^/?#]+)(\/[^?#]*)?(?:\?([^#]*))?$/
const HOST_PORT = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9._-]+))(?::(\d{1,5}))?$/
const MASTER_NAME = /^[A-Za-z0-9._-]+$/

function decodePart (value: string): string {
  try {
    return decodeURIComponent(value)
  } catch {
    throw redisUrlError('has a badly escaped user name or password')
  }
}

function credentialsOf (userinfo: string | undefined): { username?: string, password?: string } {
  if (userinfo === undefined) return {}
  const colon = userinfo.indexOf(':')
  const username = decodePart(colon === -1 ? userinfo : userinfo.slice(0, colon))
  const password = colon === -1 ? undefined : decodePart(userinfo.slice(colon + 1))
  return { ...(username !== '' && { username }), ...(password !== undefined && { password }) }
}

function parseHosts (list: string, defaultPort: number): HostPort[] {
  return list.split(',').map((entry) => {
    const match = HOST_PORT.exec(entry.trim())
    const port = match?.[3] === undefined ? defaultPort : Number(match[3])
    if (match === null || port < 1 || port > 65535) throw redisUrlError('must list hosts as host:port separated by commas')
    return { host: match[1] ?? match[2]!, port }
  })
}

/**
 * Reads REDIS_URL (validated once at boot; the message never echoes the value, which may hold a
 * password):
 *   redis://[user:pass@]host:port[/db]            one node (rediss:// for TLS), parsed by ioredis;
 *   redis+cluster://[user:pass@]h1:p1,h2:p2        seed nodes of a Redis Cluster (rediss+cluster:// for TLS);
 *   redis+sentinel://[user:pass@]s1:p1,s2:p2/<master>[/db][?sentinelUsername=&sentinelPassword=]
 *                                                 the master Sentinel names (rediss+sentinel:// for TLS);
 *                                                 the userinfo authenticates to Redis, the two
 *                                                 parameters to the Sentinels if they require it.
 */
export function parseRedisUrl (url: string): RedisTarget {
  const multi = MULTI_HOST.exec(url)
  if (multi === null) {
    if (/^rediss?\+/.test(url)) throw redisUrlError('must be redis+cluster://host:port,... or redis+sentinel://host:port,.../<master>')
    if (!URL.canParse(url)) {
      throw redisUrlError(url.includes(',') ? 'lists several hosts: use redis+cluster:// or redis+sentinel://' : 'is not a URL')
    }
    if (!/^rediss?:$/.test(new URL(url).protocol)) {
      throw redisUrlError('must be a redis://, rediss://, redis+cluster:// or redis+sentinel:// URL')
    }
    return { topology: 'single', url }
  }
  const [, scheme, topology, userinfo, hosts, path = '', query = ''] = multi
  const tls = scheme === 'rediss'
  const credentials = credentialsOf(userinfo)
  const params = new URLSearchParams(query)

  if (topology === 'cluster') {
    if (!/^\/?0?$/.test(path)) throw redisUrlError('cannot name a database: a Redis Cluster has only database 0')
    if ([...params.keys()].length > 0) throw redisUrlError('takes no options for a Redis Cluster')
    return { topology: 'cluster', tls, nodes: parseHosts(hosts!, 6379), ...credentials }
  }

  const [, masterName = '', db = '0', ...rest] = path.split('/')
  if (!MASTER_NAME.test(masterName)) throw redisUrlError('must end with the master\'s name: redis+sentinel://host:port,.../<master>')
  if (!/^\d{1,2}$/.test(db) || rest.length > 0) throw redisUrlError('may only add a database number after the master\'s name')
  for (const name of params.keys()) {
    if (name !== 'sentinelUsername' && name !== 'sentinelPassword') throw redisUrlError('only takes the options sentinelUsername and sentinelPassword')
  }
  const sentinelUsername = params.get('sentinelUsername')
  const sentinelPassword = params.get('sentinelPassword')
  return {
    topology: 'sentinel',
    tls,
    sentinels: parseHosts(hosts!, 26379),
    masterName,
    db: Number(db),
    ...credentials,
    ...(sentinelUsername !== null && { sentinelUsername }),
    ...(sentinelPassword !== null && { sentinelPassword })
  }
}

const hostList = (hosts: HostPort[]): string => hosts.map(({ host, port }) => `${host.includes(':') ? `[${host}]` : host}:${port}`).join(',')

/** Where REDIS_URL points, without credentials or options: safe to log. */
export function describeRedisUrl (url: string): string {
  const target = parseRedisUrl(url)
  const tls = target.topology !== 'single' && target.tls ? 's' : ''
  if (target.topology === 'cluster') return `redis${tls}+cluster://${hostList(target.nodes)}`
  if (target.topology === 'sentinel') return `redis${tls}+sentinel://${hostList(target.sentinels)}/${target.masterName}${target.db === 0 ? '' : `/${target.db}`}`
  const { protocol, host, pathname } = new URL(url)
  return `${protocol}//${host}${pathname === '/' ? '' : pathname}`
}

/**
 * Checks MONGODB_URL with the MongoDB driver's own connection-string parser: mongodb:// with one
 * or several hosts (a replica set, `replicaSet=`), or mongodb+srv://, with any options. The driver
 * validates the options themselves when it connects.
 */
export function parseMongoUrl (url: string): ConnectionString {
  let parsed: ConnectionString
  try {
    parsed = new ConnectionString(url)
  } catch {
    throw new ConfigError('Invalid configuration: MONGODB_URL must be a mongodb:// or mongodb+srv:// connection string')
  }
  for (const host of parsed.hosts) {
    const port = /:(\d+)$/.exec(host)?.[1]
    if (host === '' || (port !== undefined && (Number(port) < 1 || Number(port) > 65535))) {
      throw new ConfigError('Invalid configuration: MONGODB_URL must list hosts as host:port separated by commas')
    }
  }
  return parsed
}

/** Where MONGODB_URL points (scheme, hosts, database), without credentials or options: safe to log. */
export function describeMongoUrl (url: string): string {
  const parsed = parseMongoUrl(url)
  return `${parsed.protocol}//${parsed.hosts.join(',')}${parsed.pathname === '/' ? '' : parsed.pathname}`
}
