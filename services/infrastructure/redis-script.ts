import { createHash } from 'node:crypto'
import type { RedisClient } from './redis-client.js'

export type ScriptArg = string | number

/**
 * A Lua script run atomically by Redis. Sent by SHA1 (EVALSHA); when Redis does not know it
 * (first call, or after a restart emptied the script cache) it is sent in full once.
 */
export function defineScript<T> (lua: string) {
  const sha = createHash('sha1').update(lua).digest('hex')
  return async (redis: RedisClient, keys: string[], args: ScriptArg[] = []): Promise<T> => {
    try {
      return await redis.evalsha(sha, keys.length, ...keys, ...args) as T
    } catch (error) {
      if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw error
      return await redis.eval(lua, keys.length, ...keys, ...args) as T
    }
  }
}
