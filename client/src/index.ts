import { send, waitForApproval, type WaitOptions } from './cross-device.js'
import { errorFrom, isLatchkeyError, LatchkeyError } from './errors.js'
import { browser, createTabs, storage, type Shared } from './tabs.js'
import type {
  Accepted, ActivityPage, ActivityQuery, CodeRequest, CodeSignedIn, CodeVerifyRequest, ConsumeRequest, CrossDeviceTicket, LinkInfo, MagicLinkRequest, Passkey,
  PasswordLoginRequest, RefreshRequest, RenamePasskeyRequest, Session, SignedIn, SignupRequest, TokenPair, User
} from './types.js'

export { isLatchkeyError, LatchkeyError, type ErrorCode } from './errors.js'
export type { Transport, WaitOptions } from './cross-device.js'
export type * from './types.js'

/** Why a tab is signed out. */
export type SignOutReason =
  /** logout() in this tab */
  | 'logout'
  /** logoutEverywhere() in this tab */
  | 'logout-all'
  /** the server ended the session: a refresh or a call answered `code` (REFRESH_INVALID, REFRESH_REUSED, TOKEN_REVOKED, ACCOUNT_DISABLED) */
  | 'session-ended'
  /** another tab of this origin signed out (`code` is that tab's reason) */
  | 'other-tab'

export type AuthChange =
  | { type: 'signed-in', user: User | undefined, source: 'this-tab' | 'other-tab' }
  | { type: 'refreshed', source: 'this-tab' | 'other-tab' }
  | { type: 'signed-out', reason: SignOutReason, code?: string | undefined }

/** @simplewebauthn/browser's two functions, for browsers without the JSON WebAuthn methods. */
export interface WebAuthnHelpers {
  startAuthentication: (options: { optionsJSON: any, useBrowserAutofill?: boolean }) => Promise<unknown>
  startRegistration: (options: { optionsJSON: any }) => Promise<unknown>
}

export interface ClientOptions {
  /** The API's origin (and path prefix), e.g. 'https://auth.example.com'. Default: this page's origin. */
  baseUrl?: string
  /** Keep the session in localStorage so it survives a reload (see docs/client.md for the trade-off). Default false: memory only. */
  persist?: boolean
  /** Names the storage key, the channel and the lock: clients with different keys never share a session. Default 'latchkey'. */
  storageKey?: string
  /** Refresh this many seconds before the access token expires (at most a quarter of its lifetime). Default 60. */
  refreshMargin?: number
  /** After this many ms waiting for another tab's refresh, take the lock over (the holder is frozen or stuck). Default 5000. */
  lockTimeout?: number
  /** Other origins client.fetch may send the access token to (the API's own is always allowed). */
  tokenOrigins?: string[]
  onChange?: (change: AuthChange) => void
  fetch?: typeof fetch
  webauthn?: WebAuthnHelpers
}

/** A started cross-device sign-in: show `matchNumber`, then `wait()`. */
export interface CrossDeviceSignIn {
  requestId: string
  matchNumber: number
  expiresIn: number
  message: string
  /** Resolves signed in once the other device approves; rejects CROSS_DEVICE_DENIED or MAGIC_LINK_INVALID (expired). */
  wait: (options?: WaitOptions) => Promise<SignedIn>
}

/** The payload of a JWT (sid and exp), without verifying it: the server does that. */
function claims (token: string): { sid?: string } {
  try {
    return JSON.parse(atob(token.split('.')[1]!.replace(/-/g, '+').replace(/_/g, '/'))) as { sid?: string }
  } catch {
    return {}
  }
}

export function createClient (options: ClientOptions = {}) {
  const baseUrl = (options.baseUrl ?? '').replace(/\/$/, '')
  const key = options.storageKey ?? 'latchkey'
  const fetcher = options.fetch ?? globalThis.fetch.bind(globalThis)
  const margin = (options.refreshMargin ?? 60) * 1000
  const apiOrigin = new URL(baseUrl === '' ? '/' : baseUrl, browser.location?.href).origin
  const tokenOrigins = new Set([apiOrigin, ...(options.tokenOrigins ?? [])])
  const persisted = options.persist === true ? storage() : undefined
  const listeners = new Set<(change: AuthChange) => void>()
  if (options.onChange !== undefined) listeners.add(options.onChange)
  /** Sessions that ended: a late message from a tab that missed the news never brings one back. */
  const ended = new Set<string>()
  let state: Shared | null = null
  let timer: ReturnType<typeof setTimeout> | undefined
  let inflight: Promise<void> | undefined

  const due = (shared: Shared): number => shared.expiresAt - Math.min(margin, shared.ttl / 4)

  function set (next: Shared | null, change: AuthChange | null): void {
    state = next
    clearTimeout(timer)
    if (next !== null) timer = setTimeout(() => { void refresh().catch(() => {}) }, Math.max(0, due(next) - Date.now()))
    if (persisted !== undefined) {
      if (next === null) persisted.removeItem(key)
      else persisted.setItem(key, JSON.stringify(next))
    }
    if (change !== null) for (const listener of listeners) listener(change)
  }

  /** A session from another tab (or storage): taken when it is newer than ours. */
  function adopt (shared: Shared): void {
    if (ended.has(shared.sid) || (state !== null && shared.gen <= state.gen)) return
    const same = state?.sid === shared.sid
    set(shared, same ? { type: 'refreshed', source: 'other-tab' } : { type: 'signed-in', user: shared.user, source: 'other-tab' })
  }

  /** Signed out here, and in every tab that shares this session. */
  function end (reason: SignOutReason, code?: string, share = true): void {
    if (state === null) return
    const sid = state.sid
    ended.add(sid)
    set(null, { type: 'signed-out', reason, code })
    if (share) tabs.post({ t: 'out', from: tabs.id, sid, reason })
  }

  const tabs = createTabs(key, {
    current: () => state,
    adopt,
    out: (sid, reason) => {
      ended.add(sid)
      if (state?.sid === sid) end('other-tab', reason, false)
    }
  }, options.lockTimeout ?? 5000)

  // Storage events, for the persisted session (another tab that wrote or removed it).
  const onStorage = (event: { key: string | null, newValue: string | null, oldValue: string | null }): void => {
    if (event.key !== key) return
    if (event.newValue !== null) adopt(JSON.parse(event.newValue) as Shared)
    else if (event.oldValue !== null && state?.sid === (JSON.parse(event.oldValue) as Shared).sid) end('other-tab', undefined, false)
  }
  // A tab back from the background or a freeze asks the others what happened meanwhile.
  const onWake = (): void => { void tabs.hello() }
  if (persisted !== undefined) {
    browser.addEventListener?.('storage', onStorage)
    const saved = persisted.getItem(key)
    if (saved !== null) set(JSON.parse(saved) as Shared, null)
  }
  browser.addEventListener?.('resume', onWake)
  browser.addEventListener?.('pageshow', onWake)
  const ready = tabs.hello()

  function fromPair (pair: TokenPair): Pick<Shared, 'accessToken' | 'refreshToken' | 'expiresAt' | 'ttl' | 'sid'> {
    return { accessToken: pair.accessToken, refreshToken: pair.refreshToken, expiresAt: Date.now() + pair.expiresIn * 1000, ttl: pair.expiresIn * 1000, sid: claims(pair.accessToken).sid ?? '' }
  }

  function signedIn<T extends SignedIn> (result: T): T {
    const shared: Shared = { ...fromPair(result), gen: Date.now(), user: result.user }
    ended.delete(shared.sid)
    set(shared, { type: 'signed-in', user: result.user, source: 'this-tab' })
    tabs.post({ t: 'session', from: tabs.id, s: shared })
    return result
  }

  const notSignedIn = (): LatchkeyError => new LatchkeyError(0, 'NOT_SIGNED_IN', 'Not signed in')

  /** A public call: the parsed body, or a thrown LatchkeyError. */
  async function call<T> (method: string, path: string, body?: unknown): Promise<T> {
    const response = await send(fetcher, baseUrl + path, {
      method,
      headers: body === undefined ? { accept: 'application/json' } : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body)
    })
    return await parse<T>(response)
  }

  async function parse<T> (response: Response): Promise<T> {
    if (!response.ok) throw await errorFrom(response)
    return (response.status === 204 ? undefined : await response.json()) as T
  }

  /**
   * A new pair, with at most one refresh call at a time across every tab of the origin: under the
   * lock, a tab first looks whether another tab already refreshed (its own copy, then every live
   * peer), and calls POST /auth/refresh only when nobody has.
   */
  function refresh (): Promise<void> {
    const stale = state
    if (stale === null) return Promise.reject(notSignedIn())
    inflight ??= tabs.withLock(async () => {
      if (state?.refreshToken !== stale.refreshToken) return
      await tabs.sync()
      if (state?.refreshToken !== stale.refreshToken) return
      let pair: TokenPair
      try {
        pair = await call<TokenPair>('POST', '/auth/refresh', { refreshToken: stale.refreshToken } satisfies RefreshRequest)
      } catch (error) {
        // The refresh token is dead (rotated away, revoked, expired): so is the session, in every tab.
        if (isLatchkeyError(error) && error.status === 401 && state?.sid === stale.sid) end('session-ended', error.code)
        throw error
      }
      if (state?.sid !== stale.sid) return
      const shared: Shared = { ...stale, ...fromPair(pair), gen: Math.max(stale.gen, state.gen) + 1 }
      set(shared, { type: 'refreshed', source: 'this-tab' })
      tabs.post({ t: 'session', from: tabs.id, s: shared })
    }).finally(() => { inflight = undefined })
    return inflight
  }

  /** A live access token: refreshed first when it expires within the margin. */
  async function accessToken (): Promise<string> {
    await ready
    if (state !== null && Date.now() >= due(state)) await refresh()
    if (state === null) throw notSignedIn()
    return state.accessToken
  }

  const codeOf = async (response: Response): Promise<string | undefined> =>
    await response.clone().json().then((body: unknown) => (body as { code?: string }).code, () => undefined)

  /**
   * fetch with the Bearer header: refreshes shortly before expiry, and on a 401 TOKEN_EXPIRED
   * refreshes once and retries once. A 401 TOKEN_REVOKED or ACCOUNT_DISABLED signs out. Sends the
   * token only to the API's origin and `tokenOrigins`. A body that is a stream cannot be retried.
   */
  async function authFetch (input: string | URL | Request, init: RequestInit = {}): Promise<Response> {
    const target = typeof input === 'string' && input.startsWith('/') ? baseUrl + input : input
    const url = new URL(target instanceof Request ? target.url : target, browser.location?.href)
    if (!tokenOrigins.has(url.origin)) throw new LatchkeyError(0, 'TOKEN_ORIGIN', `The access token is not sent to ${url.origin}`)
    const attempt = async (token: string): Promise<Response> => {
      const headers = new Headers(init.headers ?? (target instanceof Request ? target.headers : undefined))
      headers.set('authorization', `Bearer ${token}`)
      return await fetcher(target instanceof Request ? target.clone() : target, { credentials: 'omit', ...init, headers })
    }
    const token = await accessToken()
    const response = await attempt(token)
    if (response.status !== 401) return response
    const code = await codeOf(response)
    if (code === 'TOKEN_EXPIRED') {
      if (state?.accessToken === token) await refresh()
      if (state === null) throw notSignedIn()
      return await attempt(state.accessToken)
    }
    if ((code === 'TOKEN_REVOKED' || code === 'ACCOUNT_DISABLED') && state?.accessToken === token) end('session-ended', code)
    return response
  }

  /** A Bearer call to the API: the parsed body, or a thrown LatchkeyError. */
  async function authCall<T> (method: string, path: string, body?: unknown): Promise<T> {
    let response: Response
    try {
      response = await authFetch(path, body === undefined ? { method } : { method, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
    } catch (error) {
      if (error instanceof LatchkeyError || (error as Error).name === 'AbortError') throw error
      throw new LatchkeyError(0, 'NETWORK_ERROR', (error as Error).message)
    }
    return await parse<T>(response)
  }

  /** Ends the session on the server, then here and in every tab (even when the server could not be told). */
  async function signOut (path: string, reason: SignOutReason): Promise<void> {
    if (state === null) return
    try {
      await authCall<void>('POST', path)
    } catch (error) {
      if (!(isLatchkeyError(error) && error.status === 401)) {
        end(reason)
        throw error
      }
    }
    end(reason)
  }

  async function credential (kind: 'get' | 'create', optionsJSON: unknown, autofill = false): Promise<unknown> {
    const native = browser.PublicKeyCredential
    const parse = kind === 'get' ? native?.parseRequestOptionsFromJSON : native?.parseCreationOptionsFromJSON
    if (parse !== undefined && browser.navigator?.credentials !== undefined) {
      const publicKey = parse.call(native, optionsJSON)
      const found = await browser.navigator.credentials[kind]({ publicKey, ...(autofill ? { mediation: 'conditional' } : {}) })
      return found.toJSON()
    }
    const helpers = options.webauthn
    if (helpers === undefined) throw new LatchkeyError(0, 'PASSKEY_UNSUPPORTED', 'No JSON WebAuthn methods here: pass @simplewebauthn/browser as the webauthn option')
    return kind === 'get'
      ? await helpers.startAuthentication({ optionsJSON, useBrowserAutofill: autofill })
      : await helpers.startRegistration({ optionsJSON })
  }

  return {
    /** Resolves once this tab has heard from the others (at most about 300 ms). */
    ready,
    get signedIn (): boolean { return state !== null },
    get user (): User | undefined { return state?.user },
    /** The session id of the signed-in session. */
    get sessionId (): string | undefined { return state?.sid },
    /** Calls `listener` on every change; returns the unsubscribe function. */
    subscribe (listener: (change: AuthChange) => void): () => void {
      listeners.add(listener)
      return () => { listeners.delete(listener) }
    },
    fetch: authFetch,
    accessToken,
    refresh,

    requestMagicLink: async (email: string, redirectTo?: string): Promise<Accepted> =>
      await call('POST', '/auth/magic-link', (redirectTo === undefined ? { email } : { email, redirectTo }) satisfies MagicLinkRequest),
    /** What an emailed link is for (signup or login), without using it. */
    inspectLink: async (token: string): Promise<LinkInfo> =>
      await call('GET', `/auth/magic-link/verify?token=${encodeURIComponent(token)}`),
    /** Signs in with a login link's token. */
    consumeLink: async (token: string): Promise<SignedIn> =>
      signedIn(await call<SignedIn>('POST', '/auth/magic-link/consume', { token } satisfies ConsumeRequest)),
    /** Creates the account a signup link's token was sent for, and signs in. */
    signUp: async (token: string, account: { email: string, name: string, password?: string }): Promise<SignedIn> =>
      signedIn(await call<SignedIn>('POST', '/auth/signup', { ...account, token } satisfies SignupRequest)),
    requestCode: async (email: string): Promise<Accepted> => await call('POST', '/auth/otp', { email } satisfies CodeRequest),
    /** Signs in (or up, with `name`) with an emailed code. OTP_INVALID carries attemptsRemaining. */
    verifyCode: async (email: string, code: string, name?: string): Promise<CodeSignedIn> =>
      signedIn(await call<CodeSignedIn>('POST', '/auth/otp/verify', (name === undefined ? { email, code } : { email, code, name }) satisfies CodeVerifyRequest)),
    signInWithPassword: async (email: string, password: string): Promise<SignedIn> =>
      signedIn(await call<SignedIn>('POST', '/auth/login', { email, password } satisfies PasswordLoginRequest)),

    /** Starts a cross-device sign-in: show `matchNumber`, then `wait()` for the other device. */
    async startCrossDevice (email: string): Promise<CrossDeviceSignIn> {
      const ticket = await call<CrossDeviceTicket>('POST', '/auth/magic-link', { email, crossDevice: true } satisfies MagicLinkRequest)
      const url = `${baseUrl}/auth/magic-link/requests/${ticket.requestId}`
      return {
        requestId: ticket.requestId,
        matchNumber: ticket.matchNumber,
        expiresIn: ticket.expiresIn,
        message: ticket.message,
        wait: async (waitOptions?: WaitOptions) => signedIn(await waitForApproval(fetcher, url, ticket.deviceSecret, waitOptions))
      }
    },

    /** Signs in with a passkey (no address typed); `autofill` waits on the browser's suggestion list. */
    async signInWithPasskey (autofill = false): Promise<SignedIn> {
      const optionsJSON = await call('POST', '/auth/passkeys/login/options', {})
      return signedIn(await call<SignedIn>('POST', '/auth/passkeys/login', { credential: await credential('get', optionsJSON, autofill) }))
    },
    /** Adds a passkey to the signed-in account (needs a recent sign-in: REAUTH_REQUIRED otherwise). */
    async registerPasskey (name?: string): Promise<Passkey> {
      const optionsJSON = await authCall('POST', '/auth/passkeys/register/options', {})
      const created = await credential('create', optionsJSON)
      return await authCall('POST', '/auth/passkeys/register', name === undefined ? { credential: created } : { credential: created, name })
    },

    /** Your passkeys, oldest first. */
    listPasskeys: async (): Promise<Passkey[]> => await authCall('GET', '/auth/passkeys'),
    /** NOT_FOUND for an id that is not one of yours. */
    renamePasskey: async (id: string, name: string): Promise<Passkey> =>
      await authCall('PATCH', `/auth/passkeys/${encodeURIComponent(id)}`, { name } satisfies RenamePasskeyRequest),
    /** Needs a recent sign-in (REAUTH_REQUIRED otherwise); NOT_FOUND for an id that is not one of yours. */
    deletePasskey: async (id: string): Promise<void> => { await authCall<void>('DELETE', `/auth/passkeys/${encodeURIComponent(id)}`) },
    /** Your security events, newest first, 20 a page: pass a page's `next` for the one after. */
    listActivity: async (cursor?: string): Promise<ActivityPage> =>
      await authCall('GET', '/auth/activity' + (cursor === undefined ? '' : `?${new URLSearchParams({ cursor } satisfies ActivityQuery)}`)),

    me: async (): Promise<User> => await authCall('GET', '/auth/me'),
    listSessions: async (): Promise<Session[]> => await authCall('GET', '/auth/sessions'),
    /** Ends one of your sessions; ending the current one signs out here too. */
    async endSession (id: string): Promise<void> {
      await authCall<void>('DELETE', `/auth/sessions/${encodeURIComponent(id)}`)
      if (state?.sid === id) end('logout')
    },
    logout: async (): Promise<void> => { await signOut('/auth/logout', 'logout') },
    logoutEverywhere: async (): Promise<void> => { await signOut('/auth/logout-all', 'logout-all') },

    /** Stops timers and listeners (the session stays with the other tabs). */
    close (): void {
      clearTimeout(timer)
      tabs.close()
      browser.removeEventListener?.('storage', onStorage)
      browser.removeEventListener?.('resume', onWake)
      browser.removeEventListener?.('pageshow', onWake)
    }
  }
}

export type LatchkeyClient = ReturnType<typeof createClient>
