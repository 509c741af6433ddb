import { simpleParser, type ParsedMail } from 'mailparser'
import { SMTPServer } from 'smtp-server'
import { freePort } from './ports.js'

export type SinkMode = 'accept' | 'refuse' | 'reject-recipient' | 'hang'

/**
 * A real SMTP server, in process, that records what it receives (parsed with mailparser) so tests
 * read links and codes out of the delivered email as a person would. `mode` makes it refuse
 * every message (550), reject the recipient as real servers do (550 quoting the address), or hang
 * after the DATA command, to test delivery failures.
 */
export async function startSmtpSink () {
  const port = await freePort()
  const messages: ParsedMail[] = []
  const waiters = new Set<() => void>()
  let mode: SinkMode = 'accept'
  let pending = 0

  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    closeTimeout: 500,
    disableReverseLookup: true, // no DNS on a test machine: a reverse lookup would cost ~100 ms per message
    onRcptTo (address, _session, callback) {
      if (mode !== 'reject-recipient') { callback(); return }
      callback(Object.assign(new Error(`5.1.1 <${address.address}>: Recipient address rejected: User unknown`), { responseCode: 550 }))
    },
    onData (stream, _session, callback) {
      if (mode === 'hang') { pending++; stream.resume(); return } // never answer
      const chunks: Buffer[] = []
      stream.on('data', (chunk: Buffer) => chunks.push(chunk))
      stream.on('end', () => {
        if (mode === 'refuse') {
          callback(Object.assign(new Error('Mailbox unavailable'), { responseCode: 550 }))
          return
        }
        simpleParser(Buffer.concat(chunks)).then((mail) => {
          messages.push(mail)
          for (const wake of waiters) wake()
          callback()
        }, callback)
      })
    }
  })
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve))

  const recipients = (mail: ParsedMail): string[] =>
    (Array.isArray(mail.to) ? mail.to : mail.to === undefined ? [] : [mail.to]).flatMap((to) => to.value.map((entry) => (entry.address ?? '').toLowerCase()))

  return {
    url: `smtp://127.0.0.1:${port}`,
    messages,
    recipients,
    setMode (next: SinkMode): void { mode = next },
    /** Messages the sink is holding without an answer (hang mode). */
    pending: (): number => pending,
    /** Messages delivered to `address` so far. */
    inbox (address: string): ParsedMail[] {
      return messages.filter((mail) => recipients(mail).includes(address.toLowerCase()))
    },
    /** Waits for the `count`-th message to `address` (1 = the first). */
    async waitForMail (address: string, { count = 1, timeoutMs = 5_000 } = {}): Promise<ParsedMail> {
      const deadline = Date.now() + timeoutMs
      while (true) {
        const box = this.inbox(address)
        if (box.length >= count) return box[count - 1]!
        const left = deadline - Date.now()
        if (left <= 0) throw new Error(`no email #${count} for ${address} within ${timeoutMs} ms`)
        await new Promise<void>((resolve) => {
          const timer = setTimeout(() => { waiters.delete(wake); resolve() }, left)
          const wake = () => { clearTimeout(timer); waiters.delete(wake); resolve() }
          waiters.add(wake)
        })
      }
    },
    async close (): Promise<void> {
      await new Promise<void>((resolve) => server.close(() => resolve()))
    }
  }
}

export type SmtpSink = Awaited<ReturnType<typeof startSmtpSink>>
