import fp from 'fastify-plugin'
import { createMemoryMailer, createSmtpMailer, MailDeliveryError, type CapturedMail, type Mailer } from '../../services/email/mailer.js'

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
    const smtp = createSmtpMailer({ url: SMTP_URL, from: MAIL_FROM, timeoutMs: SMTP_TIMEOUT })
    fastify.decorate('mailer', {
      // Whoever catches the failure (the error handler, a page), the cause is logged once, here,
      // without the recipient's address; the client gets 503 EMAIL_UNAVAILABLE with Retry-After.
      async send (mail) {
        try {
          await smtp.send(mail)
        } catch (error) {
          if (error instanceof MailDeliveryError) fastify.log.warn({ smtp: error.message }, 'email could not be sent')
          throw error
        }
      },
      close: () => { smtp.close() }
    } satisfies Mailer)
    fastify.decorate('devOutbox', null)
  }
  fastify.addHook('onClose', async () => { fastify.mailer.close() })
}, { name: 'mailer', dependencies: ['config'] })
