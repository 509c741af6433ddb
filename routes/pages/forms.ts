import { Type } from '@fastify/type-provider-typebox'
import type { FastifyReply } from 'fastify'
import { EmailRateLimitedError, EmailUnavailableError, type ErrorExtras } from '../../services/infrastructure/errors.js'
import { waitText } from '../../views/format.js'
import { HtmlPage } from '../schemas.js'

/** Shared pieces of the page routes' form handling. */
export const tags = ['pages']

/** Form fields arrive as strings; anything else (a repeated field is an array) fails validation. */
export const Field = (maxLength: number) => Type.Optional(Type.String({ maxLength }))
export const Csrf = Field(128)

export const retryText = (error: ErrorExtras): string =>
  error.retryAfter === undefined ? 'in a little while' : `in ${waitText(error.retryAfter)}`

/** The refusals of a start-page form that sends email (documented once for each such route). */
export const emailFormRefusals = {
  403: HtmlPage('Form expired (CSRF token missing or wrong)'),
  429: HtmlPage('EMAIL_RATE_LIMITED: the start page with the wait, and Retry-After'),
  503: HtmlPage('EMAIL_UNAVAILABLE: the start page asking to try again shortly, and Retry-After')
}

/**
 * A start-page form whose email could not go out: the cooldown (429 with Retry-After) or SMTP
 * failing (503), shown by `again` (the form with a message). Any other error is rethrown.
 */
export async function emailNotSent (reply: FastifyReply, error: unknown, again: (status: number, message: string) => Promise<FastifyReply>): Promise<FastifyReply> {
  if (error instanceof EmailRateLimitedError) {
    const extras = error as ErrorExtras
    if (extras.retryAfter !== undefined) reply.header('retry-after', String(extras.retryAfter))
    return await again(429, `We just emailed this address. Check your inbox, or try again ${retryText(extras)}.`)
  }
  if (error instanceof EmailUnavailableError) {
    // Every 503 says when to come back, the pages' as the API's (EMAIL_UNAVAILABLE asks for 30 s).
    const extras = error as ErrorExtras
    reply.header('retry-after', String(extras.retryAfter ?? 30))
    return await again(503, 'We could not send email just now. Nothing was sent; please try again shortly.')
  }
  throw error
}
