import t from 'tap'
import { startStack } from '../helper.js'
import { coreFlows } from './core-flows.js'
import { hashTag, recordKeyGroups } from './key-groups.js'

/**
 * The core flows across two instances on one redis-server (REDIS_URL=redis://…), with every
 * command recorded: the keys one command or one transaction touches together must share one
 * hash tag, or Redis Cluster would refuse it (CROSSSLOT).
 */
const stack = await startStack(t)
const recorder = await recordKeyGroups(stack.redis.admin)

await coreFlows(t, stack, stack.redis.url, async () => stack.redis.admin)

t.test('every command and transaction of those flows keeps its keys under one hash tag', async (t) => {
  // The check itself: a multi-key command across tags, sent by another client, must be caught.
  const other = stack.redis.admin.duplicate()
  await other.mget('lk:probe{a}', 'lk:probe{b}')
  other.disconnect()

  const groups = await recorder.stop()
  const crossTag = groups.filter(({ keys }) => new Set(keys.map(hashTag)).size > 1)
  t.same(crossTag.map(({ keys }) => keys), [['lk:probe{a}', 'lk:probe{b}']], 'only the probe mixes tags')
  const commands = new Set(groups.flatMap((group) => group.commands))
  t.ok(groups.length > 20, `${groups.length} multi-key commands and transactions checked (${[...commands].sort().join(', ')})`)
})
