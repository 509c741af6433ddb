import { STATUS_CODES } from 'node:http'
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest, FastifyServerOptions, HookHandlerDoneFunction } from 'fastify'
import fp from 'fastify-plugin'
import { LogController } from 'fastify'
import { parseTrustProxy, type Config } from './services/infrastructure/config.js'
import { failedDependency, loggableError, sanitizedMessage } from './services/infrastructure/dependency-errors.js'
import { lazyChildLogger } from './services/infrastructure/lazy-logger.js'
import { ErrorCodes, isAppError, type ErrorCode, type ErrorExtras } from './services/infrastructure/errors.js'
import { describeValidation, MESSAGE_KEYWORD, type SchemaError } from './services/infrastructure/validation-messages.js'
import { withWait } from './services/infrastructure/wait-in-words.js'
import addressLimit from './plugins/app/address-limit.js'
import admin from './plugins/app/admin.js'
import authenticate from './plugins/app/authenticate.js'
import configPlugin, { type ConfigPluginOptions } from './plugins/app/config.js'
import crossDevice, { type CrossDeviceOptions } from './plugins/app/cross-device.js'
import csrf from './plugins/app/csrf.js'
import dataLossWatch, { type DataLossWatchOptions } from './plugins/app/data-loss-watch.js'
import events, { type EventsOptions } from './plugins/app/events.js'
import mailer from './plugins/app/mailer.js'
import mongoBudget from './plugins/app/mongo-budget.js'
import passkeys from './plugins/app/passkeys.js'
import recentAuth from './plugins/app/recent-auth.js'
import services from './plugins/app/services.js'
import signInBudget from './plugins/app/sign-in-budget.js'
import cors from './plugins/external/cors.js'
import helmet from './plugins/external/helmet.js'
import jwt from './plugins/external/jwt.js'
import mongoose from './plugins/external/mongoose.js'
import rateLimit from './plugins/external/rate-limit.js'
import redis from './plugins/external/redis.js'
import swagger from './plugins/external/swagger.js'
import adminRoutes from './routes/admin/index.js'
import assetRoutes from './routes/assets.js'
import authRoutes from './routes/auth/index.js'
import devInboxRoutes from './routes/dev-inbox.js'
import devHostCheck from './plugins/app/dev-host-check.js'
import healthRoutes from './routes/health.js'
import pageRoutes from './routes/pages/index.js'
import { sendHtml } from './routes/schemas.js'
import todoRoutes from './routes/todos/index.js'
import wellKnownRoutes from './routes/well-known.js'
import { notFoundPage } from './views/pages.js'

export type AppOptions = ConfigPluginOptions & DataLossWatchOptions & CrossDeviceOptions & EventsOptions

/** Paths whose query strings carry secrets are logged without them. */
const loggedUrl = (url: string): string => {
  const query = url.indexOf('?')
  return query === -1 ? url : `${url.slice(0, query)}?[redacted]`
}

/** The levels at which the one line per request is written. */
const LOGS_INFO = new Set(['info', 'debug', 'trace'])

/** Fastify's own options: logging with redaction, strict validation, bounded bodies. */
export function serverOptions (config: Config): FastifyServerOptions {
  return {
    logger: {
      level: config.LOG_LEVEL,
      redact: {
        paths: [
          'req.headers.authorization', 'req.headers.cookie', 'res.headers["set-cookie"]', 'req.headers["x-device-secret"]',
          '*.token', '*.refreshToken', '*.accessToken', '*.code', '*.password', '*.deviceSecret'
        ],
        censor: '[redacted]'
      },
      serializers: {
        req: (request: { method: string, url: string, ip?: string }) => ({ method: request.method, url: loggedUrl(request.url), ip: request.ip })
      }
    },
    // One line per request, written in onResponse below, instead of Fastify's two.
    logController: new LogController({ disableRequestLogging: true }),
    // The per-request child logger is made only when a request actually logs something.
    childLoggerFactory: lazyChildLogger as unknown as FastifyServerOptions['childLoggerFactory'],
    ajv: {
      customOptions: {
        // Reject unknown properties instead of silently dropping them, and never coerce types:
        // {"code": 123456} or {"email": {"$gt": ""}} is a 400, not a converted value.
        removeAdditional: false,
        coerceTypes: false,
        useDefaults: true,
        allErrors: false,
        // Each error carries the schema that failed, so a 400 can say what was expected in words
        // (services/infrastructure/validation-messages.ts); MESSAGE_KEYWORD holds that wording.
        verbose: true,
        keywords: [MESSAGE_KEYWORD]
      }
    },
    // Fastify accepts a hop count at runtime; its type only lacks the number case.
    trustProxy: parseTrustProxy(config.TRUST_PROXY) as FastifyServerOptions['trustProxy'],
    bodyLimit: 16 * 1024,
    onProtoPoisoning: 'error',
    onConstructorPoisoning: 'error',
    return503OnClosing: true,
    forceCloseConnections: 'idle'
  }
}

function errorCodeForStatus (status: number): ErrorCode {
  if (status === 404) return ErrorCodes.NOT_FOUND
  if (status === 413) return ErrorCodes.PAYLOAD_TOO_LARGE
  if (status === 415) return ErrorCodes.UNSUPPORTED_MEDIA_TYPE
  if (status === 429) return ErrorCodes.RATE_LIMITED
  if (status === 503) return ErrorCodes.SERVICE_UNAVAILABLE
  if (status >= 500) return ErrorCodes.INTERNAL_ERROR
  return ErrorCodes.VALIDATION_FAILED
}

/** 415: what to send instead (JSON everywhere; the pages' scope also takes form posts). */
function unsupportedMediaMessage (request: FastifyRequest): string {
  const forms = request.server.hasContentTypeParser('application/x-www-form-urlencoded')
  return `Unsupported Media Type: send Content-Type: application/json${forms ? ' or application/x-www-form-urlencoded' : ''}`
}

function installErrorHandling (fastify: FastifyInstance): void {
  fastify.setErrorHandler(function handleError (error: FastifyError & ErrorExtras, request, reply) {
    let status: number
    let code: string
    let message: string
    let retryAfter = error.retryAfter
    let extra = error.body

    const dependency = failedDependency(error)
    if (error.validation !== undefined) {
      status = 400
      code = ErrorCodes.VALIDATION_FAILED
      const described = describeValidation(error.validation as SchemaError[], error.validationContext)
      message = described.message
      extra = { field: described.field }
    } else if (isAppError(error)) {
      status = error.statusCode ?? 500
      code = error.code
      message = error.message
    } else if (dependency !== null) {
      status = 503
      code = ErrorCodes.SERVICE_UNAVAILABLE
      message = `${dependency === 'redis' ? 'Redis' : 'MongoDB'} is unavailable; try again shortly`
      retryAfter = 1
      fastify.metrics.inc('latchkey_dependency_errors_total', { dependency })
      request.log.warn({ dependency, reason: sanitizedMessage(error.message) }, 'dependency unavailable')
    } else if (error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 500) {
      status = error.statusCode
      code = errorCodeForStatus(status)
      message = error.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE' ? unsupportedMediaMessage(request) : error.message
    } else {
      status = 500
      code = ErrorCodes.INTERNAL_ERROR
      message = 'Something went wrong on our side'
      // Never the error itself: Redis errors carry their command's arguments, MongoDB's the document.
      request.log.error({ error: loggableError(error) }, 'unhandled error')
    }

    if (retryAfter !== undefined) {
      reply.header('retry-after', String(retryAfter))
      // A 429 says the wait in the body too: not every client shows response headers.
      if (status === 429) {
        message = withWait(message, retryAfter)
        extra = { ...extra, retryAfter }
      }
    }
    reply.status(status).send({ statusCode: status, code, error: STATUS_CODES[status] ?? 'Error', message, ...extra })
  })

  fastify.setNotFoundHandler(function notFound (request, reply) {
    // A mistyped URL in a browser gets a page; API clients (Accept without text/html) keep the JSON.
    if (request.headers.accept?.includes('text/html') === true) return sendHtml(reply, 404, notFoundPage({ path: request.url.split('?')[0]!.slice(0, 200) }))
    reply.status(404).send({ statusCode: 404, code: ErrorCodes.NOT_FOUND, error: 'Not Found', message: `${request.method} ${loggedUrl(request.url)} does not exist` })
  })
}

/**
 * The application: clients (Redis, MongoDB, JWT) → our plugins (mailer, services,
 * authenticate) → routes, with one error handler for the SPEC error shape.
 */
/**
 * SPEC 8b: every query string has a closed schema. A route that declares no query parameters gets
 * an empty closed one, so `?userId[$ne]=x` is a 400 instead of being silently ignored. Swagger
 * UI's own routes (hidden from the document) are left as they are.
 */
function closeQueryStrings (fastify: FastifyInstance): void {
  const closed = { type: 'object', properties: {}, additionalProperties: false }
  fastify.addHook('onRoute', (route) => {
    if (route.schema?.hide === true || route.schema?.querystring !== undefined) return
    route.schema = { ...route.schema, querystring: closed }
  })
}

export default fp(async function app (fastify, opts: AppOptions) {
  await fastify.register(configPlugin, opts)
  installErrorHandling(fastify)
  closeQueryStrings(fastify)
  // JSON only (pages register their own form parser in their scope): anything else is a 415.
  fastify.removeContentTypeParser('text/plain')

  // Graceful shutdown: once close() begins, a keep-alive socket is closed as soon as its last
  // response is sent (Node reads keepAliveTimeout after each response), so in-flight requests
  // finish and idle connections do not hold the process open.
  fastify.addHook('preClose', async () => { fastify.server.keepAliveTimeout = 1 })

  // Request metrics: each route gets its own onResponse hook with its recorder bound once (no
  // label lookup per request); requests no route matched are counted by the hook below.
  fastify.addHook('onRoute', (route) => {
    const record = fastify.metrics.httpRoute(route.url)
    const hook = function recordRequest (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction): void {
      record(request.method, reply.statusCode, reply.elapsedTime / 1000)
      done()
    }
    route.onResponse = route.onResponse === undefined ? [hook] : [hook, ...[route.onResponse].flat()]
  })
  const recordUnmatched = fastify.metrics.httpRoute('unmatched')

  // Callback style (no promise per request): this runs on every request, the hot path included.
  fastify.addHook('onResponse', (request, reply, done) => {
    if (request.is404) recordUnmatched(request.method, reply.statusCode, reply.elapsedTime / 1000)
    // One log line per request, readable as is (`GET /auth/me 200 1.3 ms`), with the fields for machines.
    if (LOGS_INFO.has(request.log.level)) {
      const ms = Math.round(reply.elapsedTime * 10) / 10
      request.log.info({ req: request, res: { statusCode: reply.statusCode }, responseTime: ms }, `${request.method} ${loggedUrl(request.url)} ${reply.statusCode} ${ms} ms`)
    }
    done()
  })

  await fastify.register(devHostCheck)
  await fastify.register(helmet)
  await fastify.register(cors)
  await fastify.register(redis)
  await fastify.register(mongoose)
  await fastify.register(mongoBudget)
  await fastify.register(jwt)
  await fastify.register(rateLimit)
  await fastify.register(mailer)
  await fastify.register(services)
  await fastify.register(authenticate)
  await fastify.register(recentAuth)
  await fastify.register(passkeys)
  await fastify.register(addressLimit)
  await fastify.register(signInBudget)
  await fastify.register(csrf)
  await fastify.register(dataLossWatch, opts)
  await fastify.register(crossDevice, opts)
  await fastify.register(events, opts)
  await fastify.register(admin)
  // Before the routes: it collects their schemas as they are added.
  await fastify.register(swagger)

  await fastify.register(healthRoutes)
  await fastify.register(authRoutes, { prefix: '/auth' })
  await fastify.register(todoRoutes, { prefix: '/todos' })
  await fastify.register(wellKnownRoutes)
  await fastify.register(assetRoutes)
  await fastify.register(pageRoutes)
  // The admin API exists only with ADMIN_API_KEYS: otherwise /admin/* is a 404 and absent from the document.
  if (fastify.adminKeys.enabled) await fastify.register(adminRoutes, { prefix: '/admin' })
  // Captured mail is listed only in development mode with the in-memory outbox; never in production.
  if (fastify.config.NODE_ENV === 'development' && fastify.devOutbox !== null) await fastify.register(devInboxRoutes)
}, { name: 'latchkey' })
