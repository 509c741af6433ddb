import fp from 'fastify-plugin'
import { createAccessTokens, type AccessTokens } from '../../services/tokens/access-tokens.js'
import { keySchedule } from '../../services/tokens/key-schedule.js'
import { createSigningKeyStore } from '../../services/tokens/signing-keys.js'
import type { AccessClaims } from '../../services/sessions/revocation.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** Signs and verifies access tokens (fast-jwt, one signer/verifier per key, pinned algorithm and kid). */
    accessTokens: AccessTokens
    /** Re-reads the signing keys from MongoDB now (asymmetric algorithms; a no-op for HS256). */
    syncSigningKeys: () => Promise<void>
  }
  interface FastifyRequest {
    /** Claims of the verified access token, set by `authenticate`. */
    user: AccessClaims
  }
}

/** At most one key re-read per this long when tokens name kids this instance does not know. */
const UNKNOWN_KID_SYNC_GAP_MS = 5_000

/**
 * Access-token signing and verification with fast-jwt (the signer and verifier under
 * @fastify/jwt, used directly because @fastify/jwt holds one static key: a key set chosen by
 * kid, which changes at run time, would make it build a new verifier for every token).
 *
 * HS256: one key, JWT_SECRET. EdDSA / ES256: the key pairs live in MongoDB
 * (services/tokens/signing-keys.ts); this instance reads them at boot (creating the first one if
 * the database has none), every JWT_KEY_SYNC_INTERVAL after that, and at most every 5 s when a
 * token names a kid of our algorithm it does not know (another instance rotated). MongoDB being
 * down only delays a sync: the keys in memory keep working.
 */
export default fp(async function jwtPlugin (fastify) {
  const { config, clock } = fastify
  const schedule = keySchedule(config)
  let lastSync = 0
  let syncing: Promise<void> | null = null

  const accessTokens = createAccessTokens({
    algorithm: config.JWT_ALGORITHM,
    accessTokenTtl: config.ACCESS_TOKEN_TTL,
    hsSecret: config.JWT_SECRET,
    clock,
    onUnknownKey: () => {
      if (Date.now() - lastSync >= UNKNOWN_KID_SYNC_GAP_MS) void syncSigningKeys().catch(() => {})
    }
  })
  fastify.decorate('accessTokens', accessTokens)
  fastify.decorateRequest('user', null as unknown as AccessClaims)

  const store = config.JWT_ALGORITHM === 'HS256'
    ? null
    : createSigningKeyStore({
      models: fastify.mongo.models,
      algorithm: config.JWT_ALGORITHM,
      sealingSecret: config.KEY_ENCRYPTION_SECRET ?? config.JWT_SECRET,
      rotationSeconds: config.JWT_KEY_ROTATION,
      schedule,
      clock
    })

  let reported = ''
  /**
   * One sync at a time; callers during a sync share it. The keys read are installed whatever else
   * went wrong (a key that cannot be opened, a failed write): removals always land. What went
   * wrong is logged once per change; a key that should sign and cannot makes sign-ins and /ready
   * answer 503 (accessTokens.signingProblem) until it is fixed.
   */
  async function syncSigningKeys (): Promise<void> {
    if (store === null) return
    syncing ??= (async () => {
      lastSync = Date.now()
      try {
        const { keys, problems } = await store.sync()
        accessTokens.update(keys)
        const summary = problems.join('; ')
        if (summary !== reported && summary !== '') fastify.log.error({ problems }, 'signing keys synced with problems')
        reported = summary
      } finally {
        syncing = null
      }
    })()
    await syncing
  }
  fastify.decorate('syncSigningKeys', syncSigningKeys)

  if (store !== null) {
    await syncSigningKeys() // boot fails here, with the reason, if MongoDB or the sealing secret is wrong
    const problem = accessTokens.signingProblem()
    if (problem !== null) throw new Error(problem)
    const timer = setInterval(() => {
      syncSigningKeys().catch((error: Error) => { fastify.log.warn({ reason: error.message }, 'signing keys not synced; the keys in memory stay in use') })
    }, schedule.syncMs)
    timer.unref()
    fastify.addHook('onClose', async () => { clearInterval(timer) })
  }
}, { name: 'jwt', dependencies: ['config', 'mongoose'] })
