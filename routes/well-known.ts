import { Type, type FastifyPluginAsyncTypebox, type Static } from '@fastify/type-provider-typebox'
import { NotFoundError } from '../services/infrastructure/errors.js'
import { keySchedule } from '../services/tokens/key-schedule.js'
import { unlimited } from './route-options.js'
import { errors } from './schemas.js'

const Jwk = Type.Object({
  kty: Type.String({ description: 'OKP (Ed25519) or EC (P-256)' }),
  crv: Type.String(),
  x: Type.String(),
  y: Type.Optional(Type.String()),
  kid: Type.String({ description: 'RFC 7638 thumbprint; every access token names its key in its header' }),
  alg: Type.String({ description: 'EdDSA or ES256' }),
  use: Type.Literal('sig')
})

/**
 * GET /.well-known/jwks.json: the public keys that verify access tokens (RFC 7517), served from
 * the key ring in memory (the document is built once per key change; no MongoDB or Redis per request,
 * so it is not rate limited either). Cache-Control max-age is at most half of the time a retired key
 * stays published (services/tokens/key-schedule.ts).
 */
const wellKnownRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  const cacheControl = `public, max-age=${keySchedule(fastify.config).jwksMaxAge}`

  fastify.get('/.well-known/jwks.json', {
    ...unlimited,
    schema: {
      tags: ['keys'],
      operationId: 'getJwks',
      security: [],
      summary: 'Public keys for verifying access tokens (JWKS)',
      description: 'RFC 7517 key set of every published signing key: the current one, a successor published ahead of its use, and ' +
        'retired ones still inside their grace period. Resource servers verify access tokens with it (pin the algorithm; pick the key by `kid`). ' +
        `Cacheable (${cacheControl}). Only with JWT_ALGORITHM EdDSA or ES256: with HS256 there is no public key and this is a 404.`,
      response: { 200: Type.Object({ keys: Type.Array(Jwk) }, { description: 'The published public keys (current, next, and retired ones still in their grace period)' }), ...errors({ 404: 'NOT_FOUND (JWT_ALGORITHM is HS256)' }) }
    }
  }, async (_request, reply) => {
    const jwks = fastify.accessTokens.jwks()
    if (jwks === null) throw new NotFoundError('JWT_ALGORITHM is HS256: tokens are signed with a shared secret and there are no public keys')
    reply.header('cache-control', cacheControl).header('access-control-allow-origin', '*')
    return jwks as { keys: Array<Static<typeof Jwk>> }
  })
}

export default wellKnownRoutes
