import fp from 'fastify-plugin'
import type { Config } from '../../services/infrastructure/config.js'
import { createMetrics, type Metrics } from '../../services/infrastructure/metrics.js'
import type { Clock } from '../../services/infrastructure/clock.js'

declare module 'fastify' {
  interface FastifyInstance {
    config: Config
    clock: Clock
    metrics: Metrics
  }
}

export interface ConfigPluginOptions {
  /** Validated once by loadConfig (server.ts, or the test helper). */
  config: Config
  /** Time source; tests may pass their own. */
  clock?: Clock
}

/** Makes the validated configuration, the clock and the metrics registry available to every plugin. */
export default fp(async function configPlugin (fastify, opts: ConfigPluginOptions) {
  fastify.decorate('config', opts.config)
  fastify.decorate('clock', opts.clock ?? { now: Date.now })
  fastify.decorate('metrics', createMetrics())
}, { name: 'config' })
