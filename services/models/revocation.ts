import { Schema, type Connection, type InferSchemaType, type Types } from 'mongoose'

export const REVOCATION_KINDS = ['logout', 'logout-all', 'session', 'reuse', 'account-deleted', 'account-disabled'] as const
export type RevocationKind = typeof REVOCATION_KINDS[number]

/**
 * The revocation journal (an outbox): every revocation is written here first, with everything
 * needed to apply it again, then to the sessions and users, then mirrored into Redis. Redis can
 * lose writes (a failed write, a flush, a restart, a restore from an older snapshot, a replica
 * promoted behind its master); the data-loss watch re-applies from here whatever Redis may be
 * missing (services/sessions/revocation.ts). An entry matters to Redis only until every token it
 * covers has expired (`expiresAt`); once fully applied a TTL index removes it (`purgeAt`) where the
 * server has TTL indexes, and every query ignores expired entries where it has not.
 */
const revocationSchema = new Schema({
  kind: { type: String, enum: REVOCATION_KINDS, required: true },
  userId: { type: Schema.Types.ObjectId, required: true },
  /** Sessions revoked (their access tokens die, their refresh tokens too). */
  sessionIds: { type: [Schema.Types.ObjectId], default: [] },
  /** The logged-out access token's jti and expiry (logout). */
  jti: { type: String },
  tokenExpiresAt: { type: Date },
  /** Access tokens of the user issued before this instant die (logout-all, account deletion). */
  validAfter: { type: Date },
  /** When the revocation was decided. */
  at: { type: Date, required: true },
  /** After this instant no token the entry covers can be alive. */
  expiresAt: { type: Date, required: true },
  /** When its Redis mirror was last written; null while the write is pending (the watch retries it). */
  mirroredAt: { type: Date, default: null, index: true },
  /**
   * Set (to expiresAt or later) once the entry is fully applied; the TTL index removes the entry
   * then. An entry whose application is still pending has none, so it is never removed unapplied.
   */
  purgeAt: { type: Date },
  /** When its audit events (session.revoked, user.deleted) were derived from it (services/events/outbox.ts). */
  eventsAt: { type: Date, default: null, index: true }
}, { versionKey: false, strict: 'throw', collection: 'revocations', read: 'primary' })

export type RevocationFields = InferSchemaType<typeof revocationSchema> & { _id: Types.ObjectId }

export const createRevocationModel = (connection: Connection) => connection.model('Revocation', revocationSchema)
export type RevocationModel = ReturnType<typeof createRevocationModel>

/**
 * What MongoDB knows about each Redis shard's mirror: the marker's epoch and the highest
 * watermark the watch confirmed writing to it. A marker found behind this means the shard went
 * back in time (a restore from an older snapshot, lost AOF writes, a lagging replica promoted).
 */
const redisShardSchema = new Schema({
  _id: { type: String, required: true },
  epoch: { type: String, required: true },
  confirmed: { type: Number, required: true }
}, { versionKey: false, strict: 'throw', collection: 'redis_shards', read: 'primary' })

export const createRedisShardModel = (connection: Connection) => connection.model('RedisShard', redisShardSchema)
export type RedisShardModel = ReturnType<typeof createRedisShardModel>
