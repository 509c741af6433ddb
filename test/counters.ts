import type { FastifyInstance } from 'fastify'
import type { Redis } from 'ioredis'

/**
 * Redis commands executed by the server, from INFO commandstats (the INFO calls themselves
 * excluded); given several servers (the masters of a cluster), their sum.
 */
export async function redisCommandCounts (admin: Redis | Redis[]): Promise<Map<string, number>> {
  const counts = new Map<string, number>()
  for (const server of Array.isArray(admin) ? admin : [admin]) {
    const info = await server.info('commandstats')
    for (const match of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) counts.set(match[1]!, (counts.get(match[1]!) ?? 0) + Number(match[2]))
  }
  counts.delete('info')
  return counts
}

/** Runs `work` and returns the Redis commands it caused, by name (over every server given). */
export async function redisCommandsDuring (admin: Redis | Redis[], work: () => Promise<unknown>): Promise<Record<string, number>> {
  const before = await redisCommandCounts(admin)
  await work()
  const after = await redisCommandCounts(admin)
  const delta: Record<string, number> = {}
  for (const [name, calls] of after) {
    const added = calls - (before.get(name) ?? 0)
    if (added > 0) delta[name] = added
  }
  return delta
}

/** Runs `work` and returns the MongoDB commands the app sent (driver command monitoring). */
export async function mongoCommandsDuring (app: FastifyInstance, work: () => Promise<unknown>): Promise<string[]> {
  const seen: string[] = []
  const client = app.mongo.connection.getClient()
  const listener = (event: { commandName: string }) => { seen.push(event.commandName) }
  client.on('commandStarted', listener)
  try {
    await work()
  } finally {
    client.off('commandStarted', listener)
  }
  return seen
}
