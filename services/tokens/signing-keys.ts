import { createHash, createPublicKey, generateKeyPairSync, type JsonWebKey } from 'node:crypto'
import type { Clock } from '../infrastructure/clock.js'
import { derivedEventId } from '../events/outbox.js'
import { insertIdempotent } from '../models/insert.js'
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
  /** Set when this key should sign (now or from activatesAt) but its private part cannot be used: why. */
  unusable?: string
}

/** What a sync learned: the ring's keys, and what went wrong on the way (each one line, no secret). */
export interface SyncResult {
  keys: RingKey[]
  problems: string[]
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

/** Whether a stored public key is the one its kid (RFC 7638 thumbprint) names; false for a malformed JWK. */
export function thumbprintMatches (jwk: JsonWebKey, kid: string): boolean {
  try {
    return jwkThumbprint(jwk) === kid && publicPem(jwk).length > 0
  } catch {
    return false
  }
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

  /** The private key, or why it cannot be had (erased, or sealed under another secret). */
  function openPrivate (doc: SigningKeyFields): { pem: string } | { unusable: string } {
    if (doc.sealedPrivateKey === null || doc.sealedPrivateKey === undefined) return { unusable: `signing key ${doc._id} has no private key stored` }
    const pem = open(sealingSecret, sealPurpose(doc._id), doc.sealedPrivateKey)
    if (pem === null) return { unusable: `signing key ${doc._id} cannot be decrypted: KEY_ENCRYPTION_SECRET (or JWT_SECRET) differs from the one that sealed it` }
    return { pem }
  }

  /**
   * What the key ring needs from the stored keys at `now`. Never throws: one key that cannot be
   * used must not keep the others (and above all the removals) from the ring. A key whose public
   * part does not hash to its kid is left out (a tampered or corrupted record); a key that should
   * sign but whose private part cannot be opened is kept for verification and marked `unusable`.
   */
  function ringKeys (docs: SigningKeyFields[], now: number, problems: string[]): RingKey[] {
    const keys: RingKey[] = []
    const current = signingAt(docs, now)
    for (const doc of usable(docs)) {
      const activatesAt = doc.activatesAt.getTime()
      // When it stopped signing: the activation of the next generation, whatever became of that one.
      const successor = docs.filter((other) => other.generation > doc.generation).at(-1)
      const retiredAt = successor === undefined ? Infinity : successor.activatesAt.getTime()
      if (retiredAt + schedule.overlapMs <= now) continue
      const publicJwk = doc.publicJwk as JsonWebKey
      if (!thumbprintMatches(publicJwk, doc._id)) {
        problems.push(`signing key ${doc._id} is ignored: its public key does not match its kid`)
        continue
      }
      const key: RingKey = { kid: doc._id, alg: algorithm, publicJwk, activatesAt }
      if (doc === current || activatesAt > now) {
        const opened = openPrivate(doc)
        if ('pem' in opened) key.privatePem = opened.pem
        else {
          key.unusable = opened.unusable
          problems.push(opened.unusable)
        }
      }
      keys.push(key)
    }
    return keys
  }

  return {
    /**
     * Whether this store's sealing secret opens the key that signs now (null when there is no such
     * key, or its private part is gone): the rotate script warns when it runs with another secret
     * than the one the running instances used.
     */
    async opensCurrentKey (): Promise<boolean | null> {
      const current = signingAt(await newest(), clock.now())
      if (current === undefined || current.sealedPrivateKey === null || current.sealedPrivateKey === undefined) return null
      return 'pem' in openPrivate(current)
    },

    /**
     * Reads the keys, creates the first or the next one when due (one winner however many
     * instances try), erases private parts that can no longer sign, and returns the ring's keys.
     */
    async sync (): Promise<SyncResult> {
      // The only step that must succeed: without a read there is nothing new to apply.
      let docs = await newest()
      const problems: string[] = []
      // Everything after the read is best effort: whatever fails, the keys read (and so every
      // removal) reach the ring.
      try {
        for (let attempt = 0; attempt < 5; attempt++) {
          const due = successorDue(docs, clock.now())
          if (due === null) break
          await insertGeneration((docs[0]?.generation ?? 0) + 1, due)
          docs = await newest()
        }
      } catch (error) {
        problems.push(`the next signing key could not be created (${(error as Error).message})`)
      }
      const now = clock.now()
      const current = signingAt(docs, now)
      // Erased once the successor has signed for longer than any clock may lag behind.
      const settled = current !== undefined && current.activatesAt.getTime() <= now - CLOCK_SKEW_MS
      const replaced = usable(docs).filter((doc) => settled && doc.generation < current.generation && doc.sealedPrivateKey !== null)
      if (replaced.length > 0) {
        await SigningKey.updateMany({ _id: { $in: replaced.map((doc) => doc._id) } }, { $set: { sealedPrivateKey: null } })
          .catch((error: Error) => { problems.push(`replaced private keys could not be erased (${error.message})`) })
      }
      return { keys: ringKeys(docs, now, problems), problems }
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
