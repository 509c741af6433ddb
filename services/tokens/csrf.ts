import { hmac, randomToken, safeEqual } from './token-crypto.js'

/**
 * CSRF protection for the built-in HTML forms (signed double-submit, bound to the session): the
 * browser holds a random value in a SameSite=Strict, HttpOnly cookie, and each form carries an
 * HMAC of that value and of the page session it was rendered for (the session id, or nothing on
 * the signed-out pages). A cross-site page can neither read the cookie nor forge the HMAC, and a
 * Strict cookie is not sent with a cross-site POST at all. On a plain-http deployment a sibling
 * subdomain can plant the cookie (it is same-site, and `__Host-` needs https); it still cannot
 * make a token for someone else's session, because the HMAC covers that session and the key is
 * the server's. JSON endpoints do not need this: they accept only application/json, which a
 * cross-site form cannot send.
 *
 * A form rendered for a session carries that session's id in the clear before the HMAC
 * (`<session id>.<hmac>`), so the token can be checked before anything is looked up: a forged or
 * foreign form is refused with one HMAC and no database read, and only then is the browser's
 * session found (which may mean a refresh, MongoDB reads) and compared with the id in the token.
 * The id is no secret from the person the page was rendered for (the account page lists it).
 */
export function createCsrf (key: Buffer) {
  const sign = (cookieValue: string, sessionId: string): string => hmac(key, `${cookieValue}\u0000${sessionId}`)
  const formToken = (cookieValue: string, sessionId = ''): string =>
    sessionId === '' ? sign(cookieValue, '') : `${sessionId}.${sign(cookieValue, sessionId)}`
  function sessionOf (cookieValue: string | undefined, token: string | undefined): string | null {
    if (cookieValue === undefined || token === undefined) return null
    const dot = token.lastIndexOf('.')
    const sessionId = dot === -1 ? '' : token.slice(0, dot)
    return safeEqual(formToken(cookieValue, sessionId), token) ? sessionId : null
  }
  return {
    /** A fresh cookie value, or the one the browser already has. */
    cookieValue (existing: string | undefined): string {
      return existing !== undefined && /^[A-Za-z0-9_-]{22}$/.test(existing) ? existing : randomToken(16)
    },
    /** The form token for a page rendered for `sessionId` ('' when signed out). */
    formToken,
    verify (cookieValue: string | undefined, formToken: string | undefined, sessionId = ''): boolean {
      return sessionOf(cookieValue, formToken) === sessionId
    },
    /**
     * The session a form token was made for ('' for a signed-out page) when it was made for this
     * cookie; null for a missing, forged or foreign token. One HMAC, no I/O.
     */
    sessionOf
  }
}

export type Csrf = ReturnType<typeof createCsrf>
