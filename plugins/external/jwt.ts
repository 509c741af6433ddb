import fastifyJwt from '@fastify/jwt'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { isAppError, TokenExpiredError, TokenInvalidError } from '../../services/infrastructure/errors.js'
import { createAccessTokens, fastJwtEngine, hasClaimTypes, hs256Kid, REQUIRED_CLAIMS, type AccessTokens, type JwtEngine } from '../../services/tokens/access-tokens.js'
import { keySchedule } from '../../services/tokens/key-schedule.js'
import { createSigningKeyStore } from '../../services/tokens/signing-keys.js'
import type { AccessClaims } from '../../services/sessions/revocation.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** The key ring: signs and verifies access tokens through @fastify/jwt (pinned algorithm and kid). */
    accessTokens: AccessTokens
    /** Re-reads the signing keys from MongoDB now (asymmetric algorithms; a no-op for HS256). */
    syncSigningKeys: () => Promise<void>
    /**
     * EdDSA / ES256: verifies `token` through `request.jwtVerify()`, whose verifiers @fastify/jwt
     * caches per key (fastify.jwt.verify with a key builds one per call: +0.2 ms). Null for HS256,
     * whose static verifier is already prebuilt: use accessTokens.verify.
     */
    verifyOnRequest: ((request: FastifyRequest, token: string) => Promise<AccessClaims>) | null
  }
}
declare module '@fastify/jwt' {
  interface FastifyJWT {
    payload: Record<string, unknown>
    /** request.user: claims of the verified access token, set by `authenticate`. */
    user: AccessClaims
  }
}

/** Where verifyOnRequest leaves the token for @fastify/jwt's extractToken. */
const PENDING_TOKEN = Symbol('access token being verified')

/** At most one key re-read per this long when tokens name kids this instance does not know. */
const UNKNOWN_KID_SYNC_GAP_MS = 5_000

/**
 * Access tokens are signed and verified through @fastify/jwt (`fastify.jwt.sign` / `fastify.jwt.verify`
 * with HS256, `request.jwtVerify()` for EdDSA / ES256 Bearer tokens),
 * with the key ring (services/tokens/access-tokens.ts) choosing the key: the ring pins the exact JOSE
 * header (algorithm and kid) before any cryptography, and makes one signer and one verifier per key.
 *
 * HS256: one key, JWT_SECRET, given to @fastify/jwt as its static secret with the kid in its sign
 * options, so its own prebuilt signer and verifier do the work. EdDSA / ES256: the key pairs live in
 * MongoDB (services/tokens/signing-keys.ts) and change at run time: a Bearer token is verified
 * through `request.jwtVerify()` (`verifyOnRequest`), whose key callback finds the key by the exact
 * header in the ring and whose verifiers @fastify/jwt caches per key; signing and request-less
 * verification use the fast-jwt signer and verifier the ring builds once per key (see the engine
 * below and docs/keys.md). This instance
 * reads them at boot (creating the first one if the database has none), every
 * JWT_KEY_SYNC_INTERVAL after that, and at most every 5 s when a token names a kid of our
 * algorithm it does not know (another instance rotated). MongoDB being down only delays a sync:
 * the keys in memory keep working.
 */
export default fp(async function jwtPlugin (fastify) {
  const { config, clock } = fastify
  const schedule = keySchedule(config)
  let lastSync = 0
  let syncing: Promise<void> | null = null
  const algorithm = config.JWT_ALGORITHM
  const hs256 = algorithm === 'HS256'

  // eslint-disable-next-line prefer-const -- assigned once the ring exists; the key callbacks below read it
  let ring: AccessTokens | undefined
  await fastify.register(fastifyJwt, hs256
    ? {
        secret: config.JWT_SECRET,
        sign: { algorithm: 'HS256', kid: hs256Kid(config.JWT_SECRET), expiresIn: config.ACCESS_TOKEN_TTL },
        verify: { algorithms: ['HS256'], requiredClaims: REQUIRED_CLAIMS }
      }
    : {
        secret: {
          // Signing picks the key and kid in the ring (fastify.accessTokens.sign), never reply.jwtSign.
          private: (_request: unknown, _payload: unknown, done: (error: Error | null, key: string | undefined) => void) => { done(new Error('access tokens are signed by fastify.accessTokens.sign'), undefined) },
          // request.jwtVerify(): the key of the token's exact header, or TOKEN_INVALID.
          public: (_request: unknown, decoded: unknown, done: (error: Error | null, key: string | undefined) => void) => {
            const input = (decoded as { input?: string }).input ?? ''
            const key = ring?.verifyingKey(input.slice(0, input.indexOf('.')))
            if (key === undefined) done(new TokenInvalidError(), undefined)
            else done(null, key)
          }
        },
        decode: { complete: true },
        sign: { algorithm },
        verify: {
          algorithms: [algorithm],
          requiredClaims: REQUIRED_CLAIMS,
          extractToken: (request: FastifyRequest) => (request as unknown as Record<symbol, string | undefined>)[PENDING_TOKEN]
        }
      })

  // HS256 goes through @fastify/jwt's own prebuilt signer and verifier. A key of the ring (EdDSA /
  // ES256) would make @fastify/jwt build a fast-jwt signer or verifier from the PEM on every call
  // that passes a key (it keeps no per-key signer; about 0.5 ms per EdDSA signature against 0.05 ms
  // prebuilt), so the ring's one signer and verifier per key are fast-jwt's own, the library
  // @fastify/jwt wraps, built once when the key enters the ring.
  const engine: JwtEngine = {
    signer: (options) => hs256 && options.key === config.JWT_SECRET ? (payload) => fastify.jwt.sign(payload) : fastJwtEngine.signer(options),
    verifier: (options) => hs256 && options.key === config.JWT_SECRET ? (token) => fastify.jwt.verify(token) : fastJwtEngine.verifier(options)
  }

  const accessTokens = createAccessTokens({
    algorithm,
    accessTokenTtl: config.ACCESS_TOKEN_TTL,
    hsSecret: config.JWT_SECRET,
    clock,
    engine,
    onUnknownKey: () => {
      if (Date.now() - lastSync >= UNKNOWN_KID_SYNC_GAP_MS) void syncSigningKeys().catch(() => {})
    }
  })
  ring = accessTokens
  fastify.decorate('accessTokens', accessTokens)
  const verifyOnRequest: FastifyInstance['verifyOnRequest'] = hs256
    ? null
    : async function verifyOnRequest (request: FastifyRequest, token: string): Promise<AccessClaims> {
      // An unknown or foreign header is refused by the ring itself (and may ask for a key sync).
      if (accessTokens.verifyingKey(token.slice(0, Math.max(0, token.indexOf('.')))) === undefined) return accessTokens.verify(token)
      ;(request as unknown as Record<symbol, string>)[PENDING_TOKEN] = token
      let claims: Record<string, unknown>
      try {
        claims = await request.jwtVerify<Record<string, unknown>>()
      } catch (error) {
        if (isAppError(error)) throw error
        throw (error as { code?: string }).code === 'FST_JWT_AUTHORIZATION_TOKEN_EXPIRED' ? new TokenExpiredError() : new TokenInvalidError()
      }
      if (!hasClaimTypes(claims)) throw new TokenInvalidError()
      return claims
    }
  fastify.decorate('verifyOnRequest', verifyOnRequest)

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
