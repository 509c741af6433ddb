/**
 * A small Prometheus registry: labelled counters and one latency histogram, rendered in the text
 * exposition format. Hand-written because the hot path (one counter and one histogram per
 * request) must cost a couple of Map lookups.
 */
const counterHelp = {
  latchkey_http_requests_total: 'HTTP requests by method, route and status code',
  latchkey_user_cache_total: 'User cache lookups on authenticated requests by result (hit, miss)',
  latchkey_emails_total: 'Emails by kind (magic-link, otp) and result (sent, failed)',
  latchkey_otp_failures_total: 'Failed one-time code verifications by reason (invalid, expired, locked)',
  latchkey_revocations_total: 'Revocations by kind (logout, logout-all, session, reuse, account-deleted)',
  latchkey_dependency_errors_total: 'Requests that failed because a dependency (redis, mongodb) could not answer',
  latchkey_redis_data_loss_total: 'Times a Redis shard was found to have lost its data (kind=lost) or gone back in time (kind=rolled-back); revocations re-applied from MongoDB',
  latchkey_revocations_drained_total: 'Revocations whose Redis write had failed, written later from the MongoDB journal'
} as const

const histogramHelp = {
  latchkey_http_request_duration_seconds: 'HTTP request latency by method and route'
} as const

export type CounterName = keyof typeof counterHelp
export type HistogramName = keyof typeof histogramHelp
type Labels = Record<string, string>

const BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5]

interface Series { labels: Labels, value: number }
interface HistogramSeries { labels: Labels, counts: number[], sum: number, count: number }

const seriesKey = (labels: Labels | undefined): string => labels === undefined ? '' : Object.values(labels).join('\u0001')

const escapeLabel = (value: string): string => value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"')
const formatLabels = (labels: Labels, extra?: [string, string]): string => {
  const pairs = Object.entries(labels)
  if (extra) pairs.push(extra)
  return pairs.length === 0 ? '' : `{${pairs.map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(',')}}`
}

export function createMetrics () {
  const counters = new Map<CounterName, Map<string, Series>>()
  const histograms = new Map<HistogramName, Map<string, HistogramSeries>>()
  const httpSeries = new Map<string, { counter: Series, histogram: HistogramSeries }>()

  function counterSeries (name: CounterName, labels: Labels | undefined): Series {
    let family = counters.get(name)
    if (!family) counters.set(name, family = new Map())
    const key = seriesKey(labels)
    let series = family.get(key)
    if (!series) family.set(key, series = { labels: labels ?? {}, value: 0 })
    return series
  }

  function histogramSeries (name: HistogramName, labels: Labels | undefined): HistogramSeries {
    let family = histograms.get(name)
    if (!family) histograms.set(name, family = new Map())
    const key = seriesKey(labels)
    let series = family.get(key)
    if (!series) family.set(key, series = { labels: labels ?? {}, counts: BUCKETS.map(() => 0), sum: 0, count: 0 })
    return series
  }

  function record (series: HistogramSeries, seconds: number): void {
    for (let i = 0; i < BUCKETS.length; i++) if (seconds <= BUCKETS[i]!) series.counts[i]!++
    series.sum += seconds
    series.count++
  }

  return {
    inc (name: CounterName, labels?: Labels, by = 1): void {
      counterSeries(name, labels).value += by
    },

    /** A handle on one counter series, for hot paths: incrementing it allocates nothing. */
    counter (name: CounterName, labels?: Labels): { inc: () => void } {
      const series = counterSeries(name, labels)
      return { inc: () => { series.value++ } }
    },

    observe (name: HistogramName, seconds: number, labels?: Labels): void {
      record(histogramSeries(name, labels), seconds)
    },

    /**
     * The per-request pair (request count and latency), on the hot path: the two series of a
     * method/route/status are looked up once and kept, so a request costs one Map lookup and no
     * label objects.
     */
    httpRequest (method: string, route: string, status: number, seconds: number): void {
      const key = `${method} ${status} ${route}`
      let pair = httpSeries.get(key)
      if (pair === undefined) {
        pair = {
          counter: counterSeries('latchkey_http_requests_total', { method, route, status: String(status) }),
          histogram: histogramSeries('latchkey_http_request_duration_seconds', { method, route })
        }
        httpSeries.set(key, pair)
      }
      pair.counter.value++
      record(pair.histogram, seconds)
    },

    /** Current value of one counter series (tests and the bench read it). */
    value (name: CounterName, labels?: Labels): number {
      return counters.get(name)?.get(seriesKey(labels))?.value ?? 0
    },

    render (): string {
      const lines: string[] = []
      for (const [name, help] of Object.entries(counterHelp) as Array<[CounterName, string]>) {
        lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} counter`)
        for (const series of counters.get(name)?.values() ?? []) {
          lines.push(`${name}${formatLabels(series.labels)} ${series.value}`)
        }
      }
      for (const [name, help] of Object.entries(histogramHelp) as Array<[HistogramName, string]>) {
        lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} histogram`)
        for (const series of histograms.get(name)?.values() ?? []) {
          BUCKETS.forEach((bound, i) => lines.push(`${name}_bucket${formatLabels(series.labels, ['le', String(bound)])} ${series.counts[i]}`))
          lines.push(`${name}_bucket${formatLabels(series.labels, ['le', '+Inf'])} ${series.count}`)
          lines.push(`${name}_sum${formatLabels(series.labels)} ${series.sum}`)
          lines.push(`${name}_count${formatLabels(series.labels)} ${series.count}`)
        }
      }
      return lines.join('\n') + '\n'
    }
  }
}

export type Metrics = ReturnType<typeof createMetrics>
