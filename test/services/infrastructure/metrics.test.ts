import { Counter, Histogram, Registry } from 'prom-client'
import t from 'tap'
import { createMetrics } from '../../../services/infrastructure/metrics.js'

t.test('the per-request pair touches no prom-client object per request: plain numbers, handed over at each scrape', async (t) => {
  const calls = { labels: 0, inc: 0, observe: 0 }
  const originals = { counterLabels: Counter.prototype.labels, histogramLabels: Histogram.prototype.labels, inc: (Counter.prototype as any).incWithoutExemplar as (...args: any[]) => void, observe: Histogram.prototype.observe }
  Counter.prototype.labels = function (this: Counter, ...args: any[]) { calls.labels++; return originals.counterLabels.apply(this, args as any) }
  Histogram.prototype.labels = function (this: Histogram, ...args: any[]) { calls.labels++; return originals.histogramLabels.apply(this, args as any) }
  // The constructor picks incWithoutExemplar as `inc`: patched there, every inc is seen.
  ;(Counter.prototype as any).incWithoutExemplar = function (this: Counter, ...args: any[]) { calls.inc++; return originals.inc.apply(this, args as any) }
  Histogram.prototype.observe = function (this: Histogram, ...args: any[]) { calls.observe++; return originals.observe.apply(this, args as any) }
  t.teardown(() => {
    Counter.prototype.labels = originals.counterLabels
    Histogram.prototype.labels = originals.histogramLabels
    ;(Counter.prototype as any).incWithoutExemplar = originals.inc
    Histogram.prototype.observe = originals.observe
  })
  const metrics = createMetrics()

  const me = metrics.httpRoute('/auth/me')
  t.equal(metrics.httpRoute('/auth/me'), me, 'one recorder per route')
  for (let i = 0; i < 1000; i++) me('GET', 200, 0.002)
  for (let i = 0; i < 10; i++) metrics.httpRequest('GET', '/auth/me', 401, 0.001)
  t.same(calls, { labels: 0, inc: 0, observe: 0 }, 'no label child, no inc, no observe per request')
  t.equal(await metrics.value('latchkey_http_requests_total', { method: 'GET', route: '/auth/me', status: '200' }), 1000)
  t.equal(await metrics.value('latchkey_http_requests_total', { method: 'GET', route: '/auth/me', status: '401' }), 10)
  t.equal(calls.inc, 2, 'the counts reach the counter once per series at the scrape')
  t.match(await metrics.render(), /latchkey_http_request_duration_seconds_count\{method="GET",route="\/auth\/me"\} 1010\n/)
  me('GET', 200, 0.002)
  t.equal(await metrics.value('latchkey_http_requests_total', { method: 'GET', route: '/auth/me', status: '200' }), 1001, 'counts recorded after a scrape are added at the next one')
})

t.test('the latency histogram renders exactly as a prom-client Histogram given the same observations', async (t) => {
  const metrics = createMetrics()
  const registry = new Registry()
  const reference = new Histogram({
    name: 'latchkey_http_request_duration_seconds',
    help: 'HTTP request latency by method and route',
    labelNames: ['method', 'route'],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry]
  })
  const samples: Array<[string, string, number]> = [
    ['GET', '/auth/me', 0.0004], ['GET', '/auth/me', 0.001], ['GET', '/auth/me', 0.0011], ['POST', '/auth/refresh', 0.3],
    ['GET', '/auth/me', 5], ['GET', '/auth/me', 7.5], ['GET', 'unmatched', 0.02], ['HEAD', '/auth/me', 0.0025]
  ]
  for (const [method, route, seconds] of samples) {
    metrics.httpRequest(method, route, 200, seconds)
    reference.observe({ method, route }, seconds)
  }
  const family = (text: string): string => text.split('\n').filter((line) => line.includes('latchkey_http_request_duration_seconds')).join('\n')
  t.equal(family(await metrics.render()), family(await registry.metrics()))
})

t.test('each app has its own counters; the runtime figures are collected once per process', async (t) => {
  const one = createMetrics()
  const two = createMetrics()
  one.inc('latchkey_revocations_total', { kind: 'logout' })
  one.counter('latchkey_user_cache_total', { result: 'hit' }).inc()
  t.equal(await one.value('latchkey_revocations_total', { kind: 'logout' }), 1)
  t.equal(await two.value('latchkey_revocations_total', { kind: 'logout' }), 0, 'another app counts on its own')
  t.equal(await one.value('latchkey_user_cache_total', { result: 'hit' }), 1)
  const [first, second] = await Promise.all([one.render(), two.render()])
  t.match(first, /^# TYPE process_cpu_seconds_total counter$/m)
  t.match(second, /^# TYPE process_cpu_seconds_total counter$/m, 'both show the process figures')
  t.equal(one.contentType, 'text/plain; version=0.0.4; charset=utf-8')
})
