import { createHash, createSign, generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto'

/**
 * A software authenticator for tests: makes real WebAuthn responses (attestation "none", ES256
 * assertions signed with node:crypto) that @simplewebauthn/server verifies like a browser's. Test
 * code only: it encodes the little CBOR it needs with the tiny encoder below; the server never
 * decodes anything by hand.
 */

type Cbor = number | string | Uint8Array | Map<Cbor, Cbor> | Record<string, unknown>

function head (major: number, length: number): Buffer {
  if (length < 24) return Buffer.from([(major << 5) | length])
  if (length < 256) return Buffer.from([(major << 5) | 24, length])
  if (length < 65536) { const b = Buffer.alloc(3); b[0] = (major << 5) | 25; b.writeUInt16BE(length, 1); return b }
  const b = Buffer.alloc(5); b[0] = (major << 5) | 26; b.writeUInt32BE(length, 1); return b
}

/** Tiny CBOR encoder: integers, byte and text strings, maps (Map or plain object). */
export function cbor (value: Cbor): Buffer {
  if (typeof value === 'number') return value >= 0 ? head(0, value) : head(1, -1 - value)
  if (typeof value === 'string') { const bytes = Buffer.from(value, 'utf8'); return Buffer.concat([head(3, bytes.length), bytes]) }
  if (value instanceof Uint8Array) return Buffer.concat([head(2, value.length), value])
  const entries = value instanceof Map ? [...value.entries()] : Object.entries(value)
  return Buffer.concat([head(5, entries.length), ...entries.flatMap(([k, v]) => [cbor(k as Cbor), cbor(v as Cbor)])])
}

const sha256 = (data: Buffer | string): Buffer => createHash('sha256').update(data).digest()
const b64u = (data: Buffer | Uint8Array): string => Buffer.from(data).toString('base64url')

const FLAG = { UP: 0x01, UV: 0x04, BE: 0x08, BS: 0x10, AT: 0x40 }

export interface SoftCredential {
  id: Buffer
  privateKey: KeyObject
  publicKey: KeyObject
  userHandle: string
  counter: number
}

export interface AuthenticatorSettings {
  origin: string
  rpId: string
  /** User verification flag (default true). */
  uv?: boolean
  /** Backup eligible (a synced passkey) and backed up (default false, false). */
  backupEligible?: boolean
  backedUp?: boolean
  /** Signature counter that increases with every use (default: true, starting at 1); false keeps it at 0, as synced passkeys do. */
  counting?: boolean
  aaguid?: string
}

/** What one ceremony may change, to make a response a server must refuse. */
export interface Tamper {
  type?: string
  origin?: string
  rpId?: string
  uv?: boolean
  backupEligible?: boolean
  backedUp?: boolean
  counter?: number
  challenge?: string
  userHandle?: string | null
  /** Sign with another key (a bad signature). */
  wrongKey?: boolean
  /** Register this existing credential again (same id and key). */
  reuse?: SoftCredential
}

export function createSoftAuthenticator (settings: AuthenticatorSettings) {
  const credentials: SoftCredential[] = []

  function flags (tamper: Tamper, attested: boolean): number {
    const uv = tamper.uv ?? settings.uv ?? true
    const be = tamper.backupEligible ?? settings.backupEligible ?? false
    const bs = tamper.backedUp ?? settings.backedUp ?? false
    return FLAG.UP | (uv ? FLAG.UV : 0) | (be ? FLAG.BE : 0) | (bs ? FLAG.BS : 0) | (attested ? FLAG.AT : 0)
  }

  function clientData (type: string, challenge: string, tamper: Tamper): Buffer {
    return Buffer.from(JSON.stringify({ type: tamper.type ?? type, challenge: tamper.challenge ?? challenge, origin: tamper.origin ?? settings.origin, crossOrigin: false }))
  }

  const counterBytes = (value: number): Buffer => { const b = Buffer.alloc(4); b.writeUInt32BE(value >>> 0); return b }

  return {
    credentials,

    /** navigator.credentials.create() with the server's creation options → RegistrationResponseJSON. */
    register (options: { challenge: string, user: { id: string } }, tamper: Tamper = {}) {
      const { privateKey, publicKey } = tamper.reuse ?? generateKeyPairSync('ec', { namedCurve: 'P-256' })
      const jwk = publicKey.export({ format: 'jwk' })
      const id = tamper.reuse?.id ?? randomBytes(16)
      const cose = cbor(new Map<Cbor, Cbor>([[1, 2], [3, -7], [-1, 1], [-2, Buffer.from(jwk.x!, 'base64url')], [-3, Buffer.from(jwk.y!, 'base64url')]]))
      const aaguid = Buffer.from((settings.aaguid ?? '00000000-0000-0000-0000-000000000000').replaceAll('-', ''), 'hex')
      const idLength = Buffer.alloc(2); idLength.writeUInt16BE(id.length)
      const authData = Buffer.concat([sha256(tamper.rpId ?? settings.rpId), Buffer.from([flags(tamper, true)]), counterBytes(tamper.counter ?? 0), aaguid, idLength, id, cose])
      const attestationObject = cbor({ fmt: 'none', attStmt: {}, authData })
      const credential: SoftCredential = { id, privateKey, publicKey, userHandle: options.user.id, counter: 0 }
      if (tamper.reuse === undefined) credentials.push(credential)
      return {
        id: b64u(id),
        rawId: b64u(id),
        type: 'public-key',
        response: { clientDataJSON: b64u(clientData('webauthn.create', options.challenge, tamper)), attestationObject: b64u(attestationObject), transports: ['internal'] },
        authenticatorAttachment: 'platform',
        clientExtensionResults: { credProps: { rk: true } }
      }
    },

    /** navigator.credentials.get() with the server's request options → AuthenticationResponseJSON. */
    assert (options: { challenge: string }, credential: SoftCredential = credentials.at(-1)!, tamper: Tamper = {}) {
      if ((settings.counting ?? true) && tamper.counter === undefined) credential.counter += 1
      const authData = Buffer.concat([sha256(tamper.rpId ?? settings.rpId), Buffer.from([flags(tamper, false)]), counterBytes(tamper.counter ?? credential.counter)])
      const data = clientData('webauthn.get', options.challenge, tamper)
      const signer = createSign('SHA256')
      signer.update(Buffer.concat([authData, sha256(data)]))
      const key = tamper.wrongKey === true ? generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey : credential.privateKey
      const userHandle = tamper.userHandle === undefined ? credential.userHandle : tamper.userHandle
      return {
        id: b64u(credential.id),
        rawId: b64u(credential.id),
        type: 'public-key',
        response: {
          clientDataJSON: b64u(data),
          authenticatorData: b64u(authData),
          signature: b64u(signer.sign(key)),
          ...(userHandle === null ? {} : { userHandle })
        },
        authenticatorAttachment: 'platform',
        clientExtensionResults: {}
      }
    }
  }
}

export type SoftAuthenticator = ReturnType<typeof createSoftAuthenticator>
