import { Type } from '@sinclair/typebox'
import type { FastifyReply } from 'fastify'
import { PAGE_HEADERS } from '../plugins/external/helmet.js'
import { EMAIL_MAX_LENGTH, EMAIL_PATTERN } from '../services/email/email-address.js'
import { PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH } from '../services/accounts/passwords.js'

/** Schemas shared by route files. Every object is closed (additionalProperties: false). */
export const Email = Type.String({
  maxLength: EMAIL_MAX_LENGTH,
  pattern: EMAIL_PATTERN,
  description: 'Email address; trimmed and lower-cased. One address only: no CR/LF, commas or quotes.',
  examples: ['ada@example.com']
})

export const Name = Type.String({
  minLength: 1,
  maxLength: 100,
  pattern: String.raw`^[^\u0000-\u001f\u007f]*\S[^\u0000-\u001f\u007f]*$`,
  description: 'Display name'
})

export const Password = Type.String({ minLength: PASSWORD_MIN_LENGTH, maxLength: PASSWORD_MAX_LENGTH })

/** Opaque base64url token (links and refresh tokens). */
export const OpaqueToken = Type.String({ minLength: 1, maxLength: 256, pattern: '^[A-Za-z0-9_-]+$' })

export const ObjectIdString = Type.String({ pattern: '^[0-9a-f]{24}$', description: 'Resource id' })

export const ErrorResponse = Type.Object({
  statusCode: Type.Integer(),
  code: Type.String(),
  error: Type.String(),
  message: Type.String(),
  attemptsRemaining: Type.Optional(Type.Integer()),
  checks: Type.Optional(Type.Record(Type.String(), Type.String()))
}, { description: 'Error: one shape for every failure' })

export const PublicUser = Type.Object({
  id: Type.String(),
  email: Type.String(),
  name: Type.String(),
  createdAt: Type.String({ format: 'date-time' })
}, { additionalProperties: false })

export const TokenPair = {
  accessToken: Type.String({ description: 'JWT for Authorization: Bearer' }),
  refreshToken: Type.String({ description: 'Opaque; send to POST /auth/refresh' }),
  expiresIn: Type.Integer({ description: 'Access token lifetime in seconds' })
}

export const SignedIn = Type.Object({
  user: PublicUser,
  ...TokenPair,
  redirectTo: Type.Optional(Type.String())
})

export const Accepted = Type.Object({ message: Type.String() })

/** Response schemas for error statuses, each described by the codes it may carry. */
export function errors<T extends Record<number, string>> (described: T): { [K in keyof T]: typeof ErrorResponse } {
  const entries = Object.entries(described).map(([status, codes]) => [status, { ...ErrorResponse, description: codes }])
  return Object.fromEntries(entries) as { [K in keyof T]: typeof ErrorResponse }
}

/** Sends a server-rendered page (outside the JSON response schemas). */
export async function sendHtml (reply: FastifyReply, status: number, html: string): Promise<FastifyReply> {
  return await reply.status(status).headers(PAGE_HEADERS).type('text/html; charset=utf-8').send(html)
}

export const BearerSecurity = [{ bearerAuth: [] }]

/** Response schema of a server-rendered page (documents the status; HTML is never serialized). */
export const HtmlPage = (description: string) => ({
  description,
  content: { 'text/html': { schema: Type.String({ description: 'HTML page' }) } }
})
