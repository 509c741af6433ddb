import { Counter, Histogram } from 'prom-client'
import t from 'tap'
import { createMetrics } from '../../../services/infrastructure/metrics.js'

t.test('the per-request pair resolves its label children once per method, route and status', async (t) => {
  const metrics = createMetrics()
  const resolved = { counter: 0, histogram: 0 }
  const counterLabels = Counter.prototype.labels
  const histogramLabels = Histogram.prototype.labels
  Counter.prototype.labels = function (this: Counter, ...args: any[]) { resolved.counter++; return counterLabels.apply(this, args as any) }
  Histogram.prototype.labels = function (this: Histogram, ...args: any[]) { resolved.histogram++; return histogramLabels.apply(this, args as any) }
  t.teardown(() => { Counter.prototype.labels = counterLabels; Histogram.prototype.labels = histogramLabels })

  for (let i = 0; i < 1000; i++) metrics.httpRequest('GET', '/auth/me', 200, 0.002)
  for (let i = 0; i < 10; i++) metrics.httpRequest('GET', '/auth/me', 401, 0.001)
  t.same(resolved, { counter: 2, histogram: 2 }, 'two series, resolved once each, not per request')
  t.equal(await metrics.value('latchkey_http_requests_total', { method: 'GET', route: '/auth/me', status: '200' }), 1000)
  t.equal(await metrics.value('latchkey_http_requests_total', { method: 'GET', route: '/auth/me', status: '401' }), 10)
  t.match(await metrics.render(), /latchkey_http_request_duration_seconds_count\{method="GET",route="\/auth\/me"\} 1010\n/)
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
