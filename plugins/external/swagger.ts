import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import fp from 'fastify-plugin'

/**
 * OpenAPI 3 built from the route schemas (TypeBox), served at /openapi.json, with Swagger UI at
 * /docs. Swagger UI styles itself inline, so its routes (and only those) get a CSP that allows
 * inline styles; scripts still come only from our origin.
 */
export const DOCS_CSP = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; " +
  "font-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

export default fp(async function swaggerPlugin (fastify) {
  await fastify.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'Latchkey',
        version: '0.1.0',
        description: 'Passwordless authentication: magic links, email codes, JWT access tokens with rotating refresh tokens ' +
          'and instant revocation. Every error has the shape {statusCode, code, error, message}.'
      },
      servers: [{ url: fastify.config.APP_URL }],
      components: {
        securitySchemes: {
          bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' },
          introspectionSecret: { type: 'http', scheme: 'bearer', description: 'INTROSPECTION_SECRET' }
        }
      },
      tags: [
        { name: 'magic link', description: 'Sign up and sign in with an emailed link' },
        { name: 'one-time code', description: 'Sign up and sign in with an emailed 6-digit code' },
        { name: 'password', description: 'Optional password sign-in' },
        { name: 'sessions', description: 'Tokens, refresh, logout and sessions' },
        { name: 'account', description: 'The signed-in user' },
        { name: 'todos', description: 'Demo protected resource' },
        { name: 'pages', description: 'Built-in server-rendered pages (HTML forms with CSRF tokens)' },
        { name: 'keys', description: 'For other services: public keys (JWKS) and token introspection' },
        { name: 'operations', description: 'Health, readiness, metrics' },
        { name: 'development', description: 'Only in development mode' }
      ]
    }
  })
  await fastify.register(swaggerUi, { routePrefix: '/docs', staticCSP: DOCS_CSP })

  fastify.get('/openapi.json', { schema: { hide: true }, config: { rateLimit: false } }, async () => fastify.swagger())
}, { name: 'swagger', dependencies: ['config'] })
