import t from 'tap'
import { buildApp, startStack } from '../../helper.js'

t.test('the audit log records events and pages through them newest first, by user and by type', async (t) => {
  const stack = await startStack(t)
  let now = Date.parse('2026-12-07T12:00:00Z')
  const app = await buildApp(t, stack, {}, { clock: { now: () => now } })
  const log = app.auditLog

  const recorded = []
  for (let i = 0; i < 5; i++) {
    recorded.push(await log.record({ type: 'session.created', userId: 'u1', sessionId: `s${i}`, ip: '203.0.113.9', data: { method: 'otp' } }))
    if (i % 2 === 1) now += 1000 // pairs share a millisecond: the id orders them, and the cursor keeps both
  }
  await log.record({ type: 'user.created', userId: 'u2', data: {} })

  t.match(recorded[0], { id: /^evt_[0-9a-f]{32}$/, type: 'session.created', timestamp: '2026-12-07T12:00:00.000Z', userId: 'u1', sessionId: 's0', ip: '203.0.113.9', data: { method: 'otp' } })
  t.notOk('userAgent' in recorded[0]!, 'absent fields stay absent')

  const first = await log.list({ userId: 'u1', limit: 2 })
  t.equal(first.events.length, 2)
  t.type(first.next, 'string')
  const second = await log.list({ userId: 'u1', limit: 2, cursor: first.next! })
  const third = await log.list({ userId: 'u1', limit: 2, cursor: second.next! })
  t.equal(third.next, null, 'the last page has no next')
  const pages = [...first.events, ...second.events, ...third.events]
  t.same(pages.map((event) => event.sessionId).sort(), ['s0', 's1', 's2', 's3', 's4'], 'each event once across pages')
  t.same(pages.map((event) => event.timestamp), [...pages.map((event) => event.timestamp)].sort().reverse(), 'newest first')
  t.equal(pages[0]!.sessionId, 's4', 'the newest millisecond holds only the last event')

  t.same((await log.list({ type: 'user.created', limit: 10 })).events.map((event) => event.userId), ['u2'])
  t.same((await log.list({ userId: 'u1', limit: 10, cursor: 'not-a-cursor' })).events.length, 5, 'a malformed cursor starts from the top')

  const indexes = (await app.mongo.models.AuditEvent.collection.indexes()).map((index) => Object.keys(index.key).join(','))
  t.ok(indexes.includes('userId,timestamp,_id'), 'indexed for a user\'s history')
  t.ok(indexes.includes('type,timestamp,_id'), 'indexed for a type over time')
})
