import type { ErrorBody } from './types.js'

/** SPEC's codes, plus the client's own: NETWORK_ERROR, NOT_SIGNED_IN, CROSS_DEVICE_DENIED, PASSKEY_UNSUPPORTED. */
export type ErrorCode =
  | 'VALIDATION_FAILED' | 'REDIRECT_NOT_ALLOWED' | 'EMAIL_RATE_LIMITED' | 'MAGIC_LINK_INVALID' | 'EMAIL_TAKEN'
  | 'OTP_INVALID' | 'OTP_EXPIRED' | 'OTP_LOCKED' | 'INVALID_CREDENTIALS' | 'REFRESH_INVALID' | 'REFRESH_REUSED'
  | 'TOKEN_MISSING' | 'TOKEN_INVALID' | 'TOKEN_EXPIRED' | 'TOKEN_REVOKED' | 'ACCOUNT_DISABLED' | 'REAUTH_REQUIRED'
  | 'PASSKEY_INVALID' | 'EMAIL_UNAVAILABLE' | 'SERVICE_UNAVAILABLE' | 'NOT_FOUND' | 'RATE_LIMITED'
  | 'PAYLOAD_TOO_LARGE' | 'UNSUPPORTED_MEDIA_TYPE' | 'INTERNAL_ERROR'
  | 'NETWORK_ERROR' | 'NOT_SIGNED_IN' | 'CROSS_DEVICE_DENIED' | 'PASSKEY_UNSUPPORTED'
  // A code a newer server may add: still a string, still typed.
  | (string & {})

/**
 * Every failure the client reports: never a bare Response. `status` is the HTTP status (0 when the
 * request never got an answer), `code` SPEC's machine code, `retryAfter` seconds to wait (from the
 * body or the Retry-After header), `attemptsRemaining` the guesses left after OTP_INVALID.
 */
export class LatchkeyError extends Error {
  override readonly name = 'LatchkeyError'
  readonly status: number
  readonly code: ErrorCode
  readonly retryAfter: number | undefined
  readonly attemptsRemaining: number | undefined
  readonly field: string | undefined

  constructor (status: number, code: ErrorCode, message: string, extra: Partial<ErrorBody> = {}) {
    super(message)
    this.status = status
    this.code = code
    this.retryAfter = extra.retryAfter
    this.attemptsRemaining = extra.attemptsRemaining
    this.field = extra.field
  }
}

/** True for a LatchkeyError (with that code, when one is given). */
export const isLatchkeyError = (error: unknown, code?: ErrorCode): error is LatchkeyError =>
  error instanceof LatchkeyError && (code === undefined || error.code === code)

/** The typed error of a non-2xx answer (any body, even one that is not JSON). */
export async function errorFrom (response: Response): Promise<LatchkeyError> {
  let body: Partial<ErrorBody> = {}
  try { body = await response.json() as Partial<ErrorBody> } catch {}
  const header = Number(response.headers.get('retry-after'))
  const retryAfter = body.retryAfter ?? (header > 0 ? header : undefined)
  return new LatchkeyError(response.status, body.code ?? `HTTP_${response.status}`, body.message ?? response.statusText, { ...body, retryAfter })
}
