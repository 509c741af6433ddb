import fp from 'fastify-plugin'
import { withMongoBudget } from '../../services/infrastructure/mongo-budget.js'
import type { MirrorReport } from '../../services/sessions/revocation.js'

export interface DataLossWatchOptions {
  /** How often to check every Redis shard against the revocation journal (ms). */
  dataLossCheckMs?: number
}

/**
 * Keeps Redis's copy of revocations whole (services/sessions/revocation.ts `checkMirror`): every
 * `dataLossCheckMs` (10 s) and at once whenever the Redis client (re)connects, each shard's marker
 * is compared with what MongoDB confirmed, and the journal entries a shard may be missing are
 * written again: revocations whose Redis write failed (the client got a 503), and everything
 * after a shard lost its data (flush, empty restart) or went back in time (restore from an older
 * snapshot, lost AOF writes, a lagging replica promoted). A logged-out token is therefore refused
 * again within one period at worst. Losses are logged and counted per shard
 * (`latchkey_redis_data_loss_total{shard, kind}`).
 */
export default fp(async function dataLossWatch (fastify, opts: DataLossWatchOptions) {
  const interval = opts.dataLossCheckMs ?? 10_000
  const budget = Math.max(fastify.config.MONGODB_TIMEOUT, Math.min(interval, 10_000))
  let timer: NodeJS.Timeout | undefined
  let running: Promise<void> | undefined
  let again = false
  let closing = false

  function report ({ shards, replayed, drained, failed }: MirrorReport): void {
    for (const { id, state } of shards) {
      if (state !== 'lost' && state !== 'rolled-back') continue
      fastify.metrics.inc('latchkey_redis_data_loss_total', { shard: id, kind: state })
      fastify.log.warn({ shard: id, kind: state, replayed },
        state === 'lost'
          ? 'Redis shard lost its data; revocations re-applied from the MongoDB journal, users rebuilt on their next request'
          : 'Redis shard went back in time (older snapshot, lost writes or a lagging replica); revocations re-applied from the MongoDB journal')
    }
    if (drained > 0) {
      fastify.metrics.inc('latchkey_revocations_drained_total', undefined, drained)
      fastify.log.warn({ drained }, 'revocations whose Redis write had failed are now in Redis')
    }
    if (failed > 0) fastify.log.warn({ failed }, 'some revocations could not be written to Redis yet; retrying next check')
  }

  /** One pass at a time; a pass asked for while one runs follows it. */
  async function check (): Promise<void> {
    if (running !== undefined) { again = true; return await running }
    running = (async () => {
      do {
        again = false
        try {
          report(await withMongoBudget(budget, async () => await fastify.revocation.checkMirror()))
        } catch {
          // Redis or MongoDB cannot answer: requests already get 503; the next pass tries again.
        }
        // eslint-disable-next-line no-unmodified-loop-condition -- both are set by other callbacks meanwhile
      } while (again && !closing)
    })()
    try {
      await running
    } finally {
      running = undefined
    }
  }

  const onReconnect = (): void => { if (!closing) void check() }

  fastify.addHook('onReady', async () => {
    await check() // first boot: sets the markers
    timer = setInterval(() => { void check() }, interval)
    timer.unref()
    fastify.redis.on('ready', onReconnect)
  })
  fastify.addHook('onClose', async () => {
    closing = true
    clearInterval(timer)
    fastify.redis.off('ready', onReconnect)
    await running
  })
}, { name: 'data-loss-watch', dependencies: ['services'] })
