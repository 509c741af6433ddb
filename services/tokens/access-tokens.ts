import { createHash, type JsonWebKey } from 'node:crypto'
import { createSigner, createVerifier } from 'fast-jwt'
import type { Clock } from '../infrastructure/clock.js'
import { SigningUnavailableError, TokenExpiredError, TokenInvalidError, withExtras } from '../infrastructure/errors.js'
import type { AccessClaims } from '../sessions/revocation.js'
import { publicPem, type AsymmetricAlgorithm, type RingKey } from './signing-keys.js'
import { deriveKey } from './token-crypto.js'

export type JwtAlgorithm = 'HS256' | AsymmetricAlgorithm

/** Claims every access token must carry; the verifier refuses a token missing any. */
export const REQUIRED_CLAIMS = ['exp', 'iat', 'jti', 'sub', 'sid']

/** What the ring asks of a JWT library for one of its keys. */
export interface SignerOptions { key: string, algorithm: JwtAlgorithm, kid: string, expiresIn: number }
export interface VerifierOptions { key: string, algorithms: JwtAlgorithm[], requiredClaims: string[] }
/**
 * The JWT library behind the ring: a signer and a verifier for one key, each made once per key
 * (when the ring changes), called per token. The app passes @fastify/jwt's
 * (plugins/external/jwt.ts); without one, fast-jwt is used directly (the library under it).
 */
export interface JwtEngine {
  signer: (options: SignerOptions) => (payload: Record<string, unknown>) => string
  verifier: (options: VerifierOptions) => (token: string) => Record<string, unknown>
}
export const fastJwtEngine: JwtEngine = {
  signer: (options) => createSigner(options),
  verifier: (options) => createVerifier(options)
}

/** The first segment of every token a key signs: fast-jwt writes {alg, typ, kid} in this order. */
export const encodedHeader = (alg: JwtAlgorithm, kid: string): string =>
  Buffer.from(JSON.stringify({ alg, typ: 'JWT', kid })).toString('base64url')

/** The kid of the HS256 key: a fingerprint of a key derived from JWT_SECRET, which reveals nothing of it. */
export const hs256Kid = (secret: string): string =>
  createHash('sha256').update(deriveKey(secret, 'latchkey hs256 kid')).digest('base64url').slice(0, 16)

export const hasClaimTypes = (claims: Record<string, unknown>): claims is Record<string, unknown> & AccessClaims =>
  typeof claims.sub === 'string' && typeof claims.sid === 'string' && typeof claims.jti === 'string' &&
  Number.isInteger(claims.iat) && Number.isInteger(claims.exp) && (claims.auth_time === undefined || Number.isInteger(claims.auth_time))

/** RFC 7517 key set. */
export interface Jwks {
  readonly keys: ReadonlyArray<JsonWebKey & { kid: string, alg: JwtAlgorithm, use: 'sig' }>
}

interface KeyEntry {
  kid: string
  activatesAt: number
  /** The secret (HS256) or public key (PEM) that verifies this key's tokens. */
  verifyKey: string
  verify: (token: string) => Record<string, unknown>
  sign?: (payload: Record<string, unknown>) => string
  /** Why a key that should sign cannot (its private part could not be opened). */
  unusable?: string
  publicJwk?: JsonWebKey
}

/**
 * The access-token key ring in memory: signs with the current key and verifies against the
 * published ones, with no I/O (the keys come from configuration for HS256, from MongoDB through
 * the signing-key store otherwise).
 *
 * Verification is pinned twice. A token's first segment (its JOSE header) must be, byte for
 * byte, the header one of our keys writes ({alg, typ, kid}); anything else is TOKEN_INVALID before
 * any cryptography: another algorithm (`none`, HS256 when EdDSA is configured, HS512, RS256 ...),
 * an unknown or retired kid, extra header fields. Then that key's fast-jwt verifier, built once
 * with its algorithm alone and the claims we require, checks the signature, exp and the claims.
 */
export function createAccessTokens ({ algorithm, accessTokenTtl, hsSecret, clock, onUnknownKey, engine = fastJwtEngine }: {
  algorithm: JwtAlgorithm
  accessTokenTtl: number
  /** JWT_SECRET: the HS256 key (only used when algorithm is HS256). */
  hsSecret: string
  clock: Clock
  /** Called when a token names a kid of our algorithm that the ring does not know (another instance may have rotated). */
  onUnknownKey?: () => void
  /** The JWT library (fast-jwt directly by default). */
  engine?: JwtEngine
}) {
  let byHeader = new Map<string, KeyEntry>()
  /** Every key, newest activation first: the first one already active is the one that signs. */
  let byActivation: KeyEntry[] = []
  let jwksDocument: Jwks | null = null
  const removedListeners: Array<() => void> = []

  const entry = (alg: JwtAlgorithm, kid: string, activatesAt: number, verifyKey: string, signKey: string | undefined, publicJwk?: JsonWebKey, unusable?: string): KeyEntry => ({
    kid,
    activatesAt,
    verifyKey,
    verify: engine.verifier({ key: verifyKey, algorithms: [alg], requiredClaims: REQUIRED_CLAIMS }),
    ...(signKey === undefined ? {} : { sign: engine.signer({ key: signKey, algorithm: alg, kid, expiresIn: accessTokenTtl * 1000 }) }),
    ...(unusable === undefined ? {} : { unusable }),
    ...(publicJwk === undefined ? {} : { publicJwk })
  })

  /**
   * The key that signs at `now`: the newest one already active (or, before any is, the oldest),
   * whether or not its private part could be opened. Never an older key in its place: an older
   * key may be the very one a rotation just revoked.
   */
  const signingEntry = (now: number): KeyEntry | undefined =>
    byActivation.find((key) => key.activatesAt <= now) ?? byActivation.at(-1)

  function install (entries: KeyEntry[]): void {
    const next = new Map(entries.map((key) => [encodedHeader(algorithm, key.kid), key]))
    const removed = [...byHeader.keys()].some((header) => !next.has(header))
    byHeader = next
    byActivation = [...entries].sort((a, b) => b.activatesAt - a.activatesAt)
    jwksDocument = algorithm === 'HS256'
      ? null
      : Object.freeze({ keys: entries.map((key) => Object.freeze({ ...key.publicJwk, kid: key.kid, alg: algorithm, use: 'sig' as const })) })
    if (removed) for (const listener of removedListeners) listener()
  }

  function unknownHeader (token: string, dot: number): void {
    if (onUnknownKey === undefined || dot <= 0) return
    try {
      const header = JSON.parse(Buffer.from(token.slice(0, dot), 'base64url').toString()) as { alg?: unknown, kid?: unknown }
      if (header.alg === algorithm && typeof header.kid === 'string') onUnknownKey()
    } catch {
      // not JSON: not ours
    }
  }

  if (algorithm === 'HS256') install([entry('HS256', hs256Kid(hsSecret), 0, hsSecret, hsSecret)])

  return {
    algorithm,

    /**
     * Signs {sub, sid, jti, auth_time} with the key that signs now (iat and exp added, kid in the
     * header); 503 SERVICE_UNAVAILABLE when that key's private part could not be opened.
     */
    sign (claims: Pick<AccessClaims, 'sub' | 'sid' | 'jti' | 'auth_time'>): string {
      const signer = signingEntry(clock.now())
      if (signer?.sign === undefined) throw withExtras(new SigningUnavailableError(), { retryAfter: 1 })
      return signer.sign({ sub: claims.sub, sid: claims.sid, jti: claims.jti, ...(claims.auth_time === undefined ? {} : { auth_time: claims.auth_time }) })
    },

    /** Null when the key that signs now can sign; otherwise one line saying why not (for /ready and the log). */
    signingProblem (): string | null {
      const signer = signingEntry(clock.now())
      if (signer === undefined) return 'no signing key is loaded'
      return signer.sign === undefined ? (signer.unusable ?? `signing key ${signer.kid} has no private key`) : null
    },

    /** Signature, algorithm, kid and claims; throws TOKEN_EXPIRED or TOKEN_INVALID. No I/O. */
    verify (token: string): AccessClaims {
      const dot = token.indexOf('.')
      const key = dot > 0 ? byHeader.get(token.slice(0, dot)) : undefined
      if (key === undefined) {
        unknownHeader(token, dot)
        throw new TokenInvalidError()
      }
      let claims: Record<string, unknown>
      try {
        claims = key.verify(token)
      } catch (error) {
        throw (error as { code?: string }).code === 'FAST_JWT_EXPIRED' ? new TokenExpiredError() : new TokenInvalidError()
      }
      if (!hasClaimTypes(claims)) throw new TokenInvalidError()
      return claims
    },

    /**
     * The key that verifies a token whose first segment is exactly `header`, or undefined (the
     * exact-header pin, for a JWT library's key callback).
     */
    verifyingKey (header: string): string | undefined { return byHeader.get(header)?.verifyKey },

    /** Replaces the asymmetric keys (after a sync with MongoDB). */
    update (keys: RingKey[]): void {
      if (algorithm === 'HS256') return
      install(keys.map((key) => entry(algorithm, key.kid, key.activatesAt, publicPem(key.publicJwk), key.privatePem, key.publicJwk, key.unusable)))
    },

    /** The JWKS document (RFC 7517) of every published key, built once per key change; null for HS256. */
    jwks (): Jwks | null { return jwksDocument },

    /** kids the ring accepts, and the one that signs now. */
    state (): { accepted: string[], signing: string | undefined } {
      const now = clock.now()
      return { accepted: [...byHeader.values()].map((key) => key.kid), signing: signingEntry(now)?.sign === undefined ? undefined : signingEntry(now)?.kid }
    },

    /** Runs `listener` whenever a key stops being accepted (e.g. to drop cached verifications). */
    onKeysRemoved (listener: () => void): void { removedListeners.push(listener) }
  }
}

export type AccessTokens = ReturnType<typeof createAccessTokens>
