import { Schema, type Connection, type InferSchemaType } from 'mongoose'

/**
 * One document per refresh token that has been rotated, keyed by that token's SHA-256.
 *
 * Inserting it is how a rotation is decided: the unique `_id` lets exactly one of any number of
 * parallel refreshes win (conditional updates are not atomic on every MongoDB-compatible server;
 * unique inserts are). It also remembers every retired token, so presenting one again is
 * recognised as reuse, and carries the new pair sealed with a key derived from the old token
 * (which is stored nowhere), for the REFRESH_REUSE_GRACE window.
 */
const refreshRotationSchema = new Schema({
  _id: { type: String, required: true },
  sessionId: { type: Schema.Types.ObjectId, required: true },
  userId: { type: Schema.Types.ObjectId, required: true },
  nextHash: { type: String, required: true },
  sealedPair: { type: String, required: true },
  rotatedAt: { type: Date, required: true },
  /** When the session itself ends; a TTL index removes the record then (where supported). */
  expiresAt: { type: Date, required: true }
}, { versionKey: false, strict: 'throw', read: 'primary' })

export type RefreshRotationFields = InferSchemaType<typeof refreshRotationSchema>

export const createRefreshRotationModel = (connection: Connection) => connection.model('RefreshRotation', refreshRotationSchema)
export type RefreshRotationModel = ReturnType<typeof createRefreshRotationModel>
