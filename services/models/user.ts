import { Schema, type Connection, type InferSchemaType } from 'mongoose'

const userSchema = new Schema({
  email: { type: String, required: true, unique: true, lowercase: true, trim: true, maxlength: 254 },
  name: { type: String, required: true, trim: true, maxlength: 100 },
  /** argon2id PHC string; absent for passwordless-only accounts. */
  passwordHash: { type: String },
  /** Access tokens issued before this instant are dead (logout-all). Mirrors Redis `validAfter`. */
  tokensValidAfter: { type: Date },
  /** The WebAuthn user handle (32 random bytes, base64url): never the address or the database id. Set at the first passkey. */
  passkeyHandle: { type: String },
  /** Set while an administrator has disabled the account (services/admin). Mirrored in Redis for the tokens' check. */
  disabledAt: { type: Date },
  /** The administrator's note on why (never shown to the user). */
  disabledReason: { type: String, maxlength: 500 },
  /** When an administrator last enabled it: a disable decided before this is never applied again (journal replays). */
  enabledAt: { type: Date }
}, { timestamps: true, versionKey: false, strict: 'throw', read: 'primary' })

export type UserFields = InferSchemaType<typeof userSchema>

export const createUserModel = (connection: Connection) => connection.model('User', userSchema)
export type UserModel = ReturnType<typeof createUserModel>
export type UserDocument = InstanceType<UserModel>
