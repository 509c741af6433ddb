import t from 'tap'
import { SWEEP_BATCH } from '../../../services/events/retention.js'
import { buildApp, startStack, testConfig } from '../../helper.js'

/** AUDIT_RETENTION on FerretDB (no TTL index): a bounded sweep by one instance at a time. */
const stack = await startStack(t)

t.test('expired events are swept in bounded batches, by one instance at a time, never before their deliveries exist', async (t) => {
  const clock = { at: Date.now(), now: () => clock.at }
  const config = testConfig(stack, { AUDIT_RETENTION: '86400' })
  const [a, b] = await Promise.all([0, 1].map(async () => await buildApp(t, stack, {}, { config, clock, events: { background: false } })))
  t.equal(await a!.auditRetention.ensureTtlIndex(), false, 'FerretDB has no TTL index: the sweep does it')

  const { AuditEvent } = a!.mongo.models
  const old = Array.from({ length: SWEEP_BATCH + 5 }, (_, i) => ({ _id: `evt_old${i}`, type: 'user.updated', timestamp: new Date(clock.at - 2 * 86_400_000), data: {}, dispatched: true }))
  await AuditEvent.insertMany(old)
  await AuditEvent.insertMany([
    { _id: 'evt_undispatched', type: 'user.updated', timestamp: new Date(clock.at - 2 * 86_400_000), data: {}, dispatched: false },
    { _id: 'evt_recent', type: 'user.updated', timestamp: new Date(clock.at - 3_600_000), data: {}, dispatched: true }
  ])

  const [first, second] = await Promise.all([a!.auditRetention.sweep(), b!.auditRetention.sweep()])
  t.same([first, second].sort(), [SWEEP_BATCH, null].sort(), 'one instance swept one batch; the other found the lease taken')
  t.equal(await a!.auditRetention.sweep(), 5, 'the next sweep takes the rest')
  t.equal(await a!.auditRetention.sweep(), 0)
  t.same((await AuditEvent.find({}, { _id: 1 }).lean()).map((event) => event._id).sort(), ['evt_recent', 'evt_undispatched'])
})
