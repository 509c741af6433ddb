/**
 * Bytes the process has allocated on the V8 heap since it started, for the bench servers'
 * /__bench/stats: what is in use now, plus everything each garbage collection freed (read from
 * v8.GCProfiler, which reports the heap before and after every collection). Collected garbage is
 * exactly what was allocated and is no longer in use, so the sum is the allocation whatever the
 * GC did. The profiler is restarted at each read so its record stays short.
 */
import v8 from 'node:v8'

let profiler = new v8.GCProfiler()
profiler.start()
const startUsed = v8.getHeapStatistics().used_heap_size
let freed = 0
let collections = 0

export function allocation (): { bytes: number, collections: number } {
  const { statistics } = profiler.stop()
  profiler = new v8.GCProfiler()
  profiler.start()
  for (const gc of statistics) {
    freed += gc.beforeGC.heapStatistics.usedHeapSize - gc.afterGC.heapStatistics.usedHeapSize
    collections++
  }
  return { bytes: v8.getHeapStatistics().used_heap_size - startUsed + freed, collections }
}
