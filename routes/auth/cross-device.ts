import { PassThrough } from 'node:stream'
import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyReply, FastifyRequest } from 'fastify'
import cookie from '../../plugins/external/cookie.js'
import { clientKey } from '../../plugins/external/rate-limit.js'
import { CrossDeviceGoneError, RateLimitedError, ServiceUnavailableError, ValidationFailedError, withExtras } from '../../services/infrastructure/errors.js'
import { DEVICE_SECRET_PATTERN, REQUEST_ID_PATTERN, type CrossDeviceOutcome } from '../../services/links/cross-device.js'
import type { FinalStep, Follower } from '../../services/links/cross-device-events.js'
import type { SignedIn } from '../../services/sessions/sessions.js'
import { clientInfo } from '../client-info.js'
import { cookieScope, type CookieScope } from '../cookie-scope.js'
import { errors, PublicUser, TokenPair } from '../schemas.js'

const tags = ['cross-device']

/** The header API clients send the device secret in (never the URL: URLs end up in logs and histories). */
export const DEVICE_SECRET_HEADER = 'x-device-secret'
/** The cookie the waiting page keeps the device secret in: HttpOnly, SameSite=Strict, path of its request only. */
export const DEVICE_COOKIE = 'lk_xd'
/**
 * The waiting browser's device-secret cookie of one request: `lk_xd` scoped to the request's path,
 * or with an https APP_URL a `__Host-` cookie (Path=/, so named after the request: several
 * requests can wait in one browser). routes/cookie-scope.ts.
 */
export const deviceCookieScope = (appUrl: string, requestId: string): CookieScope =>
  new URL(appUrl).protocol === 'https:' ? cookieScope(appUrl, `${DEVICE_COOKIE}_${requestId}`, '/') : cookieScope(appUrl, DEVICE_COOKIE, requestPath(requestId))
/** The waiting page of a request (and the path its device cookie is scoped to). */
export const requestPath = (requestId: string): string => `/auth/magic-link/requests/${requestId}`

/** Open streams and long-polls per request on one instance (a browser needs one; a few reconnects overlap). */
const MAX_WAITS_PER_REQUEST = 4
const LONG_POLL_MAX_SECONDS = 30
const HEARTBEAT_MS = 15_000
const secretFormat = new RegExp(DEVICE_SECRET_PATTERN)

const RequestParams = Type.Object({
  id: Type.String({ pattern: REQUEST_ID_PATTERN, description: 'requestId from POST /auth/magic-link with crossDevice: true', examples: ['Xq3vR8kT2mLp9sW4yB7nHc'] })
}, { additionalProperties: false })

const DeviceSecretHeaders = Type.Object({
  [DEVICE_SECRET_HEADER]: Type.Optional(Type.String({ maxLength: 64, description: 'deviceSecret from POST /auth/magic-link (never in the URL)' }))
})

const Pending = Type.Object({
  status: Type.Literal('pending'),
  matchNumber: Type.Integer({ minimum: 0, maximum: 99, description: 'The number to show on this device, as two digits (07)' }),
  expiresIn: Type.Integer({ description: 'Seconds until the request expires' })
}, { additionalProperties: false })
const Approved = Type.Object({ status: Type.Literal('approved'), user: PublicUser, ...TokenPair }, { additionalProperties: false })
const Denied = Type.Object({
  status: Type.Literal('denied'),
  reason: Type.Union([Type.Literal('denied'), Type.Literal('wrong-number')], { description: 'Deny was pressed, or a wrong number was typed' })
}, { additionalProperties: false })

/** POST /auth/magic-link's 202: `message` always; the rest only with crossDevice: true (for known and unknown addresses alike). */
export const CrossDeviceAccepted = Type.Object({
  message: Type.String({ examples: ['Check your inbox: if the address can receive mail, a link is on its way.'] }),
  requestId: Type.Optional(Type.String({ description: 'crossDevice: names the request in the wait URLs' })),
  deviceSecret: Type.Optional(Type.String({ description: 'crossDevice: send as X-Device-Secret to wait for the outcome; shown once, never in a URL' })),
  matchNumber: Type.Optional(Type.Integer({ minimum: 0, maximum: 99, description: 'crossDevice: show it as two digits (07); the person types it on the approval page' })),
  expiresIn: Type.Optional(Type.Integer({ description: 'crossDevice: seconds until the request expires' }))
}, { description: 'Accepted: the email is on its way (the same answer whether or not the address has an account)' })

/** The answers of both waits besides their 200. */
const waitErrors = errors({
  400: 'VALIDATION_FAILED (no X-Device-Secret header, or a query parameter that is not listed)',
  410: 'MAGIC_LINK_INVALID: unknown, expired or finished request, or a wrong secret',
  429: 'RATE_LIMITED (too many open waits for this request, for this IP or on this instance; with Retry-After)',
  503: 'SERVICE_UNAVAILABLE (Redis)'
})

/** The token pair as the waiting device receives it (never the session id). */
const tokensOf = ({ user, accessToken, refreshToken, expiresIn }: SignedIn) => ({ user, accessToken, refreshToken, expiresIn })

const messages = {
  denied: 'The sign-in was denied on the other device. Nobody was signed in.',
  'wrong-number': 'A wrong number was typed on the other device, so the request was cancelled. Nobody was signed in.',
  expired: 'This sign-in request expired, was finished, or is unknown. Start again.',
  unavailable: 'The service is unavailable right now; reconnect in a moment (the request stays valid until it expires).'
}

/** One Server-Sent Events frame. JSON never contains a raw newline, so `data:` is one line. */
const frame = (event: string, data: unknown): string => `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`

/**
 * The waiting device's side of a cross-device sign-in: a Server-Sent Events stream and a long-poll,
 * both authenticated by the device secret. Browsers on the built-in waiting page send it as an
 * HttpOnly cookie scoped to the request's path (EventSource cannot set headers); such a stream only
 * says *that* the request was approved, and the page itself (a same-origin GET with the cookie)
 * claims the session into HttpOnly cookies, so the tokens never reach page scripts. API clients send
 * the `X-Device-Secret` header and receive the token pair in the `approved` event, exactly once.
 */
const crossDeviceRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  await fastify.register(cookie)
  const events = fastify.crossDeviceEvents

  /**
   * The device secret, and whether this caller claims the session (the header) or only learns the
   * outcome (the waiting page's cookie, where `fromCookie` allows it).
   */
  function deviceSecretOf (request: FastifyRequest, fromCookie: boolean): { secret: string, claim: boolean } {
    const header = request.headers[DEVICE_SECRET_HEADER]
    if (typeof header === 'string' && header !== '') return { secret: header, claim: true }
    const cookie = fromCookie ? request.cookies[deviceCookieScope(fastify.config.APP_URL, (request.params as { id: string }).id).name] : undefined
    if (cookie !== undefined && cookie !== '') return { secret: cookie, claim: false }
    throw new ValidationFailedError('the X-Device-Secret header is required')
  }

  /**
   * Admits a new wait, or refuses it: one this instance could not wake (subscriber down: 503), one
   * too many for the request, for the client's IP (CROSS_DEVICE_WAITS_PER_IP) or for this instance
   * (CROSS_DEVICE_WAITS_PER_INSTANCE): 429. Returns what gives the wait's place back when it ends.
   */
  function admitWait (request: FastifyRequest, requestId: string): () => void {
    if (!events.available) throw withExtras(new ServiceUnavailableError(), { retryAfter: 1 })
    if (events.waiting(requestId) >= MAX_WAITS_PER_REQUEST) throw withExtras(new RateLimitedError(), { retryAfter: 5 })
    const place = fastify.crossDeviceWaits.take(clientKey(request.ip))
    if ('refused' in place) {
      fastify.metrics.inc('latchkey_cross_device_waits_refused_total', { ceiling: place.refused })
      throw withExtras(new RateLimitedError(), { retryAfter: 5 })
    }
    return place.release
  }

  /** A claim whose waiter left before it returned: its session is revoked and the request approved again. */
  function giveBack (request: FastifyRequest, requestId: string) {
    return async (outcome: CrossDeviceOutcome): Promise<void> => {
      await fastify.crossDevice.release(requestId, outcome).catch((error: Error) => {
        request.log.warn({ err: { message: error.message } }, 'cross-device: could not give back an undelivered claim')
      })
    }
  }

  async function firstLook (request: FastifyRequest, requestId: string, secret: string, claim: boolean): Promise<CrossDeviceOutcome> {
    const outcome = secretFormat.test(secret) ? await fastify.crossDevice.outcome(requestId, secret, { claim, client: clientInfo(request) }) : { state: 'gone' as const }
    if (outcome.state === 'gone') throw new CrossDeviceGoneError()
    return outcome
  }

  fastify.get('/magic-link/requests/:id/events', {
    schema: {
      tags,
      operationId: 'streamCrossDeviceOutcome',
      security: [{ deviceSecret: [] }, { deviceCookie: [] }],
      summary: 'Wait for the approval (Server-Sent Events)',
      description: 'Streams the outcome of a cross-device request to the device that asked. Authenticate with the ' +
        '`X-Device-Secret` header (API clients; the built-in waiting page uses its HttpOnly cookie instead). Events: ' +
        '`pending` {matchNumber, expiresIn} first; then one final event, after which the server closes the stream ' +
        '(do not reconnect): `approved` {user, accessToken, refreshToken, expiresIn} (with the header; exactly once, ' +
        'the secret is then used up), `denied` {reason, message}, `expired` {message}, or `unavailable` {message, ' +
        'retryAfter} when Redis fails (reconnect after retryAfter seconds). A comment line every 15 s keeps proxies ' +
        'from closing the connection. A stream closed without a final event (server restart) should be reopened.',
      params: RequestParams,
      headers: DeviceSecretHeaders,
      querystring: Type.Object({}, { additionalProperties: false, description: 'No query parameters: the secret never goes in the URL' }),
      response: {
        200: { description: 'text/event-stream', content: { 'text/event-stream': { schema: Type.String() } } },
        ...waitErrors
      }
    }
  }, async (request, reply) => {
    const { id } = request.params
    const { secret, claim } = deviceSecretOf(request, true)
    // The stream holds its place from here until it ends, however it ends.
    const release = admitWait(request, id)
    let first: CrossDeviceOutcome
    try {
      first = await firstLook(request, id, secret, claim)
    } catch (error) {
      release()
      throw error
    }

    const stream = new PassThrough()
    let follower: Follower | undefined
    let heartbeat: NodeJS.Timeout | undefined
    const end = (): void => {
      clearInterval(heartbeat)
      follower?.stop()
      release()
      if (!stream.writableEnded) stream.end()
    }
    const finalEvent = (step: CrossDeviceOutcome | FinalStep): void => {
      if (step.state === 'approved') {
        stream.write(frame('approved', step.signedIn === null ? { next: requestPath(id) } : tokensOf(step.signedIn)))
      } else if (step.state === 'denied') {
        stream.write(frame('denied', { reason: step.reason, message: messages[step.reason] }))
      } else if (step.state === 'gone') {
        stream.write(frame('expired', { message: messages.expired }))
      } else if (step.state === 'unavailable') {
        stream.write(frame('unavailable', { message: messages.unavailable, retryAfter: 1 }))
      } // shutdown (or timeout, which streams do not set): no final event; the client reconnects (to another instance)
      end()
    }

    stream.on('close', end)
    stream.write('retry: 3000\n\n')
    if (first.state !== 'pending') {
      finalEvent(first)
    } else {
      stream.write(frame('pending', { matchNumber: first.matchNumber, expiresIn: Math.max(0, Math.ceil((first.expiresAt - fastify.clock.now()) / 1000)) }))
      heartbeat = setInterval(() => { if (!stream.writableEnded) stream.write(': keep-alive\n\n') }, HEARTBEAT_MS)
      heartbeat.unref()
      follower = events.follow({
        requestId: id,
        check: async () => await fastify.crossDevice.outcome(id, secret, { claim, client: clientInfo(request) }),
        onFinal: finalEvent,
        onUndelivered: giveBack(request, id)
      })
    }
    // The stream goes through the normal reply path (security headers, metrics); its schema only documents it.
    return await (reply as FastifyReply).type('text/event-stream; charset=utf-8').header('x-accel-buffering', 'no').send(stream)
  })

  fastify.get('/magic-link/requests/:id/outcome', {
    schema: {
      tags,
      operationId: 'pollCrossDeviceOutcome',
      security: [{ deviceSecret: [] }],
      summary: 'Wait for the approval (long-poll)',
      description: 'For clients without Server-Sent Events. Answers as soon as the request is decided, or after `wait` ' +
        'seconds (at most 30) with status pending; call again then. `approved` carries the token pair, exactly once ' +
        '(the secret is then used up). Authenticate with the `X-Device-Secret` header.',
      params: RequestParams,
      headers: DeviceSecretHeaders,
      querystring: Type.Object({
        // Query strings are never coerced (app.ts): digits, read below.
        wait: Type.Optional(Type.String({ pattern: '^[0-9]{1,2}$', description: `Seconds to wait for a decision, 0 to ${LONG_POLL_MAX_SECONDS} (default 25)`, examples: ['25'] }))
      }, { additionalProperties: false }),
      response: {
        200: Type.Union([Pending, Approved, Denied], { description: 'pending (call again), approved (the token pair, once) or denied' }),
        ...waitErrors
      }
    }
  }, async (request, reply) => {
    const { id } = request.params
    const { secret } = deviceSecretOf(request, false)
    const wait = Math.min(Number(request.query.wait ?? 25), LONG_POLL_MAX_SECONDS)
    const check = async (): Promise<CrossDeviceOutcome> => await fastify.crossDevice.outcome(id, secret, { claim: true, client: clientInfo(request) })

    let step: CrossDeviceOutcome | FinalStep = await firstLook(request, id, secret, true)
    if (step.state === 'pending' && wait > 0) {
      const release = admitWait(request, id)
      const pending = step
      step = await new Promise<CrossDeviceOutcome | FinalStep>((resolve) => {
        // The deadline asks the wait to end; a claim still running then finishes first, and its
        // tokens are answered rather than dropped (the next call would get 410).
        const timer = setTimeout(() => follower.end({ state: 'timeout' }), wait * 1000)
        const follower = events.follow({
          requestId: id,
          check,
          onFinal: (result) => { clearTimeout(timer); resolve(result.state === 'timeout' ? pending : result) },
          onUndelivered: giveBack(request, id)
        })
        reply.raw.once('close', () => { clearTimeout(timer); follower.stop(); resolve(pending) })
      }).finally(release)
    }

    if (step.state === 'pending') {
      return { status: 'pending' as const, matchNumber: step.matchNumber, expiresIn: Math.max(0, Math.ceil((step.expiresAt - fastify.clock.now()) / 1000)) }
    }
    if (step.state === 'approved' && step.signedIn !== null) return { status: 'approved' as const, ...tokensOf(step.signedIn) }
    if (step.state === 'denied') return { status: 'denied' as const, reason: step.reason }
    if (step.state === 'unavailable' || step.state === 'shutdown') throw withExtras(new ServiceUnavailableError(), { retryAfter: 1 })
    throw new CrossDeviceGoneError()
  })
}

export default crossDeviceRoutes
