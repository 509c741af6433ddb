import { createHash, createPublicKey, generateKeyPairSync, type JsonWebKey } from 'node:crypto'
import type { Clock } from '../infrastructure/clock.js'
import { derivedEventId, insertIdempotent } from '../events/outbox.js'
import type { Models } from '../models/index.js'
import type { SigningKeyFields } from '../models/signing-key.js'
import { CLOCK_SKEW_MS, type KeySchedule } from './key-schedule.js'
import { open, seal } from './token-crypto.js'

export type AsymmetricAlgorithm = 'EdDSA' | 'ES256'

/** A key as the in-memory key ring uses it (services/tokens/access-tokens.ts). */
export interface RingKey {
  kid: string
  alg: AsymmetricAlgorithm
  publicJwk: JsonWebKey
  /** When it starts signing (a published successor may not have started yet). */
  activatesAt: number
  /** PKCS#8 PEM, for the key that signs now and a published successor; absent otherwise. */
  privatePem?: string
}

const isDuplicateKey = (error: unknown): boolean => (error as { code?: number }).code === 11000
const sealPurpose = (kid: string): string => `latchkey signing key ${kid}`

/** RFC 7638 JWK thumbprint (SHA-256, base64url): the kid, derived from the public key alone. */
export function jwkThumbprint (jwk: JsonWebKey): string {
  const members = jwk.kty === 'OKP' ? { crv: jwk.crv, kty: jwk.kty, x: jwk.x } : { crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y }
  return createHash('sha256').update(JSON.stringify(members)).digest('base64url')
}

/** A fresh key pair: Ed25519 for EdDSA, P-256 for ES256. */
function generateKeyPair (alg: AsymmetricAlgorithm): { publicJwk: JsonWebKey, privatePem: string } {
  const { publicKey, privateKey } = alg === 'EdDSA'
    ? generateKeyPairSync('ed25519')
    : generateKeyPairSync('ec', { namedCurve: 'P-256' })
  return {
    publicJwk: publicKey.export({ format: 'jwk' }),
    privatePem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()
  }
}

/** SPKI PEM of a stored public JWK (what the verifier is built from). */
export const publicPem = (jwk: JsonWebKey): string =>
  createPublicKey({ key: jwk, format: 'jwk' }).export({ type: 'spki', format: 'pem' }).toString()

export class SigningKeyUnreadableError extends Error {
  override name = 'SigningKeyUnreadableError'
}

/**
 * The signing keys in MongoDB, the truth every instance reads, and their life cycle:
 *
 * - The key that signs is the newest generation (of the configured algorithm, not removed) whose
 *   activatesAt has passed. A key stops signing when the next generation activates, and stays
 *   published and accepted for `overlapMs` after that.
 * - `sync()` creates the first key when there is none, and the next one `prepublishMs` before the
 *   current one has signed for JWT_KEY_ROTATION. Creation is an insert of generation N+1 under a
 *   unique index, so when several instances (or the rotate script) race, exactly one key is
 *   created and the others read it back.
 * - `rotate()` (scripts/rotate-signing-key.ts) creates the next generation at once; with
 *   `revoke` every older key is removed (a suspected leak): tokens signed with them are refused
 *   as soon as each instance has synced.
 * - Private parts are sealed at rest and erased once a key can no longer sign.
 */
export function createSigningKeyStore ({ models, algorithm, sealingSecret, rotationSeconds, schedule, clock }: {
  models: Models
  algorithm: AsymmetricAlgorithm
  /** KEY_ENCRYPTION_SECRET, or JWT_SECRET. */
  sealingSecret: string
  rotationSeconds: number
  schedule: KeySchedule
  clock: Clock
}) {
  const { SigningKey } = models
  const rotationMs = rotationSeconds * 1000

  /** The newest generations, removed ones included (they still hold their generation number). */
  const newest = async (): Promise<SigningKeyFields[]> =>
    await SigningKey.find({}).sort({ generation: -1 }).limit(20).lean<SigningKeyFields[]>()

  const usable = (docs: SigningKeyFields[]): SigningKeyFields[] =>
    docs.filter((doc) => doc.alg === algorithm && (doc.removedAt ?? null) === null)

  /** The key that signs at `now`: the newest usable generation already active. */
  const signingAt = (docs: SigningKeyFields[], now: number): SigningKeyFields | undefined =>
    usable(docs).find((doc) => doc.activatesAt.getTime() <= now)

  /** Inserts generation `generation` and returns its kid; null when another instance got there first. */
  async function insertGeneration (generation: number, activatesAt: number): Promise<string | null> {
    const { publicJwk, privatePem } = generateKeyPair(algorithm)
    const kid = jwkThumbprint(publicJwk)
    try {
      await SigningKey.create({
        _id: kid,
        generation,
        alg: algorithm,
        publicJwk,
        sealedPrivateKey: seal(sealingSecret, sealPurpose(kid), privatePem),
        activatesAt: new Date(activatesAt)
      })
      // signing_key.rotated (the first key is no rotation), under an id of its kid: recorded once.
      if (generation > 1) {
        const event = { _id: derivedEventId(kid, 'rotated'), type: 'signing_key.rotated', timestamp: new Date(clock.now()), data: { kid, generation, activatesAt: new Date(activatesAt).toISOString() } }
        await insertIdempotent(models.AuditEvent, [event]).catch(() => {})
      }
      return kid
    } catch (error) {
      if (isDuplicateKey(error)) return null
      throw error
    }
  }

  /** When (if at all) a new generation is due, from what MongoDB holds now. */
  function successorDue (docs: SigningKeyFields[], now: number): number | null {
    const current = signingAt(docs, now)
    if (current === undefined) return now
    if (usable(docs)[0] !== current) return null // a successor is already published
    const planned = current.activatesAt.getTime() + rotationMs
    return now >= planned - schedule.prepublishMs ? Math.max(planned, now) : null
  }

  /** The private key, or undefined once erased; a seal that does not open is a configuration error. */
  function openPrivate (doc: SigningKeyFields): string | undefined {
    if (doc.sealedPrivateKey === null || doc.sealedPrivateKey === undefined) return undefined
    const pem = open(sealingSecret, sealPurpose(doc._id), doc.sealedPrivateKey)
    if (pem === null) {
      throw new SigningKeyUnreadableError(`signing key ${doc._id} cannot be decrypted: KEY_ENCRYPTION_SECRET (or JWT_SECRET) differs from the one that sealed it`)
    }
    return pem
  }

  /** What the key ring needs from the stored keys at `now`. */
  function ringKeys (docs: SigningKeyFields[], now: number): RingKey[] {
    const keys: RingKey[] = []
    const current = signingAt(docs, now)
    for (const doc of usable(docs)) {
      const activatesAt = doc.activatesAt.getTime()
      // When it stopped signing: the activation of the next generation, whatever became of that one.
      const successor = docs.filter((other) => other.generation > doc.generation).at(-1)
      const retiredAt = successor === undefined ? Infinity : successor.activatesAt.getTime()
      if (retiredAt + schedule.overlapMs <= now) continue
      const privatePem = doc === current || activatesAt > now ? openPrivate(doc) : undefined
      keys.push({ kid: doc._id, alg: algorithm, publicJwk: doc.publicJwk as JsonWebKey, activatesAt, ...(privatePem === undefined ? {} : { privatePem }) })
    }
    return keys
  }

  return {
    /**
     * Reads the keys, creates the first or the next one when due (one winner however many
     * instances try), erases private parts that can no longer sign, and returns the ring's keys.
     */
    async sync (): Promise<RingKey[]> {
      let docs = await newest()
      for (let attempt = 0; attempt < 5; attempt++) {
        const now = clock.now()
        const due = successorDue(docs, now)
        if (due === null) break
        await insertGeneration((docs[0]?.generation ?? 0) + 1, due)
        docs = await newest()
      }
      const now = clock.now()
      const current = signingAt(docs, now)
      // Erased once the successor has signed for longer than any clock may lag behind.
      const settled = current !== undefined && current.activatesAt.getTime() <= now - CLOCK_SKEW_MS
      const replaced = usable(docs).filter((doc) => settled && doc.generation < current.generation && doc.sealedPrivateKey !== null)
      if (replaced.length > 0) {
        await SigningKey.updateMany({ _id: { $in: replaced.map((doc) => doc._id) } }, { $set: { sealedPrivateKey: null } })
      }
      return ringKeys(docs, now)
    },

    /**
     * Rotate now (scripts/rotate-signing-key.ts). The new key is published at once and signs from
     * `activatesAt`; by default that is one sync interval plus clock skew from now, so every
     * instance knows it before any token signed with it exists. With `revoke` (a suspected leak)
     * it signs at once and every older key is removed: instances refuse tokens signed with them
     * from their next sync on (or sooner, when they meet a token signed with the new key).
     */
    async rotate ({ revoke = false }: { revoke?: boolean } = {}): Promise<{ kid: string, generation: number, activatesAt: Date }> {
      for (let attempt = 0; attempt < 10; attempt++) {
        const generation = ((await newest())[0]?.generation ?? 0) + 1
        const now = clock.now()
        const activatesAt = revoke ? now : now + schedule.syncMs + CLOCK_SKEW_MS
        const kid = await insertGeneration(generation, activatesAt)
        if (kid === null) continue
        if (revoke) {
          await SigningKey.updateMany({ generation: { $lt: generation }, removedAt: null }, { $set: { removedAt: new Date(now), sealedPrivateKey: null } })
        }
        return { kid, generation, activatesAt: new Date(activatesAt) }
      }
      throw new Error('could not create a new signing key: too many concurrent rotations')
    }
  }
}

export type SigningKeyStore = ReturnType<typeof createSigningKeyStore>
