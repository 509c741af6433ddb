import { Type } from '@fastify/type-provider-typebox'
import type { ErrorExtras } from '../../services/infrastructure/errors.js'
import { waitText } from '../../views/format.js'

/** Shared pieces of the page routes' form handling. */
export const tags = ['pages']

/** Form fields arrive as strings; anything else (a repeated field is an array) fails validation. */
export const Field = (maxLength: number) => Type.Optional(Type.String({ maxLength }))
export const Csrf = Field(128)

export const retryText = (error: ErrorExtras): string =>
  error.retryAfter === undefined ? 'in a little while' : `in ${waitText(error.retryAfter)}`
