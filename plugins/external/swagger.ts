import swagger, { type SwaggerTransform } from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import type { FastifySchema } from 'fastify'
import fp from 'fastify-plugin'
import { errors } from '../../routes/error-responses.js'

/**
 * OpenAPI 3 built from the route schemas (TypeBox), served at /openapi.json, with Swagger UI at
 * /docs. Swagger UI styles itself inline, so its routes (and only those) get a CSP that allows
 * inline styles; scripts still come only from our origin.
 */
export const DOCS_CSP = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; " +
  "font-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

type DocumentedSchema = FastifySchema & { tags?: string[], security?: Array<Record<string, unknown>>, consumes?: string[], response?: Record<string, unknown> }

const RATE_LIMITED = 'RATE_LIMITED: too many requests from this client (per IP through Redis; per instance on Bearer routes)'

/** A 429 where the route can answer one: with RATE_LIMITED among its codes, unless it answers with a page. */
function withRateLimited (response: Record<string, unknown> = {}): Record<string, unknown> {
  const documented = response[429] as { description?: string, content?: Record<string, unknown> } | undefined
  if (documented?.content !== undefined) return response
  if (documented?.description?.includes('RATE_LIMITED') === true) return response
  const description = documented?.description === undefined ? RATE_LIMITED : `${documented.description}; ${RATE_LIMITED}`
  return { ...response, ...errors({ 429: description }) }
}

/**
 * What the route schemas leave to the documentation, from what each route really does: every
 * route behind a rate limit (the global per-IP one unless it opts out, or the per-instance one on
 * Bearer routes) documents its 429, and the pages' forms are documented as form posts.
 */
const documentRoute: SwaggerTransform<DocumentedSchema> = ({ schema, url, route }) => {
  if (schema === undefined || schema === null || (schema as { hide?: boolean }).hide === true) return { schema, url }
  const documented: DocumentedSchema = { ...schema }
  const bearer = schema.security?.some((requirement) => 'bearerAuth' in requirement) === true
  if (bearer || (route.config as { rateLimit?: unknown } | undefined)?.rateLimit !== false) documented.response = withRateLimited(schema.response)
  if (schema.tags?.includes('pages') === true && schema.body !== undefined) documented.consumes = ['application/x-www-form-urlencoded']
  return { schema: documented, url }
}

export default fp(async function swaggerPlugin (fastify) {
  await fastify.register(swagger, {
    transform: documentRoute as SwaggerTransform,
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
          introspectionSecret: { type: 'http', scheme: 'bearer', description: 'INTROSPECTION_SECRET' },
          ...(fastify.config.ADMIN_API_KEYS !== undefined && { adminKey: { type: 'http', scheme: 'bearer', description: 'One of ADMIN_API_KEYS' } })
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
        { name: 'development', description: 'Only in development mode' },
        ...(fastify.config.ADMIN_API_KEYS !== undefined ? [{ name: 'admin', description: 'Admin API (ADMIN_API_KEYS): users, audit log, webhooks' }] : [])
      ]
    }
  })
  await fastify.register(swaggerUi, { routePrefix: '/docs', staticCSP: DOCS_CSP })

  fastify.get('/openapi.json', { schema: { hide: true }, config: { rateLimit: false } }, async () => fastify.swagger())
}, { name: 'swagger', dependencies: ['config'] })
