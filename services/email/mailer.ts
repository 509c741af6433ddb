import nodemailer from 'nodemailer'
import { EmailUnavailableError, withExtras } from '../infrastructure/errors.js'
import type { MailContent } from './mail-templates.js'
import type { Metrics } from '../infrastructure/metrics.js'

export interface OutgoingMail extends MailContent {
  to: string
}

export interface CapturedMail extends OutgoingMail {
  id: number
  date: Date
}

/** What the flows need from email delivery: one awaited send that either succeeds or throws. */
export interface Mailer {
  send: (mail: OutgoingMail) => Promise<void>
  close: () => void
}

export class MailDeliveryError extends Error {
  override name = 'MailDeliveryError'
}

/** Seconds a client should wait before asking again after a failed send (Retry-After on EMAIL_UNAVAILABLE). */
export const EMAIL_RETRY_AFTER = 30

/** Anything that looks like an email address, bracketed or not. */
const ADDRESS = /<?[^\s<>@]+@[^\s<>@]+>?/g

/**
 * What went wrong on the SMTP side, for the log, without the recipient: nodemailer's error code,
 * the server's reply code, the command it answered and its reply text with addresses replaced
 * (a refusal usually quotes the recipient).
 */
export function describeSmtpFailure (error: unknown): string {
  const { code, responseCode, command, response, message } = (error ?? {}) as Record<string, unknown>
  const parts = [
    typeof code === 'string' ? code : undefined,
    typeof responseCode === 'number' ? String(responseCode) : undefined,
    typeof command === 'string' ? `after ${command.split(' ')[0]}` : undefined
  ].filter((part) => part !== undefined)
  const reply = typeof response === 'string' ? response : typeof message === 'string' ? message : ''
  const text = reply.replace(ADDRESS, '<address>').replace(/\s+/g, ' ').trim().slice(0, 200)
  return [parts.join(' '), text].filter(Boolean).join(': ') || 'unknown error'
}

/**
 * Mailer over SMTP. Connections are pooled (a few, reused for many messages): SMTP servers greet
 * slowly on purpose (early-talker checks), so a connection per email costs 100 ms or more.
 * Every stage is bounded by `timeoutMs` (connect, greeting, socket inactivity) and the whole send
 * is raced against it, so a server that drips bytes cannot hold a request.
 * Failures surface as MailDeliveryError; the message never contains credentials.
 */
export function createSmtpMailer ({ url, from, timeoutMs }: { url: string, from: string, timeoutMs: number }): Mailer {
  const parsed = new URL(url)
  const transport = nodemailer.createTransport({
    pool: true,
    maxConnections: 5,
    maxMessages: 100,
    host: parsed.hostname.replace(/^\[|\]$/g, ''),
    port: parsed.port === '' ? (parsed.protocol === 'smtps:' ? 465 : 587) : Number(parsed.port),
    secure: parsed.protocol === 'smtps:',
    auth: parsed.username === '' ? undefined : { user: decodeURIComponent(parsed.username), pass: decodeURIComponent(parsed.password) },
    connectionTimeout: timeoutMs,
    greetingTimeout: timeoutMs,
    socketTimeout: timeoutMs,
    disableFileAccess: true,
    disableUrlAccess: true
  })

  return {
    async send (mail) {
      let timer: NodeJS.Timeout | undefined
      const deadline = new Promise<never>((_resolve, reject) => {
        timer = setTimeout(() => reject(new MailDeliveryError(`SMTP did not finish within ${timeoutMs} ms`)), timeoutMs)
      })
      try {
        await Promise.race([
          transport.sendMail({ from, to: mail.to, subject: mail.subject, text: mail.text, html: mail.html }),
          deadline
        ])
      } catch (error) {
        if (error instanceof MailDeliveryError) throw error
        throw new MailDeliveryError(`SMTP delivery failed: ${describeSmtpFailure(error)}`, { cause: error })
      } finally {
        clearTimeout(timer)
      }
    },
    close () {
      transport.close()
    }
  }
}

/** Development mailer: keeps the last `limit` messages in memory for the /dev/inbox page. */
export function createMemoryMailer ({ limit = 100 }: { limit?: number } = {}): Mailer & { messages: () => CapturedMail[] } {
  const messages: CapturedMail[] = []
  let nextId = 1
  return {
    async send (mail) {
      messages.unshift({ ...mail, id: nextId++, date: new Date() })
      messages.length = Math.min(messages.length, limit)
    },
    close () {},
    messages: () => [...messages]
  }
}

/**
 * Sends the email that carries a new link or code, and counts it. When delivery fails (refused,
 * or slower than SMTP_TIMEOUT) `undo` removes what the email carried and gives the email slot
 * back, so nothing live is left behind, and the caller gets 503 EMAIL_UNAVAILABLE.
 */
export async function deliverOrUndo (mailer: Mailer, metrics: Metrics, kind: 'magic-link' | 'otp', mail: OutgoingMail, undo: () => Promise<unknown>): Promise<void> {
  try {
    await mailer.send(mail)
    metrics.inc('latchkey_emails_total', { kind, result: 'sent' })
  } catch (error) {
    if (!(error instanceof MailDeliveryError)) throw error
    metrics.inc('latchkey_emails_total', { kind, result: 'failed' })
    await undo()
    throw withExtras(new EmailUnavailableError({ cause: error }), { retryAfter: EMAIL_RETRY_AFTER })
  }
}
