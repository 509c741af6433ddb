import { randomBytes } from 'node:crypto'
import { isValidObjectId } from 'mongoose'
import {
  generateAuthenticationOptions,
  generateRegistrationOptions,
  verifyAuthenticationResponse,
  verifyRegistrationResponse,
  type AuthenticationResponseJSON,
  type AuthenticatorTransportFuture,
  type PublicKeyCredentialCreationOptionsJSON,
  type PublicKeyCredentialRequestOptionsJSON,
  type RegistrationResponseJSON
} from '@simplewebauthn/server'
import type { Clock } from '../infrastructure/clock.js'
import { NotFoundError, PasskeyInvalidError, PasskeyRejectedError, TokenRevokedError, withExtras } from '../infrastructure/errors.js'
import type { Metrics } from '../infrastructure/metrics.js'
import type { Models } from '../models/index.js'
import { insertOne } from '../models/insert.js'
import type { PasskeyFields } from '../models/passkey.js'
import { toPublicUser } from '../accounts/users.js'
import type { ClientInfo, SessionService, SignedIn } from '../sessions/sessions.js'
import { authenticatorName } from './authenticator-names.js'
import { challengeOf, CHALLENGE_TTL_SECONDS, type ChallengeStore } from './challenges.js'

/** COSE algorithms accepted: EdDSA, ES256 and RS256 (Windows Hello). */
export const PASSKEY_ALGORITHMS = [-8, -7, -257]

/** A passkey as the API shows it. */
export interface PasskeyView {
  id: string
  name: string
  createdAt: string
  lastUsedAt: string | null
  backedUp: boolean
  deviceType: 'singleDevice' | 'multiDevice'
  transports: string[]
}

export interface RelyingParty { rpId: string, rpName: string, origins: string[] }

/** Why a sign-in was refused (the metric's label; the answer is always the same 401 PASSKEY_INVALID). */
type Refusal = 'challenge' | 'unknown' | 'verification' | 'counter' | 'backup_eligible' | 'user'

interface Logger { warn: (details: Record<string, unknown>, message: string) => void }

/** A stored public key: a Buffer, or the BSON Binary a lean read returns. */
const keyBytes = (value: unknown): Uint8Array<ArrayBuffer> => Uint8Array.from(Buffer.isBuffer(value) ? value : (value as { buffer: Uint8Array }).buffer)

const isDuplicateKey = (error: unknown): boolean => (error as { code?: number }).code === 11000

function toView (passkey: Pick<PasskeyFields, 'credentialId' | 'name' | 'createdAt' | 'lastUsedAt' | 'backedUp' | 'backupEligible' | 'transports'>): PasskeyView {
  return {
    id: passkey.credentialId,
    name: passkey.name,
    createdAt: passkey.createdAt.toISOString(),
    lastUsedAt: passkey.lastUsedAt == null ? null : passkey.lastUsedAt.toISOString(),
    backedUp: passkey.backedUp,
    deviceType: passkey.backupEligible ? 'multiDevice' : 'singleDevice',
    transports: [...passkey.transports]
  }
}

/**
 * Passkeys (SPEC "Passkeys"): registration by a signed-in person, then sign-in with no address typed
 * (discoverable credentials). Every WebAuthn check (client data type, challenge, origin, RP id hash,
 * user presence and verification, signature, counter, attestation "none") is @simplewebauthn/server's;
 * this service keeps the challenges (single use, services/passkeys/challenges.ts), the credentials
 * (MongoDB) and the rules around them: user verification required; a counter that does not increase
 * (either side non-zero) refused, logged and counted; a changed backup-eligible flag refused, a
 * changed backed-up flag stored; a deleted credential refused. Every sign-in failure is one 401
 * PASSKEY_INVALID.
 */
export function createPasskeyService ({ models, challenges, sessions, rp, clock, metrics, log }: {
  models: Models
  challenges: ChallengeStore
  sessions: SessionService
  rp: RelyingParty
  clock: Clock
  metrics: Metrics
  log: Logger
}) {
  const { Passkey, User } = models

  /** The one sign-in failure. `unknownCredential`: the credential is not (or no longer) registered, so the page may tell the browser (signalUnknownCredential). */
  function refuse (reason: Refusal, unknownCredential = false): never {
    metrics.inc('latchkey_passkey_failures_total', { reason })
    const error = new PasskeyInvalidError()
    throw unknownCredential ? withExtras(error, { body: { unknownCredential: true } }) : error
  }

  /** The user's WebAuthn user handle: 32 random bytes, made at the first passkey and kept. */
  async function userHandle (userId: string): Promise<{ handle: string, email: string, name: string }> {
    const user = await User.findById(userId, { email: 1, name: 1, passkeyHandle: 1 }).lean()
    if (user === null) throw new TokenRevokedError()
    if (user.passkeyHandle != null) return { handle: user.passkeyHandle, email: user.email, name: user.name }
    // Two first registrations at once: the first write wins and both read it back.
    await User.updateOne({ _id: userId, passkeyHandle: { $exists: false } }, { $set: { passkeyHandle: randomBytes(32).toString('base64url') } })
    const stored = await User.findById(userId, { passkeyHandle: 1 }).lean()
    if (stored?.passkeyHandle == null) throw new TokenRevokedError()
    return { handle: stored.passkeyHandle, email: user.email, name: user.name }
  }

  /**
   * Checks an assertion against a live challenge and a registered credential; on success the counter,
   * backed-up flag and last use are stored. `ownerId`: for a re-authentication, the passkey must be
   * this user's.
   */
  async function checkAssertion (credential: AuthenticationResponseJSON, ownerId?: string) {
    const challenge = challengeOf(credential.response.clientDataJSON)
    // Consumed first, whatever follows: a challenge answers at most one assertion (invariant 12).
    const grant = await challenges.consume(challenge)
    if (grant?.purpose !== 'assert') refuse('challenge')
    const passkey = await Passkey.findOne({ credentialId: credential.id }).lean()
    if (passkey === null) refuse('unknown', true)
    if (ownerId !== undefined && passkey.userId.toString() !== ownerId) refuse('user')

    const stored = { id: passkey.credentialId, publicKey: keyBytes(passkey.publicKey), counter: passkey.counter, transports: passkey.transports as AuthenticatorTransportFuture[] }
    const verify = async (counter: number) => await verifyAuthenticationResponse({
      response: credential,
      expectedChallenge: challenge,
      expectedOrigin: rp.origins,
      expectedRPID: rp.rpId,
      expectedType: 'webauthn.get',
      requireUserVerification: true,
      credential: { ...stored, counter }
    })
    let info
    try {
      const result = await verify(passkey.counter)
      if (!result.verified) refuse('verification')
      info = result.authenticationInfo
    } catch (error) {
      if (error instanceof PasskeyInvalidError) throw error
      // The library checks the counter before the signature: only a signature that holds makes it a clone warning.
      if (/counter value/i.test((error as Error).message) && await verify(0).then((again) => again.verified, () => false)) {
        log.warn({ passkey: passkey._id.toString(), userId: passkey.userId.toString(), stored: passkey.counter }, 'passkey signature counter did not increase: possibly a cloned authenticator; sign-in refused')
        refuse('counter')
      }
      refuse('verification')
    }

    const backupEligible = info.credentialDeviceType === 'multiDevice'
    if (backupEligible !== passkey.backupEligible) {
      log.warn({ passkey: passkey._id.toString(), userId: passkey.userId.toString() }, 'passkey backup-eligible flag changed since registration; sign-in refused')
      refuse('backup_eligible')
    }
    // The owner, read once for both the handle check and the sign-in's answer.
    const owner = await User.findById(passkey.userId, { email: 1, name: 1, createdAt: 1, passkeyHandle: 1 }).lean()
    if (owner === null) refuse('user')
    if (credential.response.userHandle !== undefined && owner.passkeyHandle !== credential.response.userHandle) refuse('user')
    // Conditional on the counter read above: of two assertions (two challenges) racing with the same
    // counter, one moves it and the other is refused. A deleted credential matches nothing.
    const { matchedCount } = await Passkey.updateOne(
      { _id: passkey._id, counter: passkey.counter },
      { $set: { counter: info.newCounter, backedUp: info.credentialBackedUp, lastUsedAt: new Date(clock.now()) } }
    )
    if (matchedCount === 0) {
      if (await Passkey.exists({ _id: passkey._id }) === null) refuse('unknown', true)
      log.warn({ passkey: passkey._id.toString(), userId: passkey.userId.toString() }, 'passkey signature counter raced: possibly a cloned authenticator; sign-in refused')
      refuse('counter')
    }
    return { userId: passkey.userId, owner }
  }

  return {
    /** Creation options for a signed-in person (excludeCredentials: their passkeys). */
    async registrationOptions (userId: string): Promise<PublicKeyCredentialCreationOptionsJSON> {
      const [user, existing] = await Promise.all([
        userHandle(userId),
        Passkey.find({ userId }, { credentialId: 1, transports: 1 }).lean()
      ])
      const options = await generateRegistrationOptions({
        rpName: rp.rpName,
        rpID: rp.rpId,
        userName: user.email,
        userDisplayName: user.name,
        userID: Uint8Array.from(Buffer.from(user.handle, 'base64url')),
        attestationType: 'none',
        timeout: CHALLENGE_TTL_SECONDS * 1000,
        excludeCredentials: existing.map((passkey) => ({ id: passkey.credentialId, transports: passkey.transports as AuthenticatorTransportFuture[] })),
        authenticatorSelection: { residentKey: 'required', requireResidentKey: true, userVerification: 'required' },
        supportedAlgorithmIDs: PASSKEY_ALGORITHMS
      })
      await challenges.issue(options.challenge, { purpose: 'register', userId })
      return options
    },

    /**
     * Verifies a registration against the person's own live challenge and stores the credential.
     * Any failure (challenge used, expired or another person's; origin, RP id, no user verification,
     * a credential already registered) is 400 PASSKEY_INVALID.
     */
    async register (userId: string, credential: RegistrationResponseJSON, name?: string): Promise<PasskeyView> {
      const challenge = challengeOf(credential.response.clientDataJSON)
      const grant = await challenges.consume(challenge)
      if (grant?.purpose !== 'register' || grant.userId !== userId) throw new PasskeyRejectedError()
      let verification
      try {
        verification = await verifyRegistrationResponse({
          response: credential,
          expectedChallenge: challenge,
          expectedOrigin: rp.origins,
          expectedRPID: rp.rpId,
          expectedType: 'webauthn.create',
          requireUserVerification: true,
          supportedAlgorithmIDs: PASSKEY_ALGORITHMS
        })
      } catch {
        throw new PasskeyRejectedError()
      }
      if (!verification.verified) throw new PasskeyRejectedError()
      const info = verification.registrationInfo
      try {
        const passkey = await insertOne(Passkey, {
          credentialId: info.credential.id,
          userId,
          publicKey: Buffer.from(info.credential.publicKey),
          counter: info.credential.counter,
          transports: info.credential.transports ?? credential.response.transports ?? [],
          backupEligible: info.credentialDeviceType === 'multiDevice',
          backedUp: info.credentialBackedUp,
          aaguid: info.aaguid,
          name: name ?? authenticatorName(info.aaguid) ?? 'Passkey'
        })
        return toView(passkey)
      } catch (error) {
        if (isDuplicateKey(error)) throw new PasskeyRejectedError()
        throw error
      }
    },

    /** Request options for a sign-in: no allowCredentials, so nothing about any account is revealed. */
    async loginOptions (): Promise<PublicKeyCredentialRequestOptionsJSON> {
      const options = await generateAuthenticationOptions({ rpID: rp.rpId, userVerification: 'required', timeout: CHALLENGE_TTL_SECONDS * 1000 })
      await challenges.issue(options.challenge, { purpose: 'assert' })
      return options
    },

    /**
     * Sign-in with a passkey: the session starts through sessions.startSession (method 'passkey'), as
     * every other sign-in's does. Every failure is 401 PASSKEY_INVALID.
     */
    async signIn (credential: AuthenticationResponseJSON, client: ClientInfo): Promise<SignedIn & { sessionId: string }> {
      const { userId, owner } = await checkAssertion(credential)
      const pair = await sessions.startSession(userId.toString(), 'passkey', client)
      return { user: toPublicUser(owner), ...pair }
    },

    /** Re-authentication with one of the person's own passkeys (POST /auth/reauthenticate {credential}). */
    async confirmOwner (userId: string, credential: AuthenticationResponseJSON): Promise<void> {
      await checkAssertion(credential, userId)
    },

    async listPasskeys (userId: string): Promise<PasskeyView[]> {
      const passkeys = await Passkey.find({ userId }).sort({ createdAt: 1 }).lean()
      return passkeys.map(toView)
    },

    /** Renames one of the person's passkeys; another person's (or an unknown) id is a 404. */
    async renamePasskey (userId: string, credentialId: string, name: string): Promise<PasskeyView> {
      if (!isValidObjectId(userId)) throw new NotFoundError('Passkey not found')
      const passkey = await Passkey.findOneAndUpdate({ credentialId, userId }, { $set: { name } }, { returnDocument: 'after', runValidators: true }).lean()
      if (passkey === null) throw new NotFoundError('Passkey not found')
      return toView(passkey)
    },

    /** Deletes one of the person's passkeys (it signs nobody in from then on); another person's id is a 404. */
    async deletePasskey (userId: string, credentialId: string): Promise<PasskeyView> {
      const passkey = await Passkey.findOneAndDelete({ credentialId, userId }).lean()
      if (passkey === null) throw new NotFoundError('Passkey not found')
      return toView(passkey)
    }
  }
}

export type PasskeyService = ReturnType<typeof createPasskeyService>
