import { Schema, type Connection, type InferSchemaType, type Types } from 'mongoose'

/**
 * A passkey (WebAuthn credential) of a user. `credentialId` (base64url, as the browser reports it) is
 * unique: one credential belongs to one account. The public key is the COSE key the authenticator
 * gave at registration (not a secret). `counter` is the last signature counter seen; `backupEligible`
 * never changes for a credential (a change is refused), `backedUp` follows the authenticator.
 */
const passkeySchema = new Schema({
  credentialId: { type: String, required: true, unique: true, maxlength: 1400 },
  userId: { type: Schema.Types.ObjectId, required: true, index: true },
  publicKey: { type: Buffer, required: true },
  counter: { type: Number, required: true, min: 0 },
  transports: { type: [String], default: [] },
  backupEligible: { type: Boolean, required: true },
  backedUp: { type: Boolean, required: true },
  aaguid: { type: String, required: true },
  name: { type: String, required: true, trim: true, maxlength: 100 },
  lastUsedAt: { type: Date, default: null }
}, { timestamps: { createdAt: true, updatedAt: false }, versionKey: false, strict: 'throw', read: 'primary' })

export type PasskeyFields = InferSchemaType<typeof passkeySchema> & { _id: Types.ObjectId, createdAt: Date }

export const createPasskeyModel = (connection: Connection) => connection.model('Passkey', passkeySchema)
export type PasskeyModel = ReturnType<typeof createPasskeyModel>
