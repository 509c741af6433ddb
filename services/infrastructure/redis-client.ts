import { Cluster, type Redis } from 'ioredis'

/**
 * The Redis client services are given: one node (or a Sentinel-managed master) is a `Redis`, a
 * Redis Cluster is a `Cluster`. Both speak the same commands; every key a command or script
 * touches together shares one hash tag (services/infrastructure/redis-keys.ts), so either works.
 */
export type RedisClient = Redis | Cluster

/** A new connection with the same options (a subscriber, say): `duplicate()` of either kind. */
export const duplicateClient = (client: RedisClient): RedisClient =>
  client instanceof Cluster ? client.duplicate() : client.duplicate()
