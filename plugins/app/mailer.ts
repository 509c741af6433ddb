import fp from 'fastify-plugin'
import { createMemoryMailer, createSmtpMailer, type CapturedMail, type Mailer } from '../../services/email/mailer.js'

declare module 'fastify' {
  interface FastifyInstance {
    mailer: Mailer
    /** Development only (no SMTP_URL): the messages the service would have sent. */
    devOutbox: { messages: () => CapturedMail[] } | null
  }
}

/** SMTP when SMTP_URL is set; in development without it, an in-memory outbox read at /dev/inbox. */
export default fp(async function mailerPlugin (fastify) {
  const { SMTP_URL, MAIL_FROM, SMTP_TIMEOUT } = fastify.config
  if (SMTP_URL === undefined) {
    const outbox = createMemoryMailer()
    fastify.decorate('mailer', outbox)
    fastify.decorate('devOutbox', outbox)
  } else {
    fastify.decorate('mailer', createSmtpMailer({ url: SMTP_URL, from: MAIL_FROM, timeoutMs: SMTP_TIMEOUT }))
    fastify.decorate('devOutbox', null)
  }
  fastify.addHook('onClose', async () => { fastify.mailer.close() })
}, { name: 'mailer', dependencies: ['config'] })
