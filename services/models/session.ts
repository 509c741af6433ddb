import { Schema, type Connection, type InferSchemaType, type Types } from 'mongoose'

/**
 * A signed-in device. The source of truth for revocation: Redis only mirrors it (see
 * services/sessions/revocation.ts). Revoked sessions are kept (revokedAt set) rather than deleted, so the
 * mirror can be rebuilt after Redis loses its data.
 */
const sessionSchema = new Schema({
  userId: { type: Schema.Types.ObjectId, required: true, index: true },
  /** SHA-256 of the current refresh token. */
  refreshHash: { type: String, required: true, unique: true },
  /** Absolute end of the session (REFRESH_TOKEN_TTL after sign-in); refreshing does not extend it. */
  expiresAt: { type: Date, required: true },
  lastUsedAt: { type: Date, required: true },
  userAgent: { type: String, maxlength: 256 },
  ip: { type: String, maxlength: 64 },
  method: { type: String, enum: ['magic-link', 'otp', 'password', 'cross-device', 'passkey'], required: true },
  /** When the person last proved who they are on this session (sign-in, re-authentication): the tokens' auth_time. */
  authTime: { type: Date },
  revokedAt: { type: Date, default: null },
  revokeReason: { type: String, enum: ['logout', 'logout-all', 'reuse', 'user', 'deleted', 'disabled', null], default: null }
}, { timestamps: { createdAt: true, updatedAt: false }, versionKey: false, strict: 'throw', read: 'primary' })

export type SessionFields = InferSchemaType<typeof sessionSchema> & { _id: Types.ObjectId, createdAt: Date }

export const createSessionModel = (connection: Connection) => connection.model('Session', sessionSchema)
export type SessionModel = ReturnType<typeof createSessionModel>
export type SessionDocument = InstanceType<SessionModel>
