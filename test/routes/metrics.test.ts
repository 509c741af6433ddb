import t from 'tap'
import { bearer, buildApp, codeFrom, startStack, tokenFrom, uniqueEmail } from '../helper.js'

const stack = await startStack(t)

t.test('/metrics: Prometheus text with the request, cache, email and revocation counters', async (t) => {
  const app = await buildApp(t, stack)
  const email = uniqueEmail('metrics')
  await app.inject({ method: 'POST', url: '/auth/magic-link', payload: { email } })
  const token = tokenFrom(await stack.smtp.waitForMail(email))
  const { accessToken } = (await app.inject({ method: 'POST', url: '/auth/signup', payload: { token, email, name: 'M' } })).json()
  await app.inject({ method: 'GET', url: '/auth/me', headers: bearer(accessToken) })
  await app.inject({ method: 'GET', url: '/auth/me', headers: bearer(accessToken) })
  await app.inject({ method: 'POST', url: '/auth/logout', headers: bearer(accessToken) })
  const coder = uniqueEmail('metrics.otp')
  await app.inject({ method: 'POST', url: '/auth/otp', payload: { email: coder } })
  const code = codeFrom(await stack.smtp.waitForMail(coder))
  await app.inject({ method: 'POST', url: '/auth/otp/verify', payload: { email: coder, code: code === '000000' ? '111111' : '000000' } })

  const metrics = await app.inject({ method: 'GET', url: '/metrics' })
  t.equal(metrics.statusCode, 200)
  t.match(metrics.headers['content-type'], /^text\/plain; version=0\.0\.4/)
  t.equal(metrics.headers['cache-control'], 'no-store', 'never cached by a proxy')
  const text = metrics.body
  t.match(text, /latchkey_http_requests_total\{method="POST",route="\/auth\/signup",status="201"\} 1\n/)
  t.match(text, /latchkey_http_request_duration_seconds_bucket\{le="\+Inf",method="GET",route="\/auth\/me"\} 2\n/)
  t.match(text, /latchkey_user_cache_total\{result="miss"\} \d+\n/)
  t.match(text, /latchkey_user_cache_total\{result="hit"\} \d+\n/)
  t.match(text, /latchkey_emails_total\{kind="magic-link",result="sent"\} 1\n/)
  t.match(text, /latchkey_revocations_total\{kind="logout"\} 1\n/)
  t.match(text, /latchkey_emails_total\{kind="otp",result="sent"\} 1\n/)
  t.match(text, /latchkey_otp_failures_total\{reason="invalid"\} 1\n/)
  for (const family of ['latchkey_otp_failures_total', 'latchkey_dependency_errors_total', 'latchkey_redis_data_loss_total']) {
    t.match(text, new RegExp(`# TYPE ${family} counter`), `${family} is declared`)
  }
  const samples = text.trim().split('\n').filter((line) => line !== '' && !line.startsWith('#'))
  t.ok(samples.length > 50, `${samples.length} samples`)
  t.same(samples.filter((line) => !/^[a-z_:][a-z0-9_:]*(\{[^}]*\})? ([0-9.e+-]+|NaN|[+-]Inf)$/.test(line)), [], 'every sample line is valid text format')
})

t.test('/metrics carries the runtime figures: CPU, memory and heap, event-loop lag, GC', async (t) => {
  const app = await buildApp(t, stack)
  const text = (await app.inject({ method: 'GET', url: '/metrics' })).body
  for (const [family, type] of [
    ['process_cpu_seconds_total', 'counter'],
    ['process_resident_memory_bytes', 'gauge'],
    ['nodejs_heap_size_used_bytes', 'gauge'],
    ['nodejs_eventloop_lag_seconds', 'gauge'],
    ['nodejs_eventloop_lag_p99_seconds', 'gauge'],
    ['nodejs_gc_duration_seconds', 'histogram']
  ]) {
    t.match(text, new RegExp(`^# TYPE ${family} ${type}$`, 'm'), `${family} (${type})`)
  }
  t.match(text, /^nodejs_heap_size_used_bytes [1-9][0-9]*$/m, 'the heap in use is a real figure')
  const declared = [...text.matchAll(/^# TYPE (\S+) /gm)].map((match) => match[1])
  t.same(declared.filter((name, i) => declared.indexOf(name) !== i), [], 'every family is declared once')
})
