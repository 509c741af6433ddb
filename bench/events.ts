/**
 * npm run bench:events (issue 21 item 9): the cost of webhooks on a sign-in. Two apps in this
 * process on the test stack (throwaway redis-server, FerretDB, SMTP sink), each with the events'
 * background passes on: webhooks off (no WEBHOOK_URL) and on (an env endpoint on a loopback
 * receiver answering 204). BENCH_SIGNINS (200) sequential email-code sign-ins each, alternating
 * in rounds of 10; only POST /auth/otp/verify is timed (app.inject). Prints p50/p99, the MongoDB
 * commands each verify sent (by command and collection; only those issued inside the request,
 * told apart from the background passes by AsyncLocalStorage), the Bearer path's commands, and the
 * deliveries the receiver got after waiting (at most 30 s) for the background to drain.
 * Not part of the CI test run.
 */
import { AsyncLocalStorage } from 'node:async_hooks'
import { randomBytes } from 'node:crypto'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import Fastify, { type FastifyInstance } from 'fastify'
import app, { serverOptions } from '../app.js'
import { codeFrom, signUp, testConfig, uniqueEmail } from '../test/helper.js'
import { fmt, machine, percentile, sleep, startStack, table } from './lib.js'

const signIns = Number(process.env.BENCH_SIGNINS ?? 200)
const roundSize = 10
const inRequest = new AsyncLocalStorage<boolean>()

console.log(`Latchkey bench:events — ${new Date().toISOString()} — ${machine()}`)
let received = 0
const receiver = createServer((request, response) => {
  request.resume()
  request.on('end', () => { received++; response.writeHead(204).end() })
})
await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve))
const hookUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`
const stack = await startStack()
const apps: FastifyInstance[] = []

interface Variant { name: string, app: FastifyInstance, email: string, ms: number[], commands: Map<string, number>, bearer: number, token: string }

async function build (overrides: Record<string, string>): Promise<FastifyInstance> {
  const config = testConfig(stack, { EMAIL_COOLDOWN: '0', EMAIL_HOURLY_LIMIT: '100000000', ...overrides })
  const fastify = Fastify(serverOptions(config))
  apps.push(fastify)
  await fastify.register(app, { config, events: { background: true } })
  await fastify.ready()
  fastify.mongo.connection.getClient().on('commandStarted', (event: { commandName: string, command: Record<string, unknown> }) => {
    if (inRequest.getStore() !== true) return
    const key = `${event.commandName} ${String(event.command[event.commandName])}`
    const variant = variants.find((v) => v.app === fastify)!
    variant.commands.set(key, (variant.commands.get(key) ?? 0) + 1)
  })
  return fastify
}

/** One email-code sign-in; returns the verify's milliseconds and its access token. */
async function signIn (variant: Variant): Promise<{ ms: number, token: string }> {
  const before = stack.smtp.inbox(variant.email).length
  const sent = await variant.app.inject({ method: 'POST', url: '/auth/otp', payload: { email: variant.email } })
  if (sent.statusCode !== 202) throw new Error(`${variant.name} /auth/otp: ${sent.statusCode} ${sent.body}`)
  const code = codeFrom(await stack.smtp.waitForMail(variant.email, { count: before + 1, timeoutMs: 10_000 }))
  const start = performance.now()
  const verified = await inRequest.run(true, async () => await variant.app.inject({ method: 'POST', url: '/auth/otp/verify', payload: { email: variant.email, code } }))
  const ms = performance.now() - start
  if (verified.statusCode !== 200) throw new Error(`${variant.name} verify: ${verified.statusCode} ${verified.body}`)
  return { ms, token: verified.json<{ accessToken: string }>().accessToken }
}

const variants: Variant[] = []
let failed = false
try {
  const secret = `whsec_${randomBytes(24).toString('base64')}`
  for (const [name, overrides] of [['off', {}], ['on', { WEBHOOK_URL: hookUrl, WEBHOOK_SECRET: secret, WEBHOOK_ALLOW_PRIVATE: 'true' }]] as const) {
    const variant: Variant = { name, app: undefined as unknown as FastifyInstance, email: uniqueEmail(`bench-events-${name}`), ms: [], commands: new Map(), bearer: 0, token: '' }
    variants.push(variant)
    variant.app = await build(overrides)
    await signUp(variant.app, stack, variant.email) // magic-link sign-up: user.created + session.created
    for (let i = 0; i < 3; i++) await signIn(variant) // warm-up, not recorded
    variant.commands.clear()
  }
  for (let done = 0; done < signIns; done += roundSize) {
    const order = (done / roundSize) % 2 === 0 ? variants : [...variants].reverse()
    for (const variant of order) {
      for (let i = 0; i < Math.min(roundSize, signIns - done); i++) {
        const { ms, token } = await signIn(variant)
        variant.ms.push(ms)
        variant.token = token
      }
    }
  }
  for (const variant of variants) {
    const seen = new Map(variant.commands)
    const me = async () => await variant.app.inject({ method: 'GET', url: '/auth/me', headers: { authorization: `Bearer ${variant.token}` } })
    await me() // the first fills the Redis user cache; the second is the cached Bearer path
    variant.commands.clear()
    await inRequest.run(true, me)
    variant.bearer = [...variant.commands.values()].reduce((a, b) => a + b, 0)
    variant.commands = seen
  }
  const on = variants[1]!
  const signedInOn = on.ms.length + 3 + 1 // recorded + warm-up + sign-up (whose user.created is one more event)
  const deadline = Date.now() + 30_000
  const drained = (): boolean => received >= signedInOn + 1
  while (!drained() && Date.now() < deadline) await sleep(200)

  const [off] = variants
  console.log(`\n${signIns} sign-ins each, alternating in rounds of ${roundSize}; POST /auth/otp/verify via app.inject\n`)
  console.log(table(['webhooks', 'p50 ms', 'p99 ms', 'mean ms'], variants.map((v) => [v.name, fmt(percentile(v.ms, 50), 2), fmt(percentile(v.ms, 99), 2), fmt(v.ms.reduce((a, b) => a + b, 0) / v.ms.length, 2)])))
  console.log(`ratio on/off: p50 ${fmt(percentile(on.ms, 50) / percentile(off!.ms, 50), 3)}, p99 ${fmt(percentile(on.ms, 99) / percentile(off!.ms, 99), 3)}`)
  const keys = [...new Set(variants.flatMap((v) => [...v.commands.keys()]))].sort()
  console.log('\nMongoDB commands per sign-in, sent inside the verify request\n')
  console.log(table(['command collection', 'off', 'on'], keys.map((key) => [key, ...variants.map((v) => fmt((v.commands.get(key) ?? 0) / v.ms.length, 2))])))
  const writes = (v: Variant) => [...v.commands].filter(([key]) => /^(insert|update|delete|findAndModify) /.test(key)).reduce((sum, [, n]) => sum + n, 0) / v.ms.length
  console.log(`writes per sign-in: off ${fmt(writes(off!), 2)}, on ${fmt(writes(on), 2)}; cached Bearer GET /auth/me MongoDB commands: off ${off!.bearer}, on ${on.bearer}`)
  console.log(`webhook deliveries received: ${received} (events of the on app: ${signedInOn} session.created + 1 user.created)`)
} catch (error) {
  failed = true
  console.error(error)
} finally {
  for (const fastify of apps) await fastify.close().catch(() => {})
  receiver.closeAllConnections()
  await new Promise((resolve) => receiver.close(resolve))
  await stack.close()
}
process.exit(failed ? 1 : 0)
