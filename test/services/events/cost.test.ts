import type { FastifyInstance } from 'fastify'
import t from 'tap'
import { bearer, buildApp, codeFrom, json, signUp, startStack, uniqueEmail } from '../../helper.js'

/**
 * The cost of events on the request path (issue 21 item 9): a sign-in makes exactly one MongoDB
 * write more (its pending event), a logout none (its events are derived from the journal in the
 * background), and the Bearer path none at all.
 */
const stack = await startStack(t)

const WRITES = new Set(['insert', 'update', 'delete', 'findAndModify'])

/** The MongoDB writes `work` sends, as "command collection". */
async function writesDuring (app: FastifyInstance, work: () => Promise<unknown>): Promise<string[]> {
  const seen: string[] = []
  const client = app.mongo.connection.getClient()
  const listener = (event: { commandName: string, command: Record<string, unknown> }) => {
    if (WRITES.has(event.commandName)) seen.push(`${event.commandName} ${String(event.command[event.commandName])}`)
  }
  client.on('commandStarted', listener)
  try {
    await work()
  } finally {
    client.off('commandStarted', listener)
  }
  return seen.sort()
}

t.test('one extra write per sign-in, none per logout or Bearer request', async (t) => {
  const app = await buildApp(t, stack, { EMAIL_COOLDOWN: '0', EMAIL_HOURLY_LIMIT: '100000' }, { events: { background: false }, dataLossCheckMs: 3_600_000 })
  const email = uniqueEmail('cost')
  await signUp(app, stack, email)
  await app.inject({ method: 'POST', url: '/auth/otp', payload: { email } })
  const code = codeFrom(await stack.smtp.waitForMail(email, { count: 2 }))
  let signedIn: { accessToken: string } = { accessToken: '' }
  const signIn = await writesDuring(app, async () => {
    signedIn = json(await app.inject({ method: 'POST', url: '/auth/otp/verify', payload: { email, code } }))
  })
  t.same(signIn, ['insert auditevents', 'insert sessions'], 'a code sign-in: its session and its pending event')

  t.same(await writesDuring(app, async () => await app.inject({ method: 'GET', url: '/auth/me', headers: bearer(signedIn.accessToken) })), [], 'the Bearer path writes nothing')
  const logout = await writesDuring(app, async () => await app.inject({ method: 'POST', url: '/auth/logout', headers: bearer(signedIn.accessToken) }))
  t.notOk(logout.some((write) => write.endsWith('auditevents')), `a logout writes no event itself (${logout.join(', ')})`)
})
