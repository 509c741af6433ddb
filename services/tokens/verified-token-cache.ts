import type { AccessClaims } from '../sessions/revocation.js'

interface Entry {
  claims: Readonly<AccessClaims>
  /** The token's exp, in ms. */
  expMs: number
  /** Dropped when not used again before this. */
  idleUntil: number
  /** When it was last moved to the recent end of the map. */
  movedAt: number
}

/** An entry is moved to the recent end at most this often (keeps a hit to one Map lookup almost always). */
const MOVE_EVERY_MS = 1_000

/**
 * Access tokens whose signature and claims were verified before, keyed by the exact token string,
 * so a client sending the same Bearer token again skips the signature check and the JSON decoding
 * (about a tenth of an authenticated request's CPU with HS256 in `npm run bench`, and far more with
 * EdDSA or ES256, whose verification costs tens of microseconds).
 *
 * What it does NOT skip: the revocation check. The cache only remembers "this exact string is a
 * well-formed token signed by one of our keys, with these claims"; whether it was revoked is asked
 * of Redis on every request, so a logout still takes effect on the very next request. When a key
 * leaves the key ring the whole cache is emptied (plugins/app/authenticate.ts).
 *
 * Bounds: at most `maxEntries` tokens (about 0.8 KB each with the token string: 16 MB at the
 * default 20,000). An entry is dropped when it has not been used for `maxIdleMs`, and never
 * outlives the token's `exp`: a hit is served only while now < exp (the verifier itself still
 * accepts now == exp), so expiry answers TOKEN_EXPIRED exactly as without the cache. A token in
 * use is therefore verified once in its life, not once a minute.
 *
 * The map is kept in (roughly, to the second) least-recently-used order. When it is full, idle
 * and expired entries are dropped from the old end; if every entry is still in use, the new token
 * is simply not cached (it is verified again next time). Refusing newcomers rather than evicting
 * keeps the hit rate at capacity / tokens in use when more tokens are in use than fit; evicting
 * would make a round-robin over capacity + 1 tokens miss every time.
 *
 * Only successful verifications are stored; a forged or altered token is a different string and
 * always takes the full path. `now` must be the verifier's clock (fast-jwt reads Date.now).
 */
export function createVerifiedTokenCache ({ maxEntries = 20_000, maxIdleMs = 60_000, now = Date.now }: {
  maxEntries?: number
  maxIdleMs?: number
  now?: () => number
} = {}) {
  const entries = new Map<string, Entry>()

  return {
    /** The claims of a token verified earlier, still live and used within maxIdleMs, else undefined. */
    get (token: string): Readonly<AccessClaims> | undefined {
      const entry = entries.get(token)
      if (entry === undefined) return undefined
      const at = now()
      if (at >= entry.expMs || at >= entry.idleUntil) {
        entries.delete(token)
        return undefined
      }
      entry.idleUntil = at + maxIdleMs
      if (at - entry.movedAt >= MOVE_EVERY_MS) {
        entry.movedAt = at
        entries.delete(token)
        entries.set(token, entry)
      }
      return entry.claims
    },

    /** Remembers a token that just passed full verification. */
    set (token: string, claims: AccessClaims): void {
      const at = now()
      const expMs = claims.exp * 1000
      if (expMs <= at) return
      if (entries.size >= maxEntries && !entries.has(token)) {
        for (const [key, entry] of entries) {
          if (entry.idleUntil > at && entry.expMs > at) break
          entries.delete(key)
        }
        if (entries.size >= maxEntries) return
      }
      entries.set(token, { claims: Object.freeze({ ...claims }), expMs, idleUntil: at + maxIdleMs, movedAt: at })
    },

    get size (): number { return entries.size },

    clear (): void { entries.clear() }
  }
}

export type VerifiedTokenCache = ReturnType<typeof createVerifiedTokenCache>
