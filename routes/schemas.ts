import { Type } from '@sinclair/typebox'
import type { FastifyReply } from 'fastify'
import { PAGE_HEADERS } from '../plugins/external/helmet.js'
import { EMAIL_MAX_LENGTH, EMAIL_PATTERN } from '../services/email/email-address.js'
import { PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH } from '../services/accounts/passwords.js'
import { MESSAGE_KEYWORD } from '../services/infrastructure/validation-messages.js'

/** Schemas shared by route files. Every object is closed (additionalProperties: false). */
export const Email = Type.String({
  maxLength: EMAIL_MAX_LENGTH,
  pattern: EMAIL_PATTERN,
  description: 'Email address; trimmed and lower-cased. One address only: no CR/LF, commas or quotes.',
  examples: ['ada@example.com'],
  [MESSAGE_KEYWORD]: 'must be one address like ada@example.com'
})

export const Name = Type.String({
  minLength: 1,
  maxLength: 100,
  pattern: String.raw`^[^\u0000-\u001f\u007f]*\S[^\u0000-\u001f\u007f]*$`,
  description: 'Display name',
  examples: ['Ada Lovelace'],
  [MESSAGE_KEYWORD]: 'must be some visible text, without line breaks or control characters'
})

export const Password = Type.String({
  minLength: PASSWORD_MIN_LENGTH,
  maxLength: PASSWORD_MAX_LENGTH,
  description: `${PASSWORD_MIN_LENGTH} to ${PASSWORD_MAX_LENGTH} characters`,
  examples: ['correct horse battery staple']
})

/** Opaque base64url token (links and refresh tokens). */
export const OpaqueToken = Type.String({
  minLength: 1,
  maxLength: 256,
  pattern: '^[A-Za-z0-9_-]+$',
  description: 'Opaque token as issued (base64url)',
  examples: ['q9V2mS0cXwJ4e1kR7uT3yB8nH5gL6aZpD0fC2iE4oWs'],
  [MESSAGE_KEYWORD]: 'must be the token exactly as issued (letters, digits, - and _)'
})

export const ObjectIdString = Type.String({
  pattern: '^[0-9a-f]{24}$',
  description: 'Resource id',
  examples: ['665f1c2e8b3a4d0012345678'],
  [MESSAGE_KEYWORD]: 'must be an id as the API returned it (24 hexadecimal digits)'
})

export const PublicUser = Type.Object({
  id: Type.String({ examples: ['665f1c2e8b3a4d0012345678'] }),
  email: Type.String({ examples: ['ada@example.com'] }),
  name: Type.String({ examples: ['Ada Lovelace'] }),
  createdAt: Type.String({ format: 'date-time', examples: ['2026-11-23T09:30:00.000Z'] })
}, { additionalProperties: false, description: 'The signed-in user' })

export const TokenPair = {
  accessToken: Type.String({
    description: 'JWT for Authorization: Bearer',
    examples: ['eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiI2NjVmMWMyZThiM2E0ZDAwMTIzNDU2NzgiLCJzaWQiOiI2NjVmMWMyZThiM2E0ZDAwMTIzNDU2NzkiLCJqdGkiOiJ0UjdrV3E5bVp4MkxwNEhzIiwiaWF0IjoxNzk1NDE3ODAwLCJleHAiOjE3OTU0MTg3MDB9.vHN000jksaUAxYiXTVB18EyX25tN5u0MgWAkNpa_RV4']
  }),
  refreshToken: Type.String({ description: 'Opaque; send to POST /auth/refresh', examples: ['Zr4nX8pQ2sV6bT1mK9wL3hJ7dF5gC0aYeU2iO4qR6tS'] }),
  expiresIn: Type.Integer({ description: 'Access token lifetime in seconds', examples: [900] })
}

export const SignedIn = Type.Object({
  user: PublicUser,
  ...TokenPair,
  redirectTo: Type.Optional(Type.String({ description: 'The link\'s redirectTo, when it had one', examples: ['http://localhost:3000/welcome'] }))
}, { description: 'Signed in: the user, a Bearer access token and a refresh token' })

export const Accepted = Type.Object({
  message: Type.String({ examples: ['Check your inbox: if the address can receive mail, a link is on its way.'] })
}, { description: 'Accepted: the email is on its way (the same answer whether or not the address has an account)' })

export { ErrorResponse, errors } from '../services/infrastructure/error-responses.js'

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
