import fastifyJwt from '@fastify/jwt'
import fp from 'fastify-plugin'
import type { AccessClaims } from '../../services/sessions/revocation.js'

declare module '@fastify/jwt' {
  interface FastifyJWT {
    payload: Pick<AccessClaims, 'sub' | 'sid' | 'jti'>
    user: AccessClaims
  }
}

/**
 * @fastify/jwt with the algorithm pinned to HS256 on both sides and every claim the revocation
 * check needs made mandatory. `alg: none`, HS512/RS256 re-signing and tokens missing
 * exp/jti/sub/sid are all rejected by the verifier itself.
 */
export default fp(async function jwtPlugin (fastify) {
  await fastify.register(fastifyJwt, {
    secret: fastify.config.JWT_SECRET,
    // @fastify/jwt reads a numeric expiresIn as seconds
    sign: { algorithm: 'HS256', expiresIn: fastify.config.ACCESS_TOKEN_TTL },
    verify: { algorithms: ['HS256'], requiredClaims: ['exp', 'iat', 'jti', 'sub', 'sid'] }
  })
}, { name: 'jwt', dependencies: ['config'] })
