import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client'

/**
 * Prometheus metrics through prom-client: our counters and the request-latency histogram in one
 * registry per app, plus the process and runtime figures prom-client collects by default (CPU,
 * memory and heap, event-loop lag, GC, handles) in one registry per process. The hot path (one
 * counter and one histogram per request) uses label children resolved once per route and status.
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
  latchkey_events_total: ['type'],
  latchkey_webhook_deliveries_total: ['outcome'],
  latchkey_webhook_endpoints_disabled_total: []
}

const histogramHelp = {
  latchkey_http_request_duration_seconds: 'HTTP request latency by method and route'
} as const

const histogramLabels: Record<HistogramName, readonly string[]> = {
  latchkey_http_request_duration_seconds: ['method', 'route']
}

export type CounterName = keyof typeof counterHelp
export type HistogramName = keyof typeof histogramHelp
type Labels = Record<string, string>

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
  const histograms = Object.fromEntries(Object.entries(histogramHelp).map(([name, help]) => [
    name, new Histogram({ name, help, labelNames: histogramLabels[name as HistogramName], buckets: BUCKETS, registers: [registry] })
  ])) as Record<HistogramName, Histogram>
  const httpSeries = new Map<string, { count: () => void, observe: (seconds: number) => void }>()

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

    observe (name: HistogramName, seconds: number, labels?: Labels): void {
      histograms[name].observe(labels ?? {}, seconds)
    },

    /**
     * The per-request pair (request count and latency), on the hot path: the label children of a
     * method/route/status are resolved once and kept, so a request costs one Map lookup and no
     * label objects.
     */
    httpRequest (method: string, route: string, status: number, seconds: number): void {
      const key = `${method} ${status} ${route}`
      let series = httpSeries.get(key)
      if (series === undefined) {
        const counter = counters.latchkey_http_requests_total.labels({ method, route, status: String(status) })
        const histogram = histograms.latchkey_http_request_duration_seconds.labels({ method, route })
        series = { count: () => { counter.inc() }, observe: (seconds) => { histogram.observe(seconds) } }
        httpSeries.set(key, series)
      }
      series.count()
      series.observe(seconds)
    },

    /** A gauge read when /metrics is scraped (e.g. a count in MongoDB); a failed read leaves it as it was. */
    gauge (name: string, help: string, read: () => Promise<number>): void {
      // eslint-disable-next-line no-new -- registered with the registry, which keeps it
      new Gauge({
        name,
        help,
        registers: [registry],
        async collect () {
          try { this.set(await read()) } catch { /* the dependency is down: the last value stays */ }
        }
      })
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
