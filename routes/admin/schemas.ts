import { Type } from '@sinclair/typebox'
import type { FastifyInstance } from 'fastify'

/** Every admin route: the admin key (http bearer), the admin tag, no global limit (the admin one runs in authenticateAdmin). */
export const AdminSecurity = [{ adminKey: [] }]
export const adminTags = ['admin']

/**
 * Route options of every admin route: `authenticateAdmin` first (the admin limit, then the key),
 * the call recorded once validated, the global per-IP limit replaced by the admin one.
 */
export const adminOnly = (fastify: FastifyInstance) => ({
  onRequest: [fastify.authenticateAdmin],
  preHandler: [fastify.recordAdminCall],
  config: { rateLimit: false as const }
})

/** The statuses every admin route can answer besides its own. */
export const adminErrors = {
  401: 'ADMIN_KEY_INVALID (no key, or not one of ADMIN_API_KEYS)',
  429: 'RATE_LIMITED (RATE_LIMIT_ADMIN a minute per IP)',
  503: 'SERVICE_UNAVAILABLE'
} as const

/** A page size in the query string (the query string is never coerced: digits, 1 to 100). */
export const Limit = Type.String({ pattern: '^(100|[1-9][0-9]?)$', description: 'Page size, 1 to 100 (default 20)', examples: ['20'] })
export const Cursor = Type.String({
  minLength: 1, maxLength: 512, pattern: '^[A-Za-z0-9_-]+$', description: 'The `next` of the previous page', examples: ['YWRhQGV4YW1wbGUuY29t']
})
export const pageSize = (limit: string | undefined): number => limit === undefined ? 20 : Number(limit)

const Id = Type.String({ examples: ['665f1c2e8b3a4d0012345678'] })
const Time = (description: string, example = '2026-11-23T09:30:00.000Z') => Type.String({ format: 'date-time', description, examples: [example] })
const NullableTime = (description: string) => Type.Union([Type.String({ format: 'date-time' }), Type.Null()], { description, examples: ['2026-12-01T08:00:00.000Z'] })

const summary = {
  id: Id,
  email: Type.String({ examples: ['ada@example.com'] }),
  name: Type.String({ examples: ['Ada Lovelace'] }),
  createdAt: Time('When the account was created'),
  disabled: Type.Boolean({ description: 'Disabled by an administrator', examples: [false] })
}

export const AdminUserSummary = Type.Object(summary, { additionalProperties: false })

export const AdminUserDetail = Type.Object({
  ...summary,
  disabledAt: NullableTime('When it was disabled (null while enabled)'),
  disabledReason: Type.Union([Type.String(), Type.Null()], { description: 'The note given when it was disabled', examples: ['chargeback fraud, ticket 4521'] }),
  hasPassword: Type.Boolean({ description: 'The account has a password set', examples: [false] }),
  sessionCount: Type.Integer({ minimum: 0, description: 'Live sessions (neither revoked nor ended)', examples: [2] }),
  passkeyCount: Type.Integer({ minimum: 0, description: 'Registered passkeys', examples: [0] }),
  lastSignInAt: NullableTime('When its newest session began (null if it never signed in)')
}, { additionalProperties: false, description: 'The user with its state and counts' })
