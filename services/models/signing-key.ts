import { Schema, type Connection, type InferSchemaType } from 'mongoose'

/**
 * An asymmetric access-token signing key (JWT_ALGORITHM EdDSA or ES256). MongoDB is the truth that
 * every instance reads (services/tokens/signing-keys.ts). The private part is stored only sealed
 * (AES-256-GCM under a key derived from KEY_ENCRYPTION_SECRET or JWT_SECRET, bound to the kid) and
 * is erased once the key has stopped signing.
 *
 * `generation` orders the keys and decides races: it has a unique index, so when several
 * instances try to create the first key, or the next one, exactly one insert wins (FerretDB has no
 * transactions, and its conditional updates are not atomic; unique inserts are).
 */
const signingKeySchema = new Schema({
  /** The kid: RFC 7638 JWK thumbprint (SHA-256) of the public key. */
  _id: { type: String, required: true },
  generation: { type: Number, required: true, unique: true },
  alg: { type: String, enum: ['EdDSA', 'ES256'], required: true },
  /** The public key as a JWK (kty, crv, x, y), without kid/alg/use. */
  publicJwk: { type: Schema.Types.Mixed, required: true },
  /** seal() of the PKCS#8 PEM; null once the key has been replaced. */
  sealedPrivateKey: { type: String, default: null },
  /** When it starts signing; it stops when the next generation starts. */
  activatesAt: { type: Date, required: true },
  /** Set by a rotation that revokes it (suspected leak): no longer published or accepted. */
  removedAt: { type: Date, default: null }
}, { timestamps: { createdAt: true, updatedAt: false }, versionKey: false, strict: 'throw' })

export type SigningKeyFields = InferSchemaType<typeof signingKeySchema> & { _id: string, createdAt: Date }

export const createSigningKeyModel = (connection: Connection) => connection.model('SigningKey', signingKeySchema)
export type SigningKeyModel = ReturnType<typeof createSigningKeyModel>
