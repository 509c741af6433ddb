import fp from 'fastify-plugin'
import { createAccountService } from '../../services/accounts/accounts.js'
import { redirectOrigins } from '../../services/infrastructure/config.js'
import { createAddressKeyer } from '../../services/email/email-address.js'
import { createEmailThrottle } from '../../services/email/email-throttle.js'
import { createFailureCeiling } from '../../services/accounts/failure-ceiling.js'
import { createMagicLinkService } from '../../services/links/magic-link.js'
import { createOtpService } from '../../services/codes/otp.js'
import { createPasswordHasher } from '../../services/accounts/passwords.js'
import { createRevocationService } from '../../services/sessions/revocation.js'
import { createSessionService } from '../../services/sessions/sessions.js'
import { createAuditLog } from '../../services/events/audit-log.js'
import { sessionStartingEvents } from '../../services/events/session-events.js'
import { createTodoService } from '../../services/todos/todos.js'
import { deriveKey } from '../../services/tokens/token-crypto.js'
import { createUserService } from '../../services/accounts/users.js'

declare module 'fastify' {
  interface FastifyInstance {
    users: ReturnType<typeof createUserService>
    passwords: ReturnType<typeof createPasswordHasher>
    revocation: ReturnType<typeof createRevocationService>
    sessions: ReturnType<typeof createSessionService>
    magicLinks: ReturnType<typeof createMagicLinkService>
    otp: ReturnType<typeof createOtpService>
    emailThrottle: ReturnType<typeof createEmailThrottle>
    failureCeiling: ReturnType<typeof createFailureCeiling>
    addressKey: (normalizedEmail: string) => string
    accounts: ReturnType<typeof createAccountService>
    todos: ReturnType<typeof createTodoService>
    /** The audit log (services/events): security events in MongoDB, shared by events, admin and passkeys. */
    auditLog: ReturnType<typeof createAuditLog>
  }
}

/** Builds the services (plain TypeScript, no Fastify inside) from the clients the external plugins opened. */
export default fp(async function servicesPlugin (fastify) {
  const { config, clock, metrics, redis } = fastify
  const { models } = fastify.mongo

  const users = createUserService({ models })
  const auditLog = createAuditLog({ models, clock })
  const passwords = createPasswordHasher()
  const revocation = createRevocationService({
    redis, models, clock, metrics, accessTokenTtl: config.ACCESS_TOKEN_TTL, userCacheTtl: config.USER_CACHE_TTL
  })
  const sessions = createSessionService({
    models,
    revocation,
    clock,
    metrics,
    signAccessToken: (claims) => fastify.accessTokens.sign(claims),
    accessTokenTtl: config.ACCESS_TOKEN_TTL,
    refreshTokenTtl: config.REFRESH_TOKEN_TTL,
    reuseGrace: config.REFRESH_REUSE_GRACE,
    sessionStarting: sessionStartingEvents(auditLog)
  })
  const emailThrottle = createEmailThrottle({ redis, cooldownSeconds: config.EMAIL_COOLDOWN, hourlyLimit: config.EMAIL_HOURLY_LIMIT })
  const addressKey = createAddressKeyer(deriveKey(config.JWT_SECRET, 'latchkey address keys'))
  const failureCeiling = createFailureCeiling({ redis, ceiling: config.FAILURE_CEILING, clock })
  const magicLinks = createMagicLinkService({
    redis,
    models,
    users,
    sessions,
    passwords,
    mailer: fastify.mailer,
    throttle: emailThrottle,
    failureCeiling,
    addressKey,
    appUrl: config.APP_URL,
    redirectOrigins: redirectOrigins(config),
    ttlSeconds: config.MAGIC_LINK_TTL,
    clock,
    metrics
  })

  const otp = createOtpService({
    redis,
    users,
    sessions,
    mailer: fastify.mailer,
    throttle: emailThrottle,
    failureCeiling,
    addressKey,
    codeKey: deriveKey(config.JWT_SECRET, 'latchkey otp codes'),
    ttlSeconds: config.OTP_TTL,
    maxAttempts: config.OTP_MAX_ATTEMPTS,
    addressBudget: config.OTP_ADDRESS_BUDGET,
    clock,
    metrics,
    onLocked: async (email, client) => {
      const user = await users.findUserByEmail(email)
      await auditLog.record({ type: 'otp.locked', userId: user?._id.toString(), ip: client.ip, userAgent: client.userAgent?.slice(0, 256), data: {} })
    }
  })

  const accounts = createAccountService({ models, users, sessions, revocation, passwords, failureCeiling, addressKey, clock, metrics, auditLog })
  const todos = createTodoService({ models })

  fastify.decorate('users', users)
  fastify.decorate('passwords', passwords)
  fastify.decorate('revocation', revocation)
  fastify.decorate('sessions', sessions)
  fastify.decorate('emailThrottle', emailThrottle)
  fastify.decorate('failureCeiling', failureCeiling)
  fastify.decorate('addressKey', addressKey)
  fastify.decorate('magicLinks', magicLinks)
  fastify.decorate('otp', otp)
  fastify.decorate('accounts', accounts)
  fastify.decorate('todos', todos)
  fastify.decorate('auditLog', auditLog)
}, { name: 'services', dependencies: ['config', 'redis', 'mongoose', 'jwt', 'mailer'] })
