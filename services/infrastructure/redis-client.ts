import type { Cluster, Redis } from 'ioredis'

/**
 * The Redis client services are given: one node (or a Sentinel-managed master) is a `Redis`, a
 * Redis Cluster is a `Cluster`. Both speak the same commands; every key a command or script
 * touches together shares one hash tag (services/infrastructure/redis-keys.ts), so either works.
 */
export type RedisClient = Redis | Cluster
