import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { normalizeEmail } from '../services/email/email-address.js'
import type { CapturedMail } from '../services/email/mailer.js'
import { devInboxPage } from '../views/pages.js'
import { unlimited } from './route-options.js'
import { Email, errors, sendHtml } from './schemas.js'

const CapturedMessage = Type.Object({
  id: Type.Integer({ description: 'Increases with every email', examples: [3] }),
  date: Type.String({ format: 'date-time', examples: ['2026-11-23T09:30:00.000Z'] }),
  to: Type.String({ examples: ['ada@example.com'] }),
  subject: Type.String({ examples: ['Finish creating your Latchkey account'] }),
  link: Type.Union([Type.String(), Type.Null()], { description: 'The magic link, if the email carries one', examples: ['http://localhost:3000/auth/magic-link/verify?token=q9V2mS0cXwJ4e1kR7uT3yB8nH5gL6aZpD0fC2iE4oWs'] }),
  token: Type.Union([Type.String(), Type.Null()], { description: 'The link\'s token, ready for /auth/signup or /auth/magic-link/consume', examples: ['q9V2mS0cXwJ4e1kR7uT3yB8nH5gL6aZpD0fC2iE4oWs'] }),
  code: Type.Union([Type.String(), Type.Null()], { description: 'The six-digit code, if the email carries one', examples: [null] }),
  text: Type.String({ description: 'The plain-text body', examples: ['Finish signing up by opening this link: …'] })
})

const Inbox = Type.Object({
  messages: Type.Array(CapturedMessage, { description: 'Newest first' })
}, { description: 'The captured emails as JSON (Accept: application/json)' })

const asJson = (mail: CapturedMail) => ({
  id: mail.id,
  date: mail.date.toISOString(),
  to: mail.to,
  subject: mail.subject,
  link: mail.link ?? null,
  token: mail.link === undefined ? null : new URL(mail.link).searchParams.get('token'),
  code: mail.code ?? null,
  text: mail.text
})

/** Browsers (and anything that does not ask for JSON) get the page; `Accept: application/json` gets the data. */
const wantsJson = (accept: string | undefined): boolean => accept !== undefined && accept.includes('application/json') && !accept.includes('text/html')

/**
 * GET /dev/inbox: the mail the service would have sent, captured in memory, as a page or as JSON
 * with each email's link, token and code picked out (for scripts and the curl tour in docs/api-tour.md).
 * app.ts mounts this only when NODE_ENV=development and no SMTP_URL is set, never in production.
 */
const devInboxRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  const outbox = fastify.devOutbox
  if (outbox === null) throw new Error('the dev inbox needs the in-memory outbox (no SMTP_URL)')

  fastify.get('/dev/inbox', {
    ...unlimited,
    schema: {
      tags: ['development'],
      operationId: 'listCapturedEmails',
      security: [],
      summary: 'Captured emails (development only)',
      description: 'Lists the last 100 emails the service would have sent, newest first: a page with the links clickable, ' +
        'or, with `Accept: application/json`, JSON with each email\'s link, token and code. `to` keeps the emails to one address. ' +
        'Mounted only in development mode without SMTP_URL; never in production.',
      querystring: Type.Object({ to: Type.Optional(Email) }, { additionalProperties: false }),
      response: {
        200: {
          description: 'The inbox: a page, or JSON with Accept: application/json',
          content: {
            'text/html': { schema: Type.String({ description: 'HTML page' }) },
            'application/json': { schema: Inbox }
          }
        },
        ...errors({ 400: 'VALIDATION_FAILED', 503: 'SERVICE_UNAVAILABLE while the server shuts down' })
      }
    }
  }, async (request, reply) => {
    const to = request.query.to === undefined ? undefined : normalizeEmail(request.query.to)
    const messages = outbox.messages().filter((mail) => to === undefined || mail.to === to)
    if (wantsJson(request.headers.accept)) return await reply.type('application/json; charset=utf-8').send({ messages: messages.map(asJson) })
    return await sendHtml(reply, 200, devInboxPage({ messages, appUrl: fastify.config.APP_URL }))
  })
}

export default devInboxRoutes
