/** Allowance for clocks of different instances disagreeing, in every time window below. */
export const CLOCK_SKEW_MS = 30_000

/** Longest the JWKS document may be cached, whatever the other settings. */
const MAX_JWKS_MAX_AGE = 300

/**
 * The time windows of the signing-key life cycle, all derived from the configuration so they
 * always fit together:
 *
 * - `syncMs`: every instance re-reads the keys from MongoDB this often (JWT_KEY_SYNC_INTERVAL).
 * - `overlapMs`: a key that stopped signing stays published and accepted this long, so every token
 *   it signed can live out its lifetime: the longest access-token lifetime, plus one sync (an
 *   instance may sign with it until it learns of its successor), plus clock skew.
 * - `jwksMaxAge`: Cache-Control max-age of /.well-known/jwks.json, in seconds; at most half the
 *   overlap (and at most 5 minutes), so a resource server's cached copy is always far younger
 *   than a key's grace period.
 * - `prepublishMs`: a scheduled successor is published this long before it starts signing, so
 *   every instance (one sync) and every resource server's cached JWKS (one max-age) knows it
 *   before the first token signed with it arrives.
 */
export function keySchedule (config: { ACCESS_TOKEN_TTL: number, JWT_KEY_SYNC_INTERVAL: number }) {
  const syncMs = config.JWT_KEY_SYNC_INTERVAL * 1000
  const overlapMs = config.ACCESS_TOKEN_TTL * 1000 + syncMs + CLOCK_SKEW_MS
  const jwksMaxAge = Math.max(1, Math.min(MAX_JWKS_MAX_AGE, Math.floor(overlapMs / 2000)))
  const prepublishMs = jwksMaxAge * 1000 + syncMs + CLOCK_SKEW_MS
  return { syncMs, overlapMs, jwksMaxAge, prepublishMs }
}

export type KeySchedule = ReturnType<typeof keySchedule>
