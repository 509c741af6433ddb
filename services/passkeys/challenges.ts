import { createHash } from 'node:crypto'
import type { RedisClient } from '../infrastructure/redis-client.js'
import { redisKeys } from '../infrastructure/redis-keys.js'

/** What a challenge was issued for: a registration by one user, or an assertion (sign-in or re-authentication). */
export type ChallengeGrant = { purpose: 'register', userId: string } | { purpose: 'assert' }

/** Longest a challenge lives (SPEC: at most 5 minutes). */
export const CHALLENGE_TTL_SECONDS = 300

const keyOf = (challenge: string): string => redisKeys.passkeyChallenge(createHash('sha256').update(challenge).digest('base64url'))

/**
 * Passkey challenges in Redis: written with a TTL of at most 5 minutes, consumed at most once with
 * GETDEL (one atomic command: of any number of parallel assertions carrying one challenge, exactly
 * one finds it). Kept under the SHA-256 of the challenge, one key per challenge, hash-tagged by that
 * hash, so it runs unchanged on Redis Cluster and Sentinel.
 */
export function createChallengeStore ({ redis, ttlSeconds = CHALLENGE_TTL_SECONDS }: { redis: RedisClient, ttlSeconds?: number }) {
  return {
    async issue (challenge: string, grant: ChallengeGrant): Promise<void> {
      await redis.set(keyOf(challenge), JSON.stringify(grant), 'EX', ttlSeconds)
    },

    /** The grant of a live challenge, which is gone from then on; null when used, expired or never issued. */
    async consume (challenge: string): Promise<ChallengeGrant | null> {
      if (challenge === '' || challenge.length > 512) return null
      const stored = await redis.getdel(keyOf(challenge))
      if (stored === null) return null
      return JSON.parse(stored) as ChallengeGrant
    }
  }
}

export type ChallengeStore = ReturnType<typeof createChallengeStore>

/** The challenge a credential's clientDataJSON carries (base64url JSON), or '' when it cannot be read. */
export function challengeOf (clientDataJSON: string): string {
  try {
    const parsed = JSON.parse(Buffer.from(clientDataJSON, 'base64url').toString('utf8')) as { challenge?: unknown }
    return typeof parsed.challenge === 'string' ? parsed.challenge : ''
  } catch {
    return ''
  }
}
