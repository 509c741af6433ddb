import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client'

/**
 * Prometheus metrics through prom-client: our counters and the request-latency histogram in one
 * registry per app, plus the process and runtime figures prom-client collects by default (CPU,
 * memory and heap, event-loop lag, GC, handles) in one registry per process.
 *
 * The per-request pair (request count and latency) is kept out of prom-client on the hot path:
 * prom-client hashes the label values into a string on every inc/observe, even through a label
 * child. Each route gets a recorder (`httpRoute`), bound once, whose series hold plain numbers;
 * the counter takes them at each scrape (its collect hook) and the latency histogram is rendered
 * from them directly, in prom-client's own format.
 */
const counterHelp = {
  latchkey_http_requests_total: 'HTTP requests by method, route and status code',
  latchkey_user_cache_total: 'User cache lookups on authenticated requests by result (hit, miss)',
  latchkey_emails_total: 'Emails by kind (magic-link, otp) and result (sent, failed)',
  latchkey_otp_failures_total: 'Failed one-time code verifications by reason (invalid, expired, locked)',
  latchkey_revocations_total: 'Revocations by kind (logout, logout-all, session, reuse, account-deleted)',
  latchkey_dependency_errors_total: 'Requests that failed because a dependency (redis, mongodb) could not answer',
  latchkey_redis_data_loss_total: 'Times a Redis shard was found to have lost its data (kind=lost) or gone back in time (kind=rolled-back); revocations re-applied from MongoDB',
  latchkey_revocations_drained_total: 'Revocations whose Redis write had failed, written later from the MongoDB journal',
  latchkey_cross_device_waits_refused_total: 'Cross-device waits (SSE streams and long-polls) refused with 429 by a ceiling (ceiling=ip: CROSS_DEVICE_WAITS_PER_IP, instance: CROSS_DEVICE_WAITS_PER_INSTANCE)',
  latchkey_passkey_failures_total: 'Refused passkey sign-ins by reason (challenge, unknown, verification, counter: a possibly cloned authenticator, backup_eligible)',
  latchkey_events_total: 'Audit events published (committed, fanned out to the webhooks) by type',
  latchkey_webhook_deliveries_total: 'Webhook delivery attempts by outcome (delivered, http_error, timeout, network_error, blocked)',
  latchkey_webhook_endpoints_disabled_total: 'Webhook endpoints disabled after failing for five days'
} as const

/** The label names of each counter (Prometheus declares them with the family). */
const counterLabels: Record<CounterName, readonly string[]> = {
  latchkey_http_requests_total: ['method', 'route', 'status'],
  latchkey_user_cache_total: ['result'],
  latchkey_emails_total: ['kind', 'result'],
  latchkey_otp_failures_total: ['reason'],
  latchkey_revocations_total: ['kind'],
  latchkey_dependency_errors_total: ['dependency'],
  latchkey_redis_data_loss_total: ['shard', 'kind'],
  latchkey_revocations_drained_total: [],
  latchkey_cross_device_waits_refused_total: ['ceiling'],
  latchkey_passkey_failures_total: ['reason'],
  latchkey_events_total: ['type'],
  latchkey_webhook_deliveries_total: ['outcome'],
  latchkey_webhook_endpoints_disabled_total: []
}

/** Gauges: a value read from the app when scraped (`gauge()` says where from). */
const gaugeHelp = {
  latchkey_cross_device_waits: 'Open cross-device waits (SSE streams and long-polls) on this instance',
  latchkey_webhook_pending_deliveries: 'Webhook deliveries not yet delivered or given up',
  latchkey_webhook_oldest_pending_seconds: 'Age of the oldest pending webhook delivery (0 when none)'
} as const
export type GaugeName = keyof typeof gaugeHelp

const HTTP_DURATION = 'latchkey_http_request_duration_seconds'
const HTTP_DURATION_HELP = 'HTTP request latency by method and route'

/** The latency histogram of one method and route: bucket counts (not cumulative; the last is +Inf). */
interface LatencySeries { labels: { method: string, route: string }, buckets: Float64Array, sum: number, count: number }
/** The request count of one method, route and status, not yet handed to prom-client. */
interface CountSeries { labels: { method: string, route: string, status: string }, pending: number }

export type CounterName = keyof typeof counterHelp
type Labels = Record<string, string>
/** Records one request of a route: its method, status code and latency in seconds. */
export type HttpRecorder = (method: string, status: number, seconds: number) => void

const BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5]

/** Default metrics describe the process, so they are collected once however many apps it runs. */
let processRegistry: Registry | undefined
function runtimeRegistry (): Registry {
  if (processRegistry === undefined) {
    processRegistry = new Registry()
    collectDefaultMetrics({ register: processRegistry })
  }
  return processRegistry
}

export function createMetrics () {
  const registry = new Registry()
  const runtime = runtimeRegistry()
  const counters = Object.fromEntries(Object.entries(counterHelp).map(([name, help]) => [
    name, new Counter({ name, help, labelNames: counterLabels[name as CounterName], registers: [registry] })
  ])) as Record<CounterName, Counter>
  const countSeries: CountSeries[] = []
  const latencySeries = new Map<string, LatencySeries>()
  const routes = new Map<string, HttpRecorder>()
  const requestsTotal = counters.latchkey_http_requests_total
  // Scrapes (and value()) first take the counts recorded since the last one.
  ;(requestsTotal as unknown as { collect: () => void }).collect = () => {
    for (const series of countSeries) {
      if (series.pending > 0) requestsTotal.inc(series.labels, series.pending)
      series.pending = 0
    }
  }
  registry.registerMetric({
    name: HTTP_DURATION,
    help: HTTP_DURATION_HELP,
    type: 'histogram',
    aggregator: 'sum',
    get: async () => ({
      name: HTTP_DURATION,
      help: HTTP_DURATION_HELP,
      type: 'histogram',
      aggregator: 'sum',
      values: [...latencySeries.values()].flatMap((series) => {
        let cumulative = 0
        return [
          ...BUCKETS.map((le, i) => ({ labels: { le }, sharedLabels: series.labels, value: (cumulative += series.buckets[i]!), metricName: `${HTTP_DURATION}_bucket` })),
          { labels: { le: '+Inf' }, sharedLabels: series.labels, value: series.count, metricName: `${HTTP_DURATION}_bucket` },
          { labels: {}, sharedLabels: series.labels, value: series.sum, metricName: `${HTTP_DURATION}_sum` },
          { labels: {}, sharedLabels: series.labels, value: series.count, metricName: `${HTTP_DURATION}_count` }
        ]
      })
    })
  } as unknown as Parameters<Registry['registerMetric']>[0])

  /** The recorder of one route: its series are found by method and status with no allocation. */
  function httpRoute (route: string): HttpRecorder {
    let recorder = routes.get(route)
    if (recorder !== undefined) return recorder
    const byMethod = new Map<string, { latency: LatencySeries, byStatus: Map<number, CountSeries> }>()
    recorder = (method, status, seconds) => {
      let perMethod = byMethod.get(method)
      if (perMethod === undefined) {
        const key = `${method} ${route}`
        let latency = latencySeries.get(key)
        if (latency === undefined) {
          latency = { labels: { method, route }, buckets: new Float64Array(BUCKETS.length + 1), sum: 0, count: 0 }
          latencySeries.set(key, latency)
        }
        perMethod = { latency, byStatus: new Map() }
        byMethod.set(method, perMethod)
      }
      let count = perMethod.byStatus.get(status)
      if (count === undefined) {
        count = { labels: { method, route, status: String(status) }, pending: 0 }
        countSeries.push(count)
        perMethod.byStatus.set(status, count)
      }
      count.pending++
      const { latency } = perMethod
      let bucket = 0
      while (bucket < BUCKETS.length && seconds > BUCKETS[bucket]!) bucket++
      latency.buckets[bucket]!++
      latency.sum += seconds
      latency.count++
    }
    routes.set(route, recorder)
    return recorder
  }

  return {
    /** The Content-Type of render()'s output (text format 0.0.4). */
    contentType: registry.contentType,

    inc (name: CounterName, labels?: Labels, by = 1): void {
      counters[name].inc(labels ?? {}, by)
    },

    /** A handle on one counter series, for hot paths: its labels are resolved once. */
    counter (name: CounterName, labels?: Labels): { inc: () => void } {
      const child = counters[name].labels(labels ?? {})
      return { inc: () => { child.inc() } }
    },

    /**
     * Declares a gauge whose value `read` gives each time the metrics are scraped (once per name);
     * `read` may be async (e.g. a count in MongoDB), and a failed read leaves the last value.
     */
    gauge (name: GaugeName, read: () => number | Promise<number>): void {
      // eslint-disable-next-line no-new -- registered in the registry; prom-client calls collect() on each scrape
      new Gauge({
        name,
        help: gaugeHelp[name],
        registers: [registry],
        async collect () {
          try { this.set(await read()) } catch { /* the dependency is down: the last value stays */ }
        }
      })
    },

    /**
     * The recorder of a route's requests (count by method and status, latency by method): bound
     * once per route (app.ts, on each route's onResponse), so a request costs two Map lookups and
     * a few additions, no label object and no string.
     */
    httpRoute,

    /** One request (the route's recorder, looked up by route: for callers off the hot path). */
    httpRequest (method: string, route: string, status: number, seconds: number): void {
      httpRoute(route)(method, status, seconds)
    },

    /** Current value of one counter series (tests and the bench read it). */
    async value (name: CounterName, labels: Labels = {}): Promise<number> {
      const { values } = await counters[name].get()
      const wanted = Object.entries(labels)
      const series = values.find((sample) => Object.keys(sample.labels).length === wanted.length &&
        wanted.every(([label, value]) => sample.labels[label] === value))
      return series?.value ?? 0
    },

    /** The Prometheus text: the runtime figures of the process, then this app's own families. */
    async render (): Promise<string> {
      const [process, own] = await Promise.all([runtime.metrics(), registry.metrics()])
      return `${process}\n${own}`
    }
  }
}

export type Metrics = ReturnType<typeof createMetrics>
