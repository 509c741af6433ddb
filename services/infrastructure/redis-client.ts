import { Cluster, type Redis } from 'ioredis'

/**
 * The Redis client services are given: one node (or a Sentinel-managed master) is a `Redis`, a
 * Redis Cluster is a `Cluster`. Both speak the same commands; every key a command or script
 * touches together shares one hash tag (services/infrastructure/redis-keys.ts), so either works.
 */
export type RedisClient = Redis | Cluster

/**
 * A new connection with the same options, for a subscriber: `duplicate()` of either kind. A single
 * node's (or Sentinel master's) connection does not subscribe again by itself when it reconnects:
 * ioredis does that without handling the command's failure, so a Redis that dropped again at that
 * moment (the offline queue is off) left an unhandled rejection, which stops the process. The owner
 * subscribes again on every 'ready' instead (services/links/cross-device-events.ts). A Cluster's
 * subscriber connection queues its commands until it is connected, and is left as it is.
 */
export const duplicateClient = (client: RedisClient): RedisClient =>
  client instanceof Cluster ? client.duplicate() : client.duplicate({ autoResubscribe: false })
