import createError, { type FastifyErrorConstructor } from '@fastify/error'

/**
 * Every error code the API answers with (SPEC.md §3 plus the few transport-level codes docs/api-tour.md
 * lists). Services throw these; the one error handler in app.ts turns them into
 * {statusCode, code, error, message, ...extra}.
 */
export const ErrorCodes = {
  VALIDATION_FAILED: 'VALIDATION_FAILED',
  REDIRECT_NOT_ALLOWED: 'REDIRECT_NOT_ALLOWED',
  EMAIL_RATE_LIMITED: 'EMAIL_RATE_LIMITED',
  MAGIC_LINK_INVALID: 'MAGIC_LINK_INVALID',
  EMAIL_TAKEN: 'EMAIL_TAKEN',
  OTP_INVALID: 'OTP_INVALID',
  OTP_EXPIRED: 'OTP_EXPIRED',
  OTP_LOCKED: 'OTP_LOCKED',
  INVALID_CREDENTIALS: 'INVALID_CREDENTIALS',
  REFRESH_INVALID: 'REFRESH_INVALID',
  REFRESH_REUSED: 'REFRESH_REUSED',
  TOKEN_MISSING: 'TOKEN_MISSING',
  TOKEN_INVALID: 'TOKEN_INVALID',
  TOKEN_EXPIRED: 'TOKEN_EXPIRED',
  TOKEN_REVOKED: 'TOKEN_REVOKED',
  CLIENT_UNAUTHORIZED: 'CLIENT_UNAUTHORIZED',
  EMAIL_UNAVAILABLE: 'EMAIL_UNAVAILABLE',
  SERVICE_UNAVAILABLE: 'SERVICE_UNAVAILABLE',
  NOT_FOUND: 'NOT_FOUND',
  HOST_NOT_ALLOWED: 'HOST_NOT_ALLOWED',
  RATE_LIMITED: 'RATE_LIMITED',
  PAYLOAD_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  UNSUPPORTED_MEDIA_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  INTERNAL_ERROR: 'INTERNAL_ERROR',
  REAUTH_REQUIRED: 'REAUTH_REQUIRED',
  PASSKEY_INVALID: 'PASSKEY_INVALID',
  ADMIN_KEY_INVALID: 'ADMIN_KEY_INVALID',
  ACCOUNT_DISABLED: 'ACCOUNT_DISABLED'
} as const

export type ErrorCode = keyof typeof ErrorCodes

/** Extra facts an error may carry: a Retry-After delay and fields added to the JSON body. */
export interface ErrorExtras {
  retryAfter?: number
  body?: Record<string, unknown>
}

type AppErrorConstructor = FastifyErrorConstructor<{ code: ErrorCode, statusCode: number }>

const appErrors = new Set<AppErrorConstructor>()
const define = (code: ErrorCode, message: string, statusCode: number): AppErrorConstructor => {
  const ctor = createError(code, message, statusCode) as AppErrorConstructor
  appErrors.add(ctor)
  return ctor
}

export const ValidationFailedError = define('VALIDATION_FAILED', '%s', 400)
export const RedirectNotAllowedError = define('REDIRECT_NOT_ALLOWED', 'redirectTo must point to an allowed origin', 400)
export const EmailRateLimitedError = define('EMAIL_RATE_LIMITED', 'Too many emails to this address; try again later', 429)
export const MagicLinkGoneError = define('MAGIC_LINK_INVALID', 'This link is invalid, used or expired; request a new one', 410)
export const MagicLinkRejectedError = define('MAGIC_LINK_INVALID', 'This link is invalid, used, expired or for another address', 403)
export const CrossDeviceGoneError = define('MAGIC_LINK_INVALID', 'This sign-in request is unknown, finished or expired; start again', 410)
export const EmailTakenError = define('EMAIL_TAKEN', 'An account with this email address already exists', 409)
export const OtpInvalidError = define('OTP_INVALID', 'The code is not correct', 401)
export const OtpExpiredError = define('OTP_EXPIRED', 'No valid code for this address; request a new one', 401)
export const OtpLockedError = define('OTP_LOCKED', 'Too many wrong codes; request a new code later', 429)
/** OTP_LOCKED's message while the address must wait (back-off, spent budget): a new code does not help; the wait does. */
export const OTP_WAIT_MESSAGE = 'Too many wrong codes; try again later'
export const InvalidCredentialsError = define('INVALID_CREDENTIALS', 'Email address or password is not correct', 401)
export const RefreshInvalidError = define('REFRESH_INVALID', 'The refresh token is invalid, expired or revoked', 401)
export const RefreshReusedError = define('REFRESH_REUSED', 'This refresh token was already used; the session has been revoked', 401)
export const TokenMissingError = define('TOKEN_MISSING', 'Authorization: Bearer <access token> is required', 401)
export const TokenInvalidError = define('TOKEN_INVALID', 'The access token is invalid', 401)
export const TokenExpiredError = define('TOKEN_EXPIRED', 'The access token has expired', 401)
export const TokenRevokedError = define('TOKEN_REVOKED', 'The access token has been revoked', 401)
export const ClientUnauthorizedError = define('CLIENT_UNAUTHORIZED', 'Authorization: Bearer <introspection secret> is required', 401)
export const EmailUnavailableError = define('EMAIL_UNAVAILABLE', 'Email could not be sent right now; nothing was sent, try again shortly', 503)
export const ServiceUnavailableError = define('SERVICE_UNAVAILABLE', 'A backing service is unavailable; try again shortly', 503)
export const SigningUnavailableError = define('SERVICE_UNAVAILABLE', 'Sign-in is unavailable on this server right now; try again shortly', 503)
export const NotFoundError = define('NOT_FOUND', '%s', 404)
export const RateLimitedError = define('RATE_LIMITED', 'Too many requests; try again later', 429)
export const CrossDeviceBusyError = define('RATE_LIMITED', 'Too many open sign-in requests for this address: approve or deny one from the email, or try again later', 429)
export const ReauthRequiredError = define('REAUTH_REQUIRED', 'This action needs a recent sign-in: re-authenticate (POST /auth/reauthenticate) and try again', 403)
export const PasskeyRejectedError = define('PASSKEY_INVALID', 'The passkey could not be registered: it is invalid, already registered, or its challenge is used or expired', 400)
export const PasskeyInvalidError = define('PASSKEY_INVALID', 'The passkey was not accepted', 401)
export const AdminKeyInvalidError = define('ADMIN_KEY_INVALID', 'Authorization: Bearer <admin API key> is required', 401)
/** A token of a disabled account (access token on any request). */
export const AccountDisabledError = define('ACCOUNT_DISABLED', 'This account is disabled', 401)
/** A sign-in (link, code, password, passkey) that proved who it is, into a disabled account. */
export const AccountDisabledSignInError = define('ACCOUNT_DISABLED', 'This account is disabled; contact support', 403)

export function isAppError (error: unknown): error is InstanceType<AppErrorConstructor> & ErrorExtras {
  return error instanceof Error && [...appErrors].some((ctor) => error instanceof ctor)
}

/**
 * True for an answer that settles the request (a 4xx app error): a link or code consumed on the
 * way stays consumed. Anything else (a dependency down, a bug) is not final, and the caller puts
 * what it consumed back so the person can retry.
 */
export function isFinalAnswer (error: unknown): boolean {
  return isAppError(error) && error.statusCode !== undefined && error.statusCode < 500
}

/** Attaches a Retry-After delay (seconds) and/or extra body fields to an error. */
export function withExtras<E extends Error> (error: E, extras: ErrorExtras): E & ErrorExtras {
  return Object.assign(error, extras)
}
