import fp from 'fastify-plugin'
import { withMongoBudget } from '../../services/infrastructure/mongo-budget.js'
import { createOutbox, type Outbox } from '../../services/events/outbox.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** The outbox that makes sure every committed action has its event (services/events/outbox.ts). */
    outbox: Outbox
  }
}

export interface EventsOptions {
  events?: {
    /** How often the background passes run (ms; default 1000). */
    intervalMs?: number
    /** false: no background passes (tests drive them, or play a dead instance). */
    background?: boolean
  }
}

/**
 * Events in the background, on every instance: the outbox pass (prepared events confirmed or
 * dropped, revocation events derived). Every pass is idempotent, so instances need no
 * coordination for it.
 */
export default fp(async function eventsPlugin (fastify, opts: EventsOptions) {
  const { clock } = fastify
  const { models } = fastify.mongo
  const options = opts.events ?? {}
  const interval = options.intervalMs ?? 1000
  const outbox = createOutbox({ models, clock })
  fastify.decorate('outbox', outbox)

  let timer: NodeJS.Timeout | undefined
  let running: Promise<void> | undefined
  let closing = false

  async function pass (): Promise<void> {
    if (running !== undefined || closing) return
    running = (async () => {
      try {
        await withMongoBudget(10_000, async () => await outbox.reconcile())
      } catch (error) {
        fastify.log.warn({ reason: (error as Error).message?.slice(0, 200) }, 'event outbox pass failed; retrying')
      }
    })()
    try {
      await running
    } finally {
      running = undefined
    }
  }

  fastify.addHook('onReady', async () => {
    if (options.background === false) return
    timer = setInterval(() => { void pass() }, interval)
    timer.unref()
  })
  fastify.addHook('onClose', async () => {
    closing = true
    clearInterval(timer)
    await running
  })
}, { name: 'events', dependencies: ['services'] })
