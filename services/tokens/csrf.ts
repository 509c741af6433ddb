import { hmac, randomToken, safeEqual } from './token-crypto.js'

/**
 * CSRF protection for the built-in HTML forms (signed double-submit): the browser holds a random
 * value in a SameSite=Strict, HttpOnly cookie, and each form carries its HMAC. A cross-site page
 * can neither read the cookie nor forge the HMAC, and a Strict cookie is not sent with a
 * cross-site POST at all. JSON endpoints do not need this: they accept only application/json,
 * which a cross-site form cannot send.
 */
export function createCsrf (key: Buffer) {
  return {
    /** A fresh cookie value, or the one the browser already has. */
    cookieValue (existing: string | undefined): string {
      return existing !== undefined && /^[A-Za-z0-9_-]{22}$/.test(existing) ? existing : randomToken(16)
    },
    formToken (cookieValue: string): string {
      return hmac(key, cookieValue)
    },
    verify (cookieValue: string | undefined, formToken: string | undefined): boolean {
      if (cookieValue === undefined || formToken === undefined) return false
      return safeEqual(hmac(key, cookieValue), formToken)
    }
  }
}

export type Csrf = ReturnType<typeof createCsrf>
