import { randomBytes } from 'node:crypto'
import Fastify, { type FastifyInstance, type LightMyRequestResponse } from 'fastify'
import type { ParsedMail } from 'mailparser'
import type { Test } from 'tap'
import app, { serverOptions } from '../app.js'
import { loadConfig, type Config } from '../services/infrastructure/config.js'
import type { Clock } from '../services/infrastructure/clock.js'
import type { EventsOptions } from '../plugins/app/events.js'
import type { CrossDeviceEventsOptions } from '../services/links/cross-device-events.js'
import { startFerretDb, type FerretDb } from './stack/ferretdb.js'
import { startRedisServer, type RedisServer } from './stack/redis-server.js'
import { startSmtpSink, type SmtpSink } from './stack/smtp-sink.js'

export { pollUntil } from './poll.js'

/** The real backing services of one test file: redis-server, FerretDB and an SMTP sink. */
export interface Stack {
  redis: RedisServer
  mongo: FerretDb
  smtp: SmtpSink
}

export async function startStack (t: Test): Promise<Stack> {
  const [redis, mongo, smtp] = await Promise.all([startRedisServer(), startFerretDb(), startSmtpSink()])
  t.teardown(async () => { await Promise.all([redis.close(), mongo.close(), smtp.close()]) })
  return { redis, mongo, smtp }
}

let databases = 0
/** A database of its own for each app, unless the test shares one on purpose. */
export const freshDatabaseUrl = (stack: Stack): string =>
  stack.mongo.url.replace(/\/latchkey$/, `/latchkey_${process.pid}_${++databases}`)

export function testConfig (stack: Stack, overrides: Record<string, string> = {}): Config {
  return loadConfig({
    NODE_ENV: 'test',
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    APP_URL: 'http://latchkey.test',
    REDIS_URL: stack.redis.url,
    MONGODB_URL: freshDatabaseUrl(stack),
    SMTP_URL: stack.smtp.url,
    // The production default: a send that merely waits behind others on a busy machine is not a
    // failure (the delivery-failure tests set their own short SMTP_TIMEOUT).
    SMTP_TIMEOUT: '10000',
    JWT_SECRET: randomBytes(32).toString('base64url'),
    // Functional tests fire bursts from one address; the rate-limit tests set real values.
    RATE_LIMIT_GLOBAL: '100000',
    RATE_LIMIT_BEARER: '100000',
    RATE_LIMIT_AUTH: '100000',
    RATE_LIMIT_AUTH_TOTAL: '100000',
    RATE_LIMIT_REFRESH: '100000',
    RATE_LIMIT_ADDRESS: '100000',
    ...overrides
  })
}

/** Builds the real app (with the server's own Fastify options), ready, closed at teardown. */
export async function buildApp (t: Test, stack: Stack, overrides: Record<string, string> = {}, extra: { clock?: Clock, config?: Config, dataLossCheckMs?: number, crossDevice?: CrossDeviceEventsOptions, logStream?: { write: (line: string) => void }, events?: EventsOptions['events'] } = {}): Promise<FastifyInstance> {
  const config = extra.config ?? testConfig(stack, overrides)
  const options = serverOptions(config)
  if (extra.logStream !== undefined) options.logger = { ...(options.logger as object), stream: extra.logStream }
  const fastify = Fastify(options)
  await fastify.register(app, { config, clock: extra.clock, dataLossCheckMs: extra.dataLossCheckMs, crossDevice: extra.crossDevice, events: extra.events })
  await fastify.ready()
  t.teardown(async () => { await fastify.close() })
  return fastify
}

let addresses = 0
export const uniqueEmail = (label = 'user'): string => `${label}.${process.pid}.${++addresses}@example.com`

/** The magic link in an email, as a person would copy it from the text part. */
export function linkFrom (mail: ParsedMail): URL {
  const match = /https?:\/\/\S+\/auth\/magic-link\/verify\?token=[A-Za-z0-9_-]+/.exec(mail.text ?? '')
  if (match === null) throw new Error(`no magic link in email: ${mail.text}`)
  return new URL(match[0])
}

export const tokenFrom = (mail: ParsedMail): string => linkFrom(mail).searchParams.get('token')!

/** The six-digit code in an email. */
export function codeFrom (mail: ParsedMail): string {
  const match = /\b(\d{6})\b/.exec(mail.text ?? '')
  if (match === null) throw new Error(`no code in email: ${mail.text}`)
  return match[1]!
}

export const json = <T = any>(response: LightMyRequestResponse): T => response.json<T>()

export interface SignedInUser {
  user: { id: string, email: string, name: string }
  accessToken: string
  refreshToken: string
}

/** Full magic-link signup, reading the link from the delivered email. */
export async function signUp (app: FastifyInstance, stack: Stack, email = uniqueEmail(), name = 'Ada Lovelace'): Promise<SignedInUser> {
  const before = stack.smtp.inbox(email).length
  const request = await app.inject({ method: 'POST', url: '/auth/magic-link', payload: { email } })
  if (request.statusCode !== 202) throw new Error(`magic-link request failed: ${request.statusCode} ${request.body}`)
  const token = tokenFrom(await stack.smtp.waitForMail(email, { count: before + 1 }))
  const response = await app.inject({ method: 'POST', url: `/auth/signup?token=${token}`, payload: { email, name } })
  if (response.statusCode !== 201) throw new Error(`signup failed: ${response.statusCode} ${response.body}`)
  return response.json()
}

export const bearer = (accessToken: string) => ({ authorization: `Bearer ${accessToken}` })

/** Milliseconds `work` took. */
export async function timed<T> (work: () => Promise<T>): Promise<{ result: T, ms: number }> {
  const start = performance.now()
  const result = await work()
  return { result, ms: performance.now() - start }
}
