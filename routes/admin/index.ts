import type { FastifyPluginAsync } from 'fastify'
import adminAuditRoutes from './audit-events.js'
import adminUserRoutes from './users.js'
import adminWebhookRoutes from './webhooks.js'

/**
 * The admin API under /admin (SPEC "Admin API"), registered only when ADMIN_API_KEYS is set:
 * without keys every /admin path is a plain 404 and none is in the OpenAPI document. Each route
 * runs `fastify.authenticateAdmin` (plugins/app/admin.ts) before anything else.
 */
const adminRoutes: FastifyPluginAsync = async (fastify) => {
  await fastify.register(adminUserRoutes)
  await fastify.register(adminAuditRoutes)
  await fastify.register(adminWebhookRoutes)
}

export default adminRoutes
