import { hmac } from '../tokens/token-crypto.js'

/**
 * One normal form per address (SPEC invariant 8): trimmed and lower-cased before any use.
 *
 * The accepted shape is deliberately narrower than RFC 5322: one `@`, no whitespace or control
 * characters inside, none of `" , ; : < > ( ) [ ] \`, a dot in the domain, at most 254
 * characters. That rules out every way of smuggling a second recipient or a header into a
 * message (CR/LF, commas, quoted display names).
 */
export const EMAIL_MAX_LENGTH = 254

const atom = String.raw`[^\s\u0000-\u001f\u007f@",;:<>()[\]\\]+`
/** JSON-schema pattern: the address, optionally surrounded by spaces or tabs (trimmed away). */
export const EMAIL_PATTERN = String.raw`^[ \t]*${atom}@${atom}\.${atom}[ \t]*$`

const emailRegex = new RegExp(EMAIL_PATTERN, 'u')

export function isValidEmail (value: string): boolean {
  return value.length <= EMAIL_MAX_LENGTH && emailRegex.test(value)
}

export function normalizeEmail (value: string): string {
  return value.trim().toLowerCase()
}

/**
 * Key for per-address Redis state: a keyed hash of the normalised address, so a Redis dump does
 * not list who is signing in.
 */
export function createAddressKeyer (key: Buffer) {
  return (normalizedEmail: string): string => hmac(key, normalizedEmail).slice(0, 22)
}
