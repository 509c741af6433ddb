import { createHash, timingSafeEqual } from 'node:crypto'

/** What an accepted admin key is known by in events and logs: never the key itself. */
export interface AdminKeyIdentity {
  /** First 8 hex digits of the key's SHA-256: enough to tell rotated keys apart, useless to an attacker. */
  fingerprint: string
}

const sha256 = (value: string): Buffer => createHash('sha256').update(value).digest()

/** The fingerprint of an admin key (first 8 hex digits of its SHA-256). */
export const adminKeyFingerprint = (key: string): string => sha256(key).toString('hex').slice(0, 8)

/**
 * The admin API keys (ADMIN_API_KEYS). Only their SHA-256 hashes are kept; a presented key is
 * hashed and compared with every configured hash in constant time (no early exit, so neither the
 * length of a key, its content nor which key matched shows in the timing).
 */
export function createAdminKeys (keys: string[]) {
  const hashes = keys.map((key) => ({ hash: sha256(key), fingerprint: adminKeyFingerprint(key) }))
  return {
    /** True when at least one key is configured (the admin API exists). */
    get enabled (): boolean { return hashes.length > 0 },

    /** The identity of the key presented, or null when it is none of the configured keys. */
    identify (presented: string): AdminKeyIdentity | null {
      const hash = sha256(presented)
      let found: AdminKeyIdentity | null = null
      for (const candidate of hashes) {
        if (timingSafeEqual(hash, candidate.hash) && found === null) found = { fingerprint: candidate.fingerprint }
      }
      return found
    }
  }
}

export type AdminKeys = ReturnType<typeof createAdminKeys>

/** The key in an `Authorization: Bearer <key>` header ('' when there is none). */
export function presentedAdminKey (header: string | undefined): string {
  if (header === undefined) return ''
  const match = /^Bearer[ ]+(\S+)[ ]*$/i.exec(header)
  return match?.[1] ?? ''
}
