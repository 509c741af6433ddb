import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { sessionSignedOutPage, signOutLinkGonePage, signOutSessionPage } from '../../views/events.js'
import { errors, HtmlPage, sendHtml } from '../schemas.js'
import { Field, tags } from './forms.js'

/**
 * The "Not you? Sign that session out" link of a new-device email (NOTIFY_NEW_DEVICE,
 * services/events/new-device.ts). Scanner-safe like the magic link: GET only shows the sign-in and
 * a button; the POST consumes the single-use token and revokes that session at once. The token is
 * the only credential (a form without it does nothing), so no session cookie or CSRF token is needed.
 */
const signOutSessionRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.get('/auth/sign-out-session', {
    schema: {
      operationId: 'showSessionSignOut',
      tags,
      security: [],
      summary: 'New-device email link: the sign-in, and a button to end it',
      description: 'Opened from the "Not you?" link of a new-device email. Shows what signed in, where and when; nothing is revoked by this GET.',
      querystring: Type.Object({ token: Field(64) }, { additionalProperties: false }),
      response: {
        200: HtmlPage('The sign-in and a button that signs it out'),
        410: HtmlPage('The link was used or has expired'),
        ...errors({ 400: 'VALIDATION_FAILED', 503: 'SERVICE_UNAVAILABLE' })
      }
    }
  }, async (request, reply) => {
    const token = request.query.token ?? ''
    const notice = await fastify.newDevice.inspect(token)
    if (notice === null) return await sendHtml(reply, 410, signOutLinkGonePage())
    return await sendHtml(reply, 200, signOutSessionPage({ token, notice }))
  })

  fastify.post('/auth/sign-out-session', {
    schema: {
      operationId: 'signOutSessionFromEmail',
      tags,
      security: [],
      summary: 'New-device email link: sign that session out',
      description: 'The button of GET /auth/sign-out-session posts the token here (form field token). Single use: the session is revoked at once.',
      body: Type.Object({ token: Field(64) }, { additionalProperties: false }),
      response: {
        200: HtmlPage('The session is signed out'),
        410: HtmlPage('The link was used or has expired'),
        ...errors({ 400: 'VALIDATION_FAILED', 503: 'SERVICE_UNAVAILABLE' })
      }
    }
  }, async (request, reply) => {
    const notice = await fastify.newDevice.signOut(request.body.token ?? '')
    if (notice === null) return await sendHtml(reply, 410, signOutLinkGonePage())
    return await sendHtml(reply, 200, sessionSignedOutPage({ notice }))
  })
}

export default signOutSessionRoutes
