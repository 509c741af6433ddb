import type { FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { ReauthRequiredError } from '../../services/infrastructure/errors.js'
import type { AccessClaims } from '../../services/sessions/revocation.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** True when the sign-in behind these claims is at most RECENT_AUTH_WINDOW old (auth_time). No I/O. */
    isRecentAuth: (claims: Pick<AccessClaims, 'auth_time'>) => boolean
    /** preHandler after `authenticate`: 403 REAUTH_REQUIRED unless the token's sign-in is recent. */
    requireRecentAuth: (request: FastifyRequest) => Promise<void>
  }
}

/**
 * Recent sign-in (SPEC "Recent sign-in"): adding or deleting a passkey and deleting the account need
 * `now − auth_time ≤ RECENT_AUTH_WINDOW`. Decided from the verified token alone (no Redis, no
 * MongoDB), so it adds nothing to a Bearer request's cost. A token without auth_time (minted before
 * the claim existed) is never recent.
 */
export default fp(async function recentAuthPlugin (fastify) {
  const windowSeconds = fastify.config.RECENT_AUTH_WINDOW
  const isRecentAuth = (claims: Pick<AccessClaims, 'auth_time'>): boolean =>
    claims.auth_time !== undefined && Math.floor(fastify.clock.now() / 1000) - claims.auth_time <= windowSeconds

  fastify.decorate('isRecentAuth', isRecentAuth)
  fastify.decorate('requireRecentAuth', async function requireRecentAuth (request: FastifyRequest): Promise<void> {
    if (!isRecentAuth(request.user)) throw new ReauthRequiredError()
  })
}, { name: 'recent-auth', dependencies: ['config', 'authenticate'] })
