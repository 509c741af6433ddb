import { createCipheriv, createDecipheriv, createHash, createHmac, hkdfSync, randomBytes, randomInt, timingSafeEqual } from 'node:crypto'

/**
 * The only place secrets are made, hashed and compared. Everything comes from node:crypto:
 * no Math.random, no hand-rolled comparison.
 */

/** A URL-safe token with `bytes` bytes of CSPRNG entropy (32 bytes → 43 characters). */
export function randomToken (bytes = 32): string {
  return randomBytes(bytes).toString('base64url')
}

/** A six-digit code, uniform over 000000–999999 (leading zeros included). */
export function randomCode (): string {
  return randomInt(0, 1_000_000).toString().padStart(6, '0')
}

/** SHA-256 of a high-entropy token, as stored at rest (base64url, 43 characters). */
export function hashToken (token: string): string {
  return createHash('sha256').update(token).digest('base64url')
}

/** Keyed hash for low-entropy values (codes, addresses): without the key a dump cannot brute-force them. */
export function hmac (key: Buffer, value: string): string {
  return createHmac('sha256', key).update(value).digest('base64url')
}

/** Constant-time equality of two strings (false on different lengths, without early exit on content). */
export function safeEqual (a: string, b: string): boolean {
  const left = Buffer.from(a)
  const right = Buffer.from(b)
  if (left.length !== right.length) {
    timingSafeEqual(left, left)
    return false
  }
  return timingSafeEqual(left, right)
}

/** A purpose-bound 32-byte key derived from the root secret (HKDF-SHA256), so one secret serves several uses safely. */
export function deriveKey (rootSecret: string, purpose: string): Buffer {
  return Buffer.from(hkdfSync('sha256', rootSecret, 'latchkey', purpose, 32))
}

/** AES-256-GCM with a key derived from `secret` (e.g. a token that is never stored): iv.tag.ciphertext. */
export function seal (secret: string, purpose: string, plaintext: string): string {
  const key = deriveKey(secret, purpose)
  const iv = randomBytes(12)
  const cipher = createCipheriv('aes-256-gcm', key, iv)
  const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()])
  return [iv, cipher.getAuthTag(), body].map((part) => part.toString('base64url')).join('.')
}

/** The GCM tag length seal() writes and open() requires: a shorter tag would be easier to forge. */
const TAG_BYTES = 16

/** Reverses seal(); null when the secret is wrong or the box was tampered with (a truncated tag included). */
export function open (secret: string, purpose: string, box: string): string | null {
  const [iv, tag, body] = box.split('.').map((part) => Buffer.from(part, 'base64url'))
  if (!iv || !tag || !body || tag.length !== TAG_BYTES) return null
  try {
    const decipher = createDecipheriv('aes-256-gcm', deriveKey(secret, purpose), iv, { authTagLength: TAG_BYTES })
    decipher.setAuthTag(tag)
    return Buffer.concat([decipher.update(body), decipher.final()]).toString('utf8')
  } catch {
    return null
  }
}
