import calculateSlot from 'cluster-key-slot'
import t from 'tap'
import { redisKeys } from '../../../services/infrastructure/redis-keys.js'
import { shardsFromClusterSlots, slotTagWithin, type ClusterSlotsRow } from '../../../services/infrastructure/redis-shards.js'

const slotOf = (key: string): number => calculateSlot(key)

t.test('each cluster master gets a marker in a slot it owns, the same on every instance', async (t) => {
  // A CLUSTER SLOTS answer: three masters, one of them with two ranges, replicas listed after masters.
  const rows: ClusterSlotsRow[] = [
    [0, 5460, ['127.0.0.1', 7001, 'a'], ['127.0.0.1', 7004, 'd']],
    [5461, 10922, ['127.0.0.1', 7002, 'b']],
    [10923, 12000, ['127.0.0.1', 7003, 'c']],
    [12001, 16383, ['127.0.0.1', 7003, 'c']]
  ]
  const shards = shardsFromClusterSlots(rows)
  t.same(shards.map((shard) => shard.id), ['127.0.0.1:7001', '127.0.0.1:7002', '127.0.0.1:7003'], 'one shard per master (replicas are not shards)')
  const owned: Record<string, Array<[number, number]>> = { '127.0.0.1:7001': [[0, 5460]], '127.0.0.1:7002': [[5461, 10922]], '127.0.0.1:7003': [[10923, 12000], [12001, 16383]] }
  for (const shard of shards) {
    t.match(shard.markerKey, /^lk:marker\{\d+\}$/, `${shard.id}: a hash-tagged marker`)
    const slot = slotOf(shard.markerKey)
    t.ok(owned[shard.id]!.some(([first, last]) => slot >= first && slot <= last), `${shard.id}: its marker's slot ${slot} is its own`)
  }
  t.equal(new Set(shards.map((shard) => shard.markerKey)).size, 3, 'three different markers')
  t.same(shardsFromClusterSlots([...rows].reverse()), shards, 'the same markers whatever order the nodes answer in')
})

t.test('slot tags: the smallest decimal tag in the ranges, for any range, however small', async (t) => {
  for (const ranges of [[[0, 16383]], [[100, 100]], [[16383, 16383]], [[8000, 8010], [3, 4]]] as Array<Array<[number, number]>>) {
    const tag = slotTagWithin(ranges)
    const slot = slotOf(`{${tag}}`)
    t.ok(ranges.some(([first, last]) => slot >= first && slot <= last), `${JSON.stringify(ranges)} → {${tag}} in slot ${slot}`)
    for (let smaller = 0; smaller < Number(tag); smaller++) {
      const other = slotOf(String(smaller))
      if (ranges.some(([first, last]) => other >= first && other <= last)) t.fail(`${smaller} would have been smaller`)
    }
  }
  t.equal(redisKeys.shardMarker(), 'lk:marker', 'one node: one untagged marker')
})
