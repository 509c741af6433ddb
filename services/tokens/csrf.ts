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
 */
export function createCsrf (key: Buffer) {
  const sign = (cookieValue: string, sessionId: string): string => hmac(key, `${cookieValue}\u0000${sessionId}`)
  return {
    /** A fresh cookie value, or the one the browser already has. */
    cookieValue (existing: string | undefined): string {
      return existing !== undefined && /^[A-Za-z0-9_-]{22}$/.test(existing) ? existing : randomToken(16)
    },
    /** The form token for a page rendered for `sessionId` ('' when signed out). */
    formToken (cookieValue: string, sessionId = ''): string {
      return sign(cookieValue, sessionId)
    },
    verify (cookieValue: string | undefined, formToken: string | undefined, sessionId = ''): boolean {
      if (cookieValue === undefined || formToken === undefined) return false
      return safeEqual(sign(cookieValue, sessionId), formToken)
    }
  }
}

export type Csrf = ReturnType<typeof createCsrf>
