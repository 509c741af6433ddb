/**
 * Every Redis key Latchkey writes, in one place, under one prefix.
 *
 * Cluster-ready: keys that one request reads together share a hash tag. A user's keys are tagged
 * with the last four hex digits of the user id (the ObjectId counter, so users spread over slots),
 * which keeps the per-request MGET of the cached user, the valid-after time, the session
 * revocation mark and the jti blacklist entry in one slot. Address-scoped keys are tagged with
 * the address key. Tags and prefixes are short on purpose: a blacklist entry is the most numerous
 * key and its length is most of its memory cost.
 *
 * Every key here is written with a TTL (SPEC invariant 6), except the shard markers
 * (configuration: one per Redis shard, see services/sessions/revocation.ts), and the rate-limit counters that @fastify/rate-limit manages under `rateLimitPrefix`.
 */
const PREFIX = 'lk:'

const userTag = (userId: string): string => `{${userId.slice(-4)}}`

export const redisKeys = {
  /** Magic-link record, by the SHA-256 of the token. */
  magicLink: (tokenHash: string) => `${PREFIX}ml:${tokenHash}`,
  /** Live one-time code of an address (hash: code HMAC, attempts, created). */
  otp: (addressKey: string) => `${PREFIX}otp{${addressKey}}`,
  /** Wrong OTP guesses of an address in the current hour (survives resends). */
  otpFailures: (addressKey: string) => `${PREFIX}otpf{${addressKey}}`,
  /** Consecutive failed code/password checks of an address (hash: n, until). */
  verifyFailures: (addressKey: string) => `${PREFIX}vf{${addressKey}}`,
  /** Present while an address is inside its email cooldown. */
  mailCooldown: (addressKey: string) => `${PREFIX}mc{${addressKey}}`,
  /** Emails sent to an address in the current hour. */
  mailHourly: (addressKey: string) => `${PREFIX}mh{${addressKey}}`,
  /** Cached public user JSON. Its presence also means the user's revocation keys are complete. */
  cachedUser: (userId: string) => `${PREFIX}u${userTag(userId)}${userId}`,
  /** Unix seconds; access tokens of the user issued before it are dead (logout-all, deletion). */
  validAfter: (userId: string) => `${PREFIX}v${userTag(userId)}${userId}`,
  /** Present while a revoked session may still have live access tokens. */
  revokedSession: (userId: string, sessionId: string) => `${PREFIX}s${userTag(userId)}${sessionId}`,
  /**
   * Unix ms: the user's account was disabled at that time (services/admin), or minus the time it
   * was enabled again. Read by the same MGET: a token it covers that the revocation keys
   * refuse is refused as ACCOUNT_DISABLED.
   */
  disabledAt: (userId: string) => `${PREFIX}d${userTag(userId)}${userId}`,
  /** Blacklisted access-token jti, kept for the token's remaining lifetime. */
  revokedToken: (userId: string, jti: string) => `${PREFIX}b${userTag(userId)}${jti}`,
  /**
   * A pending cross-device sign-in (hash: hashes of the device secret and of the link token, state,
   * match number, choices, device summary). One key per request, tagged by the request id, so
   * every script touches one slot (services/links/cross-device.ts).
   */
  crossDeviceRequest: (requestId: string) => `${PREFIX}xd{${requestId}}`,
  /**
   * The open cross-device requests of an address (sorted set: request id scored by its expiry, in
   * ms), which bounds how many can be open at once (CROSS_DEVICE_OPEN_PER_ADDRESS).
   */
  crossDeviceOpen: (addressKey: string) => `${PREFIX}xdo{${addressKey}}`,
  /** Pub/sub channel (not a key) on which a cross-device request id is published when its state changes. */
  crossDeviceChannel: `${PREFIX}xd:events`,
  /**
   * A passkey ceremony's challenge (JSON: purpose, user for a registration), by the SHA-256 of the
   * challenge, tagged by that hash; lives at most 5 minutes and is consumed once with GETDEL.
   */
  passkeyChallenge: (challengeHash: string) => `${PREFIX}pk{${challengeHash}}`,
  /** Admin API requests of one client (IP, IPv6 /64): a @fastify/rate-limit key under `rateLimitPrefix`. */
  adminHits: (client: string) => `admin:${client}`,
  /** Bearer requests of one client (IP, IPv6 /64) in one minute, over every instance. */
  bearerHits: (client: string, window: number) => `${PREFIX}rb:${client}:${window}`,
  /**
   * A shard's marker (hash: epoch, watermark); its absence means the shard lost its data, a
   * watermark behind MongoDB's means it went back in time (services/sessions/revocation.ts). One
   * node has one marker; each master of a Redis Cluster has its own, tagged into a slot it owns.
   */
  shardMarker: (slotTag?: string) => slotTag === undefined ? `${PREFIX}marker` : `${PREFIX}marker{${slotTag}}`,
  /** Webhook deliveries in flight to one endpoint (sorted set: delivery id → claim end, ms), over every instance. */
  webhookSlots: (endpointId: string) => `${PREFIX}whs{${endpointId}}`,
  /** Who holds each of those claims (hash: delivery id → claim token); same slot as webhookSlots. */
  webhookClaims: (endpointId: string) => `${PREFIX}whc{${endpointId}}`,
  /** Lease of the one instance doing the periodic audit-retention delete (where MongoDB has no TTL index). */
  auditRetentionLease: `${PREFIX}audit-retention`,
  /** A "Not you? Sign that session out" link of a new-device email, by the SHA-256 of its token (JSON: user, session, what the email said). */
  newDeviceSignOut: (tokenHash: string) => `${PREFIX}nd:${tokenHash}`,
  /** Present once a session's new-device email was sent (one email however many instances see the sign-in). */
  newDeviceNotified: (sessionId: string) => `${PREFIX}ndn:${sessionId}`,
  /** Prefix of the counters @fastify/rate-limit keeps. */
  rateLimitPrefix: `${PREFIX}rl:`
} as const
