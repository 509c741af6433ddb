/**
 * A resource server that trusts Latchkey's access tokens without sharing any secret with it: it
 * verifies them with Latchkey's public keys, fetched from its JWKS URL by `jose`.
 *
 *   GET /whoami   stateless: signature (EdDSA or ES256 only, pinned), kid, exp. No call to Latchkey
 *                 per request, but a logged-out token is accepted until its exp (at most
 *                 ACCESS_TOKEN_TTL, 15 minutes by default).
 *   GET /strict   the same, then asks Latchkey (POST /auth/introspect, RFC 7662) whether the token
 *                 is still live: a logged-out or revoked token is refused at once. One HTTP call to
 *                 Latchkey per request; needs INTROSPECTION_SECRET.
 */
import Fastify, { type FastifyReply, type FastifyRequest } from 'fastify'
import { createRemoteJWKSet, errors, jwtVerify, type JWTPayload } from 'jose'

export interface ResourceServerOptions {
  /** Latchkey's base URL (APP_URL), e.g. https://auth.example.com */
  latchkeyUrl: string
  /** Latchkey's JWT_ALGORITHM; anything else is refused. */
  algorithm: 'EdDSA' | 'ES256'
  /** How long fetched keys are trusted before the key set is fetched again (ms). Keep it at or under Latchkey's JWKS max-age. */
  cacheMaxAge?: number
  /** Least time between two fetches when a token names an unknown kid (ms). */
  cooldownDuration?: number
  /** Latchkey's INTROSPECTION_SECRET, for GET /strict. */
  introspectionSecret?: string
}

declare module 'fastify' {
  interface FastifyRequest {
    claims: JWTPayload & { sid?: string }
  }
}

export function buildResourceServer (options: ResourceServerOptions) {
  const app = Fastify()
  const jwks = createRemoteJWKSet(new URL('/.well-known/jwks.json', options.latchkeyUrl), {
    cacheMaxAge: options.cacheMaxAge ?? 300_000,
    cooldownDuration: options.cooldownDuration ?? 5_000
  })
  app.decorateRequest('claims', null as unknown as JWTPayload)

  const refuse = async (reply: FastifyReply, code: string) =>
    await reply.status(401).header('www-authenticate', 'Bearer').send({ statusCode: 401, code, error: 'Unauthorized' })

  /** Stateless check: signature by a published key, the pinned algorithm, exp. */
  async function verified (request: FastifyRequest, reply: FastifyReply): Promise<void> {
    const token = /^Bearer (\S+)$/.exec(request.headers.authorization ?? '')?.[1]
    if (token === undefined) return await refuse(reply, 'TOKEN_MISSING')
    try {
      const { payload } = await jwtVerify(token, jwks, { algorithms: [options.algorithm], requiredClaims: ['sub', 'sid', 'jti', 'exp'] })
      request.claims = payload
    } catch (error) {
      return await refuse(reply, error instanceof errors.JWTExpired ? 'TOKEN_EXPIRED' : 'TOKEN_INVALID')
    }
  }

  /** Instant revocation: Latchkey says whether the token is still live. */
  async function live (request: FastifyRequest, reply: FastifyReply): Promise<void> {
    if (options.introspectionSecret === undefined) throw new Error('GET /strict needs introspectionSecret')
    const answer = await fetch(new URL('/auth/introspect', options.latchkeyUrl), {
      method: 'POST',
      headers: { authorization: `Bearer ${options.introspectionSecret}`, 'content-type': 'application/json' },
      body: JSON.stringify({ token: request.headers.authorization!.slice(7) })
    })
    if (!answer.ok) throw new Error(`introspection answered ${answer.status}`) // 503 here: fail closed
    const { active } = await answer.json() as { active: boolean }
    if (!active) return await refuse(reply, 'TOKEN_REVOKED')
  }

  app.get('/whoami', { onRequest: verified }, async (request) => ({ sub: request.claims.sub, sid: request.claims.sid }))
  app.get('/strict', { onRequest: [verified, live] }, async (request) => ({ sub: request.claims.sub, sid: request.claims.sid }))
  return app
}
