import fp from 'fastify-plugin'

export interface DataLossWatchOptions {
  /** How often to look for the epoch marker (ms). */
  dataLossCheckMs?: number
}

/**
 * Notices when Redis lost its data (restart without persistence, FLUSHALL, failover to an empty
 * replica). Correctness does not wait for this: each user's revocation marks are rebuilt from
 * MongoDB on their next cache miss (services/revocation.ts). This makes the loss visible: a
 * warning in the log and `latchkey_redis_data_loss_total`.
 */
export default fp(async function dataLossWatch (fastify, opts: DataLossWatchOptions) {
  const interval = opts.dataLossCheckMs ?? 10_000
  let timer: NodeJS.Timeout | undefined

  const check = async (): Promise<void> => {
    try {
      if (await fastify.revocation.checkDataEpoch()) {
        fastify.metrics.inc('latchkey_redis_data_loss_total')
        fastify.log.warn('Redis lost its data; revocation state is rebuilt from MongoDB on each user\'s next request')
      }
    } catch {
      // Redis is unreachable: requests already answer 503; check again next time.
    }
  }

  fastify.addHook('onReady', async () => {
    await fastify.revocation.checkDataEpoch().catch(() => false) // first boot: set the marker
    timer = setInterval(() => { void check() }, interval)
    timer.unref()
  })
  fastify.addHook('onClose', async () => { clearInterval(timer) })
}, { name: 'data-loss-watch', dependencies: ['services'] })
