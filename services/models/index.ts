import type { Connection } from 'mongoose'
import { createAuditEventModel } from './audit-event.js'
import { mongoBudgetPlugin } from './mongo-budget-plugin.js'
import { createRefreshRotationModel } from './refresh-rotation.js'
import { createRedisShardModel, createRevocationModel } from './revocation.js'
import { createSessionModel } from './session.js'
import { createSigningKeyModel } from './signing-key.js'
import { createTodoModel } from './todo.js'
import { createUserModel } from './user.js'
import { createWebhookAttemptModel, createWebhookDeliveryModel, createWebhookEndpointModel } from './webhook.js'

/**
 * The models. User, Session and RefreshRotation decide revocation and refresh rotation, and the
 * revocation journal (Revocation) and the Redis shard watermarks (RedisShard) decide what the
 * data-loss watch re-applies, so their schemas read from the primary (`read: 'primary'`) whatever
 * MONGODB_URL's readPreference says: a lagging secondary could revive a logged-out token, accept a
 * rotated refresh token twice or hide a journal entry Redis is missing. Todos follow the
 * connection string.
 */
export function createModels (connection: Connection) {
  connection.plugin(mongoBudgetPlugin)
  return {
    User: createUserModel(connection),
    Session: createSessionModel(connection),
    RefreshRotation: createRefreshRotationModel(connection),
    Todo: createTodoModel(connection),
    Revocation: createRevocationModel(connection),
    RedisShard: createRedisShardModel(connection),
    SigningKey: createSigningKeyModel(connection),
    AuditEvent: createAuditEventModel(connection),
    WebhookEndpoint: createWebhookEndpointModel(connection),
    WebhookDelivery: createWebhookDeliveryModel(connection),
    WebhookAttempt: createWebhookAttemptModel(connection)
  }
}

export type Models = ReturnType<typeof createModels>

/** MongoDB error codes meaning "this server does not implement that" (FerretDB lacks TTL indexes). */
const NOT_IMPLEMENTED = new Set([115, 238])

/**
 * Builds the schema indexes (the unique email and refresh-hash indexes must exist before the first
 * request), then the TTL indexes that let real MongoDB drop ended sessions and rotation records.
 * A server without TTL indexes keeps those documents; nothing depends on their removal.
 */
export async function ensureIndexes (models: Models): Promise<{ ttlIndexes: boolean }> {
  // Built explicitly (the connection sets autoIndex: false so nothing happens behind our back).
  for (const model of Object.values(models)) await model.createIndexes()
  try {
    await models.Session.collection.createIndex({ expiresAt: 1 }, { expireAfterSeconds: 0, name: 'expiresAt_ttl' })
    await models.RefreshRotation.collection.createIndex({ expiresAt: 1 }, { expireAfterSeconds: 0, name: 'expiresAt_ttl' })
    await models.Revocation.collection.createIndex({ purgeAt: 1 }, { expireAfterSeconds: 0, name: 'purgeAt_ttl' })
    return { ttlIndexes: true }
  } catch (error) {
    if (NOT_IMPLEMENTED.has((error as { code?: number }).code ?? 0)) return { ttlIndexes: false }
    throw error
  }
}
