/** Name, path and Secure flag of a cookie of the browser session. */
export interface CookieScope {
  name: string
  path: string
  secure: boolean
}

/**
 * Where a browser-session cookie lives (the access and refresh tokens, the waiting device's
 * secret, the code-lock memo; the CSRF cookie does the same in plugins/app/csrf.ts). When APP_URL
 * is https, each one is `__Host-` prefixed, which browsers accept only Secure, with Path=/ and no
 * Domain: a sibling subdomain can then neither plant nor overwrite it (say, to sign a victim into
 * the attacker's account). On plain-http development browsers refuse `__Host-` (it needs Secure),
 * so the plain name and its narrower path stay.
 */
export function cookieScope (appUrl: string, name: string, path: string): CookieScope {
  const secure = new URL(appUrl).protocol === 'https:'
  return secure ? { name: `__Host-${name}`, path: '/', secure } : { name, path, secure }
}
