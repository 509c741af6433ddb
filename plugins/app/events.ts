import fp from 'fastify-plugin'
import { describeSmtpFailure } from '../../services/email/mailer.js'
import { withMongoBudget } from '../../services/infrastructure/mongo-budget.js'
import { createNewDeviceNotifier, type NewDeviceNotifier } from '../../services/events/new-device.js'
import { createOutbox, type Outbox } from '../../services/events/outbox.js'
import { createRetention, type Retention } from '../../services/events/retention.js'
import { systemResolver, type Resolver } from '../../services/events/ssrf.js'
import { createWebhooks, type Webhooks } from '../../services/events/webhooks.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** The outbox that makes sure every committed action has its event (services/events/outbox.ts). */
    outbox: Outbox
    /** Webhook endpoints and deliveries (services/events/webhooks.ts); the admin routes call it. */
    webhooks: Webhooks
    /** NOTIFY_NEW_DEVICE emails and their sign-out links (services/events/new-device.ts). */
    newDevice: NewDeviceNotifier
    /** AUDIT_RETENTION (services/events/retention.ts). */
    auditRetention: Retention
  }
}

export interface EventsOptions {
  events?: {
    /** How often the background passes run (ms; default 1000). */
    intervalMs?: number
    /** How often the retention sweep and log pruning run (ms; default one hour). */
    sweepMs?: number
    /** false: no background passes (tests drive them, or play a dead instance). */
    background?: boolean
    /** Resolves endpoint host names (tests inject one; default: the system resolver). */
    resolver?: Resolver
    /** Bound on one delivery attempt (ms; SPEC: 10 s). */
    timeoutMs?: number
  }
}

/**
 * Events in the background, on every instance: the outbox pass (prepared events confirmed or
 * dropped, revocation events derived), then the webhook worker (fan-out, claim, attempt). Every
 * step is idempotent or claimed, so instances need no other coordination. Once an hour, one
 * instance (a Redis lease) sweeps expired events where MongoDB has no TTL index, and the delivery
 * logs are pruned.
 */
export default fp(async function eventsPlugin (fastify, opts: EventsOptions) {
  const { clock, config, metrics, redis } = fastify
  const { models } = fastify.mongo
  const options = opts.events ?? {}
  const interval = options.intervalMs ?? 1000
  const notifier = createNewDeviceNotifier({ models, redis, mailer: fastify.mailer, revocation: fastify.revocation, appUrl: config.APP_URL, clock })
  const outbox = createOutbox({
    models,
    clock,
    onConfirmed: config.NOTIFY_NEW_DEVICE
      ? async (events) => await notifier.notify(events).catch((error: unknown) => { fastify.log.warn({ reason: describeSmtpFailure(error) }, 'new-device email failed') })
      : undefined
  })
  const webhooks = createWebhooks({
    models,
    redis,
    clock,
    auditLog: fastify.auditLog,
    rootSecret: config.JWT_SECRET,
    allowPrivate: config.WEBHOOK_ALLOW_PRIVATE,
    resolver: options.resolver ?? systemResolver,
    timeoutMs: options.timeoutMs ?? 10_000,
    hooks: {
      onAttempt: (outcome) => { metrics.inc('latchkey_webhook_deliveries_total', { outcome }) },
      onDisabled: (endpointId) => {
        metrics.inc('latchkey_webhook_endpoints_disabled_total')
        fastify.log.warn({ endpointId }, 'webhook endpoint failed for five days and was disabled')
      },
      onPublished: (type) => { metrics.inc('latchkey_events_total', { type }) }
    }
  })
  const retention = createRetention({ models, redis, clock, retentionSeconds: config.AUDIT_RETENTION })
  fastify.decorate('outbox', outbox)
  fastify.decorate('newDevice', notifier)
  fastify.decorate('webhooks', webhooks)
  fastify.decorate('auditRetention', retention)

  let pending = { count: 0, oldestMs: 0 }
  let pendingReadAt = 0
  const readPending = async (): Promise<typeof pending> => {
    if (Date.now() - pendingReadAt > 5000) {
      pending = await withMongoBudget(config.MONGODB_TIMEOUT, async () => await webhooks.pendingCount())
      pendingReadAt = Date.now()
    }
    return pending
  }
  metrics.gauge('latchkey_webhook_pending_deliveries', 'Webhook deliveries not yet delivered or given up', async () => (await readPending()).count)
  metrics.gauge('latchkey_webhook_oldest_pending_seconds', 'Age of the oldest pending webhook delivery (0 when none)', async () => (await readPending()).oldestMs / 1000)

  let timer: NodeJS.Timeout | undefined
  let sweeper: NodeJS.Timeout | undefined
  let running: Promise<void> | undefined
  let closing = false
  let ttlIndex = false

  async function pass (): Promise<void> {
    if (running !== undefined || closing) return
    running = (async () => {
      try {
        await withMongoBudget(10_000, async () => {
          await outbox.reconcile()
          await webhooks.runDue()
        })
      } catch (error) {
        fastify.log.warn({ reason: String((error as Error).message).slice(0, 200) }, 'event pass failed; retrying')
      }
    })()
    try {
      await running
    } finally {
      running = undefined
    }
  }

  async function sweep (): Promise<void> {
    try {
      await withMongoBudget(30_000, async () => {
        if (!ttlIndex) await retention.sweep()
        await webhooks.pruneLogs()
      })
    } catch (error) {
      fastify.log.warn({ reason: String((error as Error).message).slice(0, 200) }, 'audit retention sweep failed; retrying next time')
    }
  }

  fastify.addHook('onReady', async () => {
    await withMongoBudget(10_000, async () => {
      ttlIndex = await retention.ensureTtlIndex()
      await webhooks.syncEnvEndpoint(config.WEBHOOK_URL, config.WEBHOOK_SECRET)
    })
    if (!ttlIndex) fastify.log.info('MongoDB server has no TTL indexes; expired audit events are removed by a periodic sweep')
    if (options.background === false) return
    timer = setInterval(() => { void pass() }, interval)
    timer.unref()
    sweeper = setInterval(() => { void sweep() }, options.sweepMs ?? 3_600_000)
    sweeper.unref()
  })
  fastify.addHook('onClose', async () => {
    closing = true
    clearInterval(timer)
    clearInterval(sweeper)
    await running
    await webhooks.stop()
  })
}, { name: 'events', dependencies: ['services'] })
