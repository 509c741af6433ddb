import { hash, verify } from '@node-rs/argon2'
import { randomToken } from '../tokens/token-crypto.js'

/**
 * argon2id at OWASP's minimum profile (m=19 MiB, t=2, p=1; SPEC invariant 9b). Unknown addresses
 * are checked against a real hash of a random password, so both branches cost one argon2 run.
 */
// algorithm 2 is Argon2id in @node-rs/argon2's (const) Algorithm enum.
export const ARGON2_OPTIONS = { algorithm: 2, memoryCost: 19_456, timeCost: 2, parallelism: 1 } as const
export const PASSWORD_MIN_LENGTH = 8
export const PASSWORD_MAX_LENGTH = 128

export function createPasswordHasher () {
  let decoy: Promise<string> | undefined
  const decoyHash = () => (decoy ??= hash(randomToken(), ARGON2_OPTIONS))
  // argon2 verifications run, decoys included: the work an answer cost, which tests compare
  // between known and unknown addresses instead of timing them.
  let verifications = 0

  return {
    async hashPassword (password: string): Promise<string> {
      return await hash(password, ARGON2_OPTIONS)
    },
    /** Verifies, or burns the same work against the decoy when there is no hash (unknown address). */
    async verifyPassword (passwordHash: string | undefined | null, password: string): Promise<boolean> {
      const against = passwordHash || await decoyHash()
      verifications++
      const matches = await verify(against, password).catch(() => false)
      return Boolean(passwordHash) && matches
    },
    /** How many argon2 verifications this hasher has run. */
    verificationCount: (): number => verifications
  }
}

export type PasswordHasher = ReturnType<typeof createPasswordHasher>
