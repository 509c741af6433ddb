import type { Redis } from 'ioredis'

/** The hash tag Redis Cluster hashes a key by: the text inside the first non-empty {…}, else the whole key. */
export function hashTag (key: string): string {
  const open = key.indexOf('{')
  if (open === -1) return key
  const close = key.indexOf('}', open + 1)
  return close === -1 || close === open + 1 ? key : key.slice(open + 1, close)
}

const NO_KEYS = new Set(['ping', 'info', 'role', 'cluster', 'select', 'client', 'hello', 'auth', 'quit', 'command', 'script', 'readonly', 'readwrite', 'monitor'])

/**
 * Records, through MONITOR, every command the server runs, and answers the groups of keys that
 * one command or one MULTI…EXEC touched together. Redis Cluster refuses a group whose keys live
 * in different slots (CROSSSLOT), so every group must share one hash tag.
 */
export async function recordKeyGroups (admin: Redis) {
  const monitor = await admin.duplicate().monitor()
  const seen: Array<{ source: string, args: string[] }> = []
  monitor.on('monitor', (_time: string, args: string[], source: string) => {
    if (source !== 'lua') seen.push({ source, args }) // a script's own calls are checked by its declared KEYS
  })

  const keysOf = async (args: string[]): Promise<string[]> => {
    const name = args[0]!.toLowerCase()
    if (name === 'eval' || name === 'evalsha') return args.slice(3, 3 + Number(args[2]))
    if (NO_KEYS.has(name) || name === 'multi' || name === 'exec') return []
    return await admin.call('COMMAND', 'GETKEYS', ...args).then((keys) => keys as string[], () => [])
  }

  return {
    /** Stops recording; returns each multi-key command and transaction as its command names and keys. */
    async stop (): Promise<Array<{ commands: string[], keys: string[] }>> {
      await new Promise((resolve) => setTimeout(resolve, 50)) // let the last lines arrive
      monitor.disconnect()
      const groups: Array<{ commands: string[], keys: string[] }> = []
      const open = new Map<string, { commands: string[], keys: string[] }>()
      for (const { source, args } of seen) {
        const name = args[0]!.toLowerCase()
        const transaction = open.get(source)
        if (name === 'multi') { open.set(source, { commands: [], keys: [] }); continue }
        if (name === 'exec' && transaction !== undefined) {
          open.delete(source)
          if (transaction.keys.length > 1) groups.push(transaction)
          continue
        }
        const keys = await keysOf(args)
        if (transaction !== undefined) {
          transaction.commands.push(name)
          transaction.keys.push(...keys)
        } else if (keys.length > 1) {
          groups.push({ commands: [name], keys })
        }
      }
      return groups
    }
  }
}
