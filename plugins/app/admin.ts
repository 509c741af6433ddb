import type { FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { createAdminKeys, presentedAdminKey, type AdminKeyIdentity } from '../../services/admin/admin-keys.js'
import { createUserAdmin } from '../../services/admin/user-admin.js'
import { splitList } from '../../services/infrastructure/config.js'
import { AdminKeyInvalidError } from '../../services/infrastructure/errors.js'
import { redisKeys } from '../../services/infrastructure/redis-keys.js'
import { clientKey, refuseOverLimit } from '../external/rate-limit.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** The admin API keys (ADMIN_API_KEYS), as hashes; `enabled` is false when none is set. */
    adminKeys: ReturnType<typeof createAdminKeys>
    /** What administrators do to accounts (the admin API and `npm run admin`). */
    userAdmin: ReturnType<typeof createUserAdmin>
    /**
     * onRequest hook of every /admin route: the per-IP admin limit (RATE_LIMIT_ADMIN, through
     * Redis, counted before the key is looked at), then the key (401 ADMIN_KEY_INVALID).
     */
    authenticateAdmin: (request: FastifyRequest, reply: FastifyReply) => Promise<void>
    /**
     * preHandler hook of every /admin route: the call, validated, is recorded as an `admin.action`
     * event naming the key's fingerprint before it acts (if the record fails, nothing happens).
     */
    recordAdminCall: (request: FastifyRequest) => Promise<void>
  }
  interface FastifyRequest {
    /** The admin key that authenticated this request (set by `authenticateAdmin`). */
    adminKey: AdminKeyIdentity | null
  }
}

/** Params and query of an admin call as its event records them (ids and search terms; never a body). */
function callDetails (request: FastifyRequest): Record<string, unknown> {
  const details: Record<string, unknown> = { method: request.method, route: request.routeOptions.url ?? request.url.split('?')[0] }
  const params = request.params as Record<string, unknown> | undefined
  const query = request.query as Record<string, unknown> | undefined
  if (params !== undefined && Object.keys(params).length > 0) details.params = params
  if (query !== undefined && Object.keys(query).length > 0) details.query = query
  return details
}

export default fp(async function adminPlugin (fastify) {
  const adminKeys = createAdminKeys(splitList(fastify.config.ADMIN_API_KEYS))
  const { models } = fastify.mongo
  fastify.decorate('adminKeys', adminKeys)
  fastify.decorate('userAdmin', createUserAdmin({
    models, revocation: fastify.revocation, sessions: fastify.sessions, accounts: fastify.accounts, auditLog: fastify.auditLog, clock: fastify.clock
  }))
  fastify.decorateRequest('adminKey', null)

  const checkLimit = refuseOverLimit(fastify.createRateLimit({
    max: fastify.config.RATE_LIMIT_ADMIN,
    timeWindow: 60_000,
    keyGenerator: (request) => redisKeys.adminHits(clientKey(request.ip))
  }))

  fastify.decorate('authenticateAdmin', async function authenticateAdmin (request: FastifyRequest, reply: FastifyReply): Promise<void> {
    await checkLimit(request, reply)
    const identity = adminKeys.identify(presentedAdminKey(request.headers.authorization))
    if (identity === null) {
      reply.header('www-authenticate', 'Bearer realm="admin"')
      request.log.warn({ ip: request.ip }, 'admin API: missing or wrong key')
      throw new AdminKeyInvalidError()
    }
    request.adminKey = identity
  })

  fastify.decorate('recordAdminCall', async function recordAdminCall (request: FastifyRequest): Promise<void> {
    // The user a call is about goes in data.targetUserId, not userId: the event (the admin's IP,
    // user agent and key fingerprint) is not part of that user's own activity (GET /auth/activity).
    const id = (request.params as { id?: string } | undefined)?.id
    const targetUserId = request.routeOptions.url?.startsWith('/admin/users/:id') === true ? id : undefined
    const reason = (request.body as { reason?: unknown } | undefined)?.reason
    await fastify.auditLog.record({
      type: 'admin.action',
      ip: request.ip,
      ...(request.headers['user-agent'] !== undefined && { userAgent: request.headers['user-agent'].slice(0, 256) }),
      data: {
        keyFingerprint: request.adminKey?.fingerprint,
        ...callDetails(request),
        ...(targetUserId !== undefined && { targetUserId }),
        ...(typeof reason === 'string' && { reason })
      }
    })
  })
}, { name: 'admin', dependencies: ['services', 'rate-limit'] })
