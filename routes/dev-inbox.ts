import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { devInboxPage } from '../views/pages.js'
import { unlimited } from './route-options.js'
import { errors, HtmlPage, sendHtml } from './schemas.js'

/**
 * GET /dev/inbox: the mail the service would have sent, captured in memory. app.ts mounts this
 * only when NODE_ENV=development and no SMTP_URL is set, never in production.
 */
const devInboxRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  const outbox = fastify.devOutbox
  if (outbox === null) throw new Error('the dev inbox needs the in-memory outbox (no SMTP_URL)')

  fastify.get('/dev/inbox', {
    ...unlimited,
    schema: {
      tags: ['development'],
      summary: 'Captured emails (development only)',
      description: 'Lists the last 100 emails the service would have sent, newest first, with their links clickable. ' +
        'Mounted only in development mode without SMTP_URL; never in production.',
      response: { 200: HtmlPage('The inbox page'), ...errors({ 503: 'SERVICE_UNAVAILABLE while the server shuts down' }) }
    }
  }, async (_request, reply) => {
    return await sendHtml(reply, 200, devInboxPage({ messages: outbox.messages(), appUrl: fastify.config.APP_URL }))
  })
}

export default devInboxRoutes
