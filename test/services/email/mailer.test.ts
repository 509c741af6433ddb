import t from 'tap'
import { createMemoryMailer, createSmtpMailer, describeSmtpFailure, MailDeliveryError } from '../../../services/email/mailer.js'
import { freePort } from '../../stack/ports.js'
import { startSmtpSink } from '../../stack/smtp-sink.js'

const sink = await startSmtpSink()
t.teardown(async () => { await sink.close() })
const mail = { to: 'reader@example.com', subject: 'Hello', text: 'plain body', html: '<p>html body</p>' }

t.test('delivers text and HTML to one recipient', async (t) => {
  const mailer = createSmtpMailer({ url: sink.url, from: 'Latchkey <no-reply@example.com>', timeoutMs: 2_000 })
  t.teardown(() => mailer.close())
  await mailer.send(mail)
  const received = await sink.waitForMail('reader@example.com')
  t.equal(received.subject, 'Hello')
  t.equal(received.text?.trim(), 'plain body')
  t.match(received.html, /html body/)
  t.same(sink.recipients(received), ['reader@example.com'])
  t.equal(received.from?.value[0]?.address, 'no-reply@example.com')
})

t.test('refusal and silence both become MailDeliveryError within the timeout', async (t) => {
  const mailer = createSmtpMailer({ url: sink.url, from: 'no-reply@example.com', timeoutMs: 600 })
  t.teardown(() => { mailer.close(); sink.setMode('accept') })
  sink.setMode('refuse')
  await t.rejects(mailer.send(mail), MailDeliveryError)
  sink.setMode('hang')
  const started = Date.now()
  await t.rejects(mailer.send(mail), MailDeliveryError, 'a hanging server is cut off')
  // Bounded, not hung (nodemailer's own default socket timeout is 10 minutes); generous slack.
  t.ok(Date.now() - started < 5_000, `within the 600 ms timeout plus slack (${Date.now() - started} ms)`)
})

t.test('an unreachable server fails fast and the error carries no credentials', async (t) => {
  const port = await freePort()
  const mailer = createSmtpMailer({ url: `smtp://user:s3cret@127.0.0.1:${port}`, from: 'no-reply@example.com', timeoutMs: 1_000 })
  t.teardown(() => mailer.close())
  const error = await mailer.send(mail).then(() => null, (e: Error) => e)
  t.type(error, MailDeliveryError)
  t.notOk(String(error?.message).includes('s3cret'))
})

t.test('the development outbox keeps the latest messages, newest first', async (t) => {
  const outbox = createMemoryMailer({ limit: 2 })
  for (const subject of ['one', 'two', 'three']) await outbox.send({ ...mail, subject })
  t.same(outbox.messages().map((message) => message.subject), ['three', 'two'])
})

t.test('a refused recipient is described by code, command and reply, with the address taken out', async (t) => {
  const mailer = createSmtpMailer({ url: sink.url, from: 'no-reply@example.com', timeoutMs: 2_000 })
  t.teardown(() => { mailer.close(); sink.setMode('accept') })
  sink.setMode('reject-recipient')
  const error = await mailer.send(mail).then(() => null, (e: Error) => e)
  t.type(error, MailDeliveryError)
  t.match(error?.message, /^SMTP delivery failed: EENVELOPE 550 after RCPT: .*<address>: Recipient address rejected/)
  t.notOk(String(error?.message).includes('reader'), 'no trace of the recipient')
  t.equal(describeSmtpFailure({ code: 'ETIMEDOUT' }), 'ETIMEDOUT')
  t.equal(describeSmtpFailure(undefined), 'unknown error')
})
