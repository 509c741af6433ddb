/**
 * The API's request and response shapes as the client uses them. test/client/openapi-types.test.ts
 * checks them against the server's own OpenAPI document (GET /openapi.json), so they cannot drift.
 */

/** The signed-in person (GET /auth/me, and `user` in every sign-in). */
export interface User {
  id: string
  email: string
  name: string
  createdAt: string
}

/** POST /auth/refresh's 200, and the token part of every sign-in. */
export interface TokenPair {
  accessToken: string
  refreshToken: string
  /** Access token lifetime in seconds. */
  expiresIn: number
}

/** Every sign-in's answer. */
export interface SignedIn extends TokenPair {
  user: User
  redirectTo?: string
}

/** POST /auth/otp/verify's 200: `created` when the call made the account. */
export interface CodeSignedIn extends SignedIn {
  created: boolean
}

/** A 202 from POST /auth/magic-link or POST /auth/otp (the same for known and unknown addresses). */
export interface Accepted {
  message: string
}

/** POST /auth/magic-link with crossDevice: true. */
export interface CrossDeviceTicket extends Accepted {
  requestId: string
  deviceSecret: string
  matchNumber: number
  expiresIn: number
}

/** GET /auth/magic-link/verify (JSON): what a link is for, without using it. */
export interface LinkInfo {
  valid: true
  purpose: 'signup' | 'login'
  email: string
  redirectTo?: string
}

/** One entry of GET /auth/sessions. */
export interface Session {
  id: string
  createdAt: string
  lastUsedAt: string
  userAgent: string | null
  ip: string | null
  current: boolean
}

/** GET /auth/magic-link/requests/:id/outcome's 200. */
export type CrossDeviceOutcome =
  | { status: 'pending', matchNumber: number, expiresIn: number }
  | ({ status: 'approved', user: User } & TokenPair)
  | { status: 'denied', reason: 'denied' | 'wrong-number' }

/** A passkey as POST /auth/passkeys/register, GET /auth/passkeys and PATCH /auth/passkeys/:id answer it (SPEC "Passkeys"). */
export interface Passkey {
  id: string
  name: string
  createdAt: string
  lastUsedAt: string | null
  backedUp: boolean
  /** multiDevice: a synced passkey (backup eligible). */
  deviceType: 'singleDevice' | 'multiDevice'
  transports: string[]
}

/** One of your security events (GET /auth/activity; SPEC "Events: audit log and webhooks"). */
export interface ActivityEvent {
  /** Also the webhook-id of its deliveries. */
  id: string
  type: 'user.created' | 'user.updated' | 'user.deleted' | 'user.disabled' | 'user.enabled'
  | 'session.created' | 'session.revoked' | 'otp.locked'
  | 'passkey.added' | 'passkey.removed' | 'signing_key.rotated' | 'admin.action' | 'webhook.disabled'
  timestamp: string
  userId?: string
  sessionId?: string
  ip?: string
  userAgent?: string
  /** Type-specific facts (session.created: method, device; session.revoked: reason …). */
  data: Record<string, unknown>
}

/** GET /auth/activity's 200: newest first, 20 a page; `next` is the next page's cursor (null on the last). */
export interface ActivityPage {
  events: ActivityEvent[]
  next: string | null
}

/** Every error body (SPEC §3), with the fields some codes add. */
export interface ErrorBody {
  statusCode: number
  code: string
  error: string
  message: string
  retryAfter?: number
  attemptsRemaining?: number
  field?: string
}

/** Request bodies. */
export interface MagicLinkRequest { email: string, redirectTo?: string, crossDevice?: boolean }
export interface CodeRequest { email: string }
export interface CodeVerifyRequest { email: string, code: string, name?: string }
export interface ConsumeRequest { token: string }
export interface SignupRequest { email: string, name: string, password?: string, token?: string }
export interface PasswordLoginRequest { email: string, password: string }
export interface RefreshRequest { refreshToken: string }
export interface RenamePasskeyRequest { name: string }
/** GET /auth/activity's query. */
export interface ActivityQuery { cursor?: string }
