import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { Value } from '@sinclair/typebox/value'
import { isValidEmail, normalizeEmail } from '../../services/email/email-address.js'
import { CrossDeviceBusyError, EmailTakenError, type ErrorExtras } from '../../services/infrastructure/errors.js'
import { DEVICE_SECRET_PATTERN, REQUEST_ID_PATTERN, type ApprovalView, type Decision } from '../../services/links/cross-device.js'
import { coarseIp, describeDevice, sameNetwork } from '../../services/links/cross-device-describe.js'
import {
  alreadyAnsweredPage, approvalPage, approvedPage, deniedHerePage, requestDeniedPage, requestExpiredPage, waitingPage, wrongNumberPage
} from '../../views/cross-device.js'
import { CROSS_DEVICE_SCRIPT, CROSS_DEVICE_STYLES } from '../../views/cross-device-assets.js'
import { ago } from '../../views/format.js'
import { linkExpiredPage } from '../../views/magic-link.js'
import { emailTakenPage, formExpiredPage, startPage } from '../../views/pages.js'
import { deviceCookieScope, requestPath } from '../auth/cross-device.js'
import { clientInfo } from '../client-info.js'
import { perIpLimit, signInLimit, unlimited } from '../route-options.js'
import { errors, HtmlPage, Name, sendHtml } from '../schemas.js'
import { Csrf, emailFormRefusals, emailNotSent, Field, retryText, tags } from './forms.js'
import { createPageSession } from './page-session.js'

const secretFormat = new RegExp(DEVICE_SECRET_PATTERN)
/** The typed match number: one or two digits ("7" and "07" are the same number). */
const typedNumber = /^[0-9]{1,2}$/

/**
 * The pages of a cross-device sign-in. The start page's "Sign in on this device from my phone"
 * posts here; this browser gets the device secret in an HttpOnly, SameSite=Strict cookie scoped
 * to its request's path, and a waiting screen with the number to type. The emailed link opens the
 * approval page on any device: GET only shows it (mail scanners), with where the request came
 * from next to where this device is; Approve (with the number typed) and Deny POST with the CSRF
 * token.
 */
const crossDevicePageRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  const { signedIn } = createPageSession(fastify)
  const deviceCookie = (requestId: string) => {
    const { path, secure } = deviceCookieScope(fastify.config.APP_URL, requestId)
    return { path, httpOnly: true, sameSite: 'strict' as const, secure }
  }
  const deviceCookieName = (requestId: string): string => deviceCookieScope(fastify.config.APP_URL, requestId).name
  const ttlSeconds = fastify.config.MAGIC_LINK_TTL

  /** The approval page for `view`, as this request's device sees it (its own whereabouts beside the asker's). */
  function approval (request: FastifyRequest, reply: FastifyReply, token: string, view: ApprovalView, extra: { error?: string, nameError?: boolean, numberError?: boolean, name?: string } = {}): string {
    const here = { device: describeDevice(request.headers['user-agent']), place: coarseIp(request.ip) }
    return approvalPage({
      token, csrf: fastify.pageCsrf(request, reply), view, here, sameNetwork: sameNetwork(view.place, here.place), ago: ago(fastify.clock.now() - view.createdAt), ...extra
    })
  }

  fastify.post('/auth/magic-link/requests', {
    ...signInLimit(fastify),
    attachValidation: true,
    schema: {
      tags,
      operationId: 'submitCrossDeviceForm',
      security: [],
      summary: 'Start page form: sign in on this device from my phone',
      description: 'Form fields csrf, email. Emails an approval link (same for known and unknown addresses), keeps the device ' +
        'secret in an HttpOnly cookie scoped to the request, and goes to the waiting page (303).',
      body: Type.Object({ csrf: Csrf, email: Field(512), method: Field(16) }, { additionalProperties: false }),
      response: {
        303: { description: 'To the waiting page, with the device cookie' },
        400: HtmlPage('The start page again, saying what is wrong with the address'),
        ...emailFormRefusals,
        429: HtmlPage('EMAIL_RATE_LIMITED, or RATE_LIMITED when the address already has CROSS_DEVICE_OPEN_PER_ADDRESS open requests: the start page with the wait, and Retry-After')
      }
    }
  }, async (request, reply) => {
    const body = request.validationError === undefined ? request.body : {}
    const typed = body.email ?? ''
    if (!fastify.checkPageCsrf(request, body.csrf)) return await sendHtml(reply, 403, formExpiredPage({ email: isValidEmail(typed) ? normalizeEmail(typed) : undefined }))
    const again = (status: number, error: string, invalidEmail = false) =>
      sendHtml(reply, status, startPage({ csrf: fastify.pageCsrf(request, reply), email: typed, error, invalidEmail }))
    if (!isValidEmail(typed)) return await again(400, 'Enter one email address, like ada@example.com.', true)
    try {
      const ticket = await fastify.crossDevice.requestSignIn(normalizeEmail(typed), clientInfo(request))
      reply.setCookie(deviceCookieName(ticket.requestId), ticket.deviceSecret, { ...deviceCookie(ticket.requestId), maxAge: ticket.expiresIn })
      return await reply.redirect(requestPath(ticket.requestId), 303)
    } catch (error) {
      if (error instanceof CrossDeviceBusyError) {
        const extras = error as ErrorExtras
        if (extras.retryAfter !== undefined) reply.header('retry-after', String(extras.retryAfter))
        return await again(429, `This address already has open sign-in requests. Approve or deny one from the email, or try again ${retryText(extras)}.`)
      }
      return await emailNotSent(reply, error, again)
    }
  })

  fastify.get('/auth/magic-link/requests/:id', {
    attachValidation: true,
    schema: {
      tags,
      operationId: 'showWaitingPage',
      security: [{ deviceCookie: [] }],
      summary: 'Waiting page of a cross-device sign-in',
      description: 'Shows the number to type on the other device and updates live (Server-Sent Events; without JavaScript it ' +
        'refreshes every 5 s). Once approved, a load of this page signs this browser in (session cookies, 303 to /account); ' +
        'it reads the device secret from its cookie only.',
      params: Type.Object({ id: Type.String({ pattern: REQUEST_ID_PATTERN, examples: ['Xq3vR8kT2mLp9sW4yB7nHc'] }) }, { additionalProperties: false }),
      response: {
        200: HtmlPage('Waiting (the number to type), or the denial'),
        303: { description: 'Approved: signed in, to /account' },
        410: HtmlPage('The request expired, was finished, or was started in another browser'),
        ...errors({ 429: 'RATE_LIMITED', 503: 'SERVICE_UNAVAILABLE' })
      }
    }
  }, async (request, reply) => {
    if (request.validationError !== undefined) return await sendHtml(reply, 410, requestExpiredPage({ ttlSeconds }))
    const { id } = request.params
    const secret = request.cookies[deviceCookieName(id)]
    if (secret === undefined || !secretFormat.test(secret)) return await sendHtml(reply, 410, requestExpiredPage({ ttlSeconds }))

    const outcome = await fastify.crossDevice.outcome(id, secret, { claim: true, client: clientInfo(request) })
    if (outcome.state === 'pending') {
      return await sendHtml(reply, 200, waitingPage({ requestId: id, matchNumber: outcome.matchNumber, email: outcome.email, expiresAt: outcome.expiresAt, now: fastify.clock.now() }))
    }
    reply.clearCookie(deviceCookieName(id), deviceCookie(id))
    if (outcome.state === 'approved' && outcome.signedIn !== null) return await signedIn(reply, outcome.signedIn)
    if (outcome.state === 'denied') return await sendHtml(reply, 200, requestDeniedPage({ reason: outcome.reason }))
    return await sendHtml(reply, 410, requestExpiredPage({ ttlSeconds }))
  })

  fastify.get('/auth/magic-link/approve', {
    // Mail scanners open links too; the token is 256-bit, so this only bounds load.
    ...perIpLimit(3 * fastify.config.RATE_LIMIT_AUTH),
    attachValidation: true,
    schema: {
      tags,
      operationId: 'showApprovalPage',
      security: [],
      summary: 'Approval page (the emailed cross-device link)',
      description: 'Shows who asks to sign in (browser, system, coarse network, how long ago) next to where this device is, with ' +
        'a warning when the two networks differ (IPv4 /24, IPv6 /48), and a field to type the number shown on the asking device. ' +
        'Never changes anything (mail scanners GET and HEAD links).',
      querystring: Type.Object({ token: Type.String({ maxLength: 256 }) }, { additionalProperties: false }),
      response: {
        200: HtmlPage('The approval page'),
        410: HtmlPage('The link expired, or the request was already answered'),
        ...errors({ 429: 'RATE_LIMITED', 503: 'SERVICE_UNAVAILABLE' })
      }
    }
  }, async (request, reply) => {
    const token = request.validationError === undefined ? request.query.token : ''
    const view = await fastify.crossDevice.inspectLink(token)
    if (view === null) return await sendHtml(reply, 410, linkExpiredPage({ ttlSeconds }))
    if (view.state === 'answered') return await sendHtml(reply, 410, alreadyAnsweredPage())
    return await sendHtml(reply, 200, approval(request, reply, token, view))
  })

  fastify.post('/auth/magic-link/approve', {
    ...signInLimit(fastify),
    attachValidation: true,
    schema: {
      tags,
      operationId: 'submitApprovalForm',
      security: [],
      summary: 'Approval page form: type the number, or deny',
      description: 'Form fields csrf, token, and either choice (the number typed, one or two digits; the right one approves, a ' +
        'wrong one denies for good) with name (signup requests) and here=1 (also sign in this device), or decision=deny. A ' +
        'request is decided at most once.',
      body: Type.Object({ csrf: Csrf, token: Field(256), choice: Field(8), decision: Field(16), here: Field(8), name: Field(200) }, { additionalProperties: false }),
      response: {
        200: HtmlPage('Approved (the other device signs in), denied, or cancelled after a wrong number'),
        303: { description: 'Approved with here=1: this device is signed in too, to /account' },
        400: HtmlPage('The approval page again: no number typed (or not one or two digits), or no name for a new account'),
        403: HtmlPage('Form expired (CSRF token missing or wrong)'),
        409: HtmlPage('EMAIL_TAKEN: the address was registered meanwhile'),
        410: HtmlPage('The link expired, or the request was already answered'),
        ...errors({ 429: 'RATE_LIMITED', 503: 'SERVICE_UNAVAILABLE' })
      }
    }
  }, async (request, reply) => {
    const body = request.validationError === undefined ? request.body : {}
    if (!fastify.checkPageCsrf(request, body.csrf)) return await sendHtml(reply, 403, formExpiredPage())
    const token = body.token ?? ''
    const view = await fastify.crossDevice.inspectLink(token)
    if (view === null) return await sendHtml(reply, 410, linkExpiredPage({ ttlSeconds }))
    if (view.state === 'answered') return await sendHtml(reply, 410, alreadyAnsweredPage())

    const name = (body.name ?? '').trim()
    const again = (status: number, error: string, field: 'name' | 'number') =>
      sendHtml(reply, status, approval(request, reply, token, view, { error, nameError: field === 'name', numberError: field === 'number', name }))
    let decision: Decision
    if (body.decision === 'deny') {
      decision = { kind: 'deny' }
    } else {
      if (view.purpose === 'signup' && !Value.Check(Name, name)) return await again(400, 'Enter your name (1 to 100 characters), then type the number.', 'name')
      const typed = (body.choice ?? '').trim()
      if (!typedNumber.test(typed)) return await again(400, 'Type the number shown on the device that asked: one or two digits.', 'number')
      decision = { kind: 'approve', choice: Number(typed), name, signInHere: body.here === '1' }
    }

    try {
      const decided = await fastify.crossDevice.decide(token, decision, clientInfo(request))
      switch (decided.result) {
        case 'approved':
          return decided.signedIn === null ? await sendHtml(reply, 200, approvedPage({ device: view.device })) : await signedIn(reply, decided.signedIn)
        case 'denied': return await sendHtml(reply, 200, deniedHerePage())
        case 'wrong-number': return await sendHtml(reply, 200, wrongNumberPage())
        case 'answered': return await sendHtml(reply, 410, alreadyAnsweredPage())
        default: return await sendHtml(reply, 410, linkExpiredPage({ ttlSeconds }))
      }
    } catch (error) {
      if (error instanceof EmailTakenError) return await sendHtml(reply, 409, emailTakenPage({ email: view.email }))
      throw error
    }
  })

  for (const [path, type, content] of [
    ['/assets/cross-device.css', 'text/css; charset=utf-8', CROSS_DEVICE_STYLES],
    ['/assets/cross-device.js', 'text/javascript; charset=utf-8', CROSS_DEVICE_SCRIPT]
  ] as const) {
    fastify.get(path, {
      ...unlimited,
      schema: {
        tags,
        operationId: path.endsWith('.js') ? 'getCrossDeviceScript' : 'getCrossDeviceStylesheet',
        security: [],
        summary: `${path.endsWith('.js') ? 'Script' : 'Stylesheet'} of the cross-device pages`,
        description: 'Static; Cache-Control: public, max-age=86400.',
        response: { 200: { description: 'The file', content: { [type.split(';')[0]!]: { schema: Type.String() } } }, ...errors({ 503: 'SERVICE_UNAVAILABLE while the server shuts down' }) }
      }
    }, async (_request, reply) => {
      return await reply.type(type).header('cache-control', 'public, max-age=86400').send(content)
    })
  }
}

export default crossDevicePageRoutes
