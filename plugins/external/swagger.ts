import swagger, { type SwaggerTransform, type SwaggerTransformObject } from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import type { FastifySchema } from 'fastify'
import fp from 'fastify-plugin'
import { errors } from '../../services/infrastructure/error-responses.js'

/**
 * OpenAPI 3.1 built from the route schemas (TypeBox), served at /openapi.json, with Swagger UI at
 * /docs; what the document promises and how it is checked: docs/openapi.md. Swagger UI styles
 * itself inline, so its routes (and only those) get a CSP that allows inline styles; scripts
 * still come only from our origin.
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

const UNKNOWN_QUERY = 'VALIDATION_FAILED: a query parameter the route does not take (every query string is closed), or a malformed one'

/**
 * What the route schemas leave to the documentation, from what each route really does: every
 * route behind a rate limit (the global per-IP one unless it opts out, or the per-instance one on
 * Bearer routes) documents its 429; every route whose validation errors are answered as JSON
 * documents its 400 (app.ts gives each route without query parameters a closed query string, so
 * even GET /health answers `?x=1` with a 400); and the pages' forms are documented as form posts.
 */
const documentRoute: SwaggerTransform<DocumentedSchema> = ({ schema, url, route }) => {
  if (schema === undefined || schema === null || (schema as { hide?: boolean }).hide === true) return { schema, url }
  const documented: DocumentedSchema = { ...schema }
  const bearer = schema.security?.some((requirement) => 'bearerAuth' in requirement) === true
  if (bearer || (route.config as { rateLimit?: unknown } | undefined)?.rateLimit !== false) documented.response = withRateLimited(schema.response)
  if (route.attachValidation !== true && documented.response?.[400] === undefined) documented.response = { ...documented.response, ...errors({ 400: UNKNOWN_QUERY }) }
  if (schema.tags?.includes('pages') === true && schema.body !== undefined) documented.consumes = ['application/x-www-form-urlencoded']
  return { schema: documented, url }
}

/**
 * Every way an operation may declare its callers (`security` on each route schema). The cookie
 * and header names are the ones routes/ uses (checked by test/plugins/openapi.test.ts; this layer
 * does not import routes). A scheme no operation uses is left out of the served document, so
 * `adminKey` appears once the admin routes declare `security: [{ adminKey: [] }]`.
 */
export const securitySchemes = {
  bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: 'The access token from a sign-in or POST /auth/refresh' },
  introspectionSecret: { type: 'http', scheme: 'bearer', description: 'The shared INTROSPECTION_SECRET of the resource servers (RFC 7662 client authentication)' },
  adminKey: { type: 'http', scheme: 'bearer', description: 'One of ADMIN_API_KEYS' },
  deviceSecret: { type: 'apiKey', in: 'header', name: 'X-Device-Secret', description: 'deviceSecret from POST /auth/magic-link with crossDevice: true (never in the URL)' },
  deviceCookie: { type: 'apiKey', in: 'cookie', name: 'lk_xd', description: 'The device secret the waiting page keeps in its HttpOnly cookie (built-in pages only)' },
  pageSession: { type: 'apiKey', in: 'cookie', name: 'lk_at', description: 'The access token the built-in pages keep in an HttpOnly cookie (built-in pages only)' }
} as const

/** Tags shown in this order; one no operation carries is left out of the served document. */
export const tags = [
  { name: 'magic link', description: 'Sign up and sign in with an emailed link' },
  { name: 'one-time code', description: 'Sign up and sign in with an emailed 6-digit code' },
  { name: 'cross-device', description: 'Sign in on one device by approving on another (the emailed link opened on a phone)' },
  { name: 'password', description: 'Optional password sign-in' },
  { name: 'passkeys', description: 'Sign in with a passkey (WebAuthn)' },
  { name: 'sessions', description: 'Tokens, refresh, logout and sessions' },
  { name: 'account', description: 'The signed-in user' },
  { name: 'events', description: 'The account\'s security events (audit log)' },
  { name: 'admin', description: 'Operator API, behind the admin key' },
  { name: 'todos', description: 'Demo protected resource' },
  { name: 'keys', description: 'For other services: public keys (JWKS) and token introspection' },
  { name: 'operations', description: 'Health, readiness, metrics' },
  { name: 'pages', description: 'Built-in server-rendered pages (HTML forms with CSRF tokens), for browsers rather than API clients' },
  { name: 'development', description: 'Only in development mode' }
]

interface Document { paths?: Record<string, Record<string, { tags?: string[], security?: Array<Record<string, unknown>> }>>, components?: { securitySchemes?: Record<string, unknown> }, tags?: Array<{ name: string }> }

/** Leaves out the security schemes and tags that no operation uses (Redocly flags unused ones). */
function withoutUnused ({ openapiObject }: { openapiObject: Partial<Document> }): Document {
  const operations = Object.values(openapiObject.paths ?? {}).flatMap((item) => Object.values(item))
  const usedSchemes = new Set(operations.flatMap((operation) => (operation.security ?? []).flatMap((requirement) => Object.keys(requirement))))
  const usedTags = new Set(operations.flatMap((operation) => operation.tags ?? []))
  const schemes = Object.fromEntries(Object.entries(openapiObject.components?.securitySchemes ?? {}).filter(([name]) => usedSchemes.has(name)))
  return {
    ...openapiObject,
    components: { ...openapiObject.components, securitySchemes: schemes },
    tags: (openapiObject.tags ?? []).filter(({ name }) => usedTags.has(name))
  }
}

/**
 * The license stated in the document. The repository grants none yet (package.json is private, no
 * LICENSE file), so the document says so in SPDX terms; the owner's choice (MIT, say) replaces
 * this line and adds the LICENSE file (docs/openapi.md).
 */
export const LICENSE = { name: 'Proprietary: all rights reserved', identifier: 'LicenseRef-Proprietary' }

export default fp(async function swaggerPlugin (fastify) {
  await fastify.register(swagger, {
    transform: documentRoute as SwaggerTransform,
    transformObject: withoutUnused as SwaggerTransformObject,
    openapi: {
      // 3.1: schemas are JSON Schema 2020-12, so TypeBox's `examples` arrays are valid where they stand.
      openapi: '3.1.0',
      info: {
        title: 'Latchkey',
        version: '0.1.0',
        description: 'Passwordless authentication: magic links, email codes, JWT access tokens with rotating refresh tokens ' +
          'and instant revocation. Every error has the shape {statusCode, code, error, message}.',
        license: LICENSE
      },
      servers: [{ url: fastify.config.APP_URL.replace(/\/+$/, ''), description: 'This deployment (APP_URL)' }],
      components: { securitySchemes },
      tags
    }
  })
  await fastify.register(swaggerUi, { routePrefix: '/docs', staticCSP: DOCS_CSP })

  fastify.get('/openapi.json', { schema: { hide: true }, config: { rateLimit: false } }, async () => fastify.swagger())
}, { name: 'swagger', dependencies: ['config'] })
