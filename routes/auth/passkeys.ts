import { Type, type FastifyPluginAsyncTypebox, type Static } from '@fastify/type-provider-typebox'
import type { AuthenticationResponseJSON, RegistrationResponseJSON } from '@simplewebauthn/server'
import { clientInfo } from '../client-info.js'
import { bearerOnly, perIpLimit, signInLimit } from '../route-options.js'
import { BearerSecurity, errors, Name, SignedIn } from '../schemas.js'

const tags = ['passkeys']
const bearerErrors = { 401: 'TOKEN_MISSING, TOKEN_INVALID, TOKEN_EXPIRED, TOKEN_REVOKED', 503: 'SERVICE_UNAVAILABLE' }

const Base64Url = (maxLength: number, description: string, example = 'mWq9c2r1Tb6s0Yd7lUe3xA') => Type.String({ minLength: 1, maxLength, pattern: '^[A-Za-z0-9_-]+$', description, examples: [example] })
/** A credential id: at most 1023 bytes (WebAuthn), base64url. */
const CredentialId = Base64Url(1400, 'Credential id (base64url)')
const Transports = Type.Array(Type.String({ maxLength: 32 }), { maxItems: 10, description: 'How the authenticator can be reached (internal, hybrid, usb, nfc, ble …)' })
/** Client extension outputs a browser may report (credProps and the like); their values are not used. */
const ExtensionResults = Type.Object({
  credProps: Type.Optional(Type.Object({ rk: Type.Optional(Type.Boolean()) }, { additionalProperties: false })),
  appid: Type.Optional(Type.Boolean()),
  hmacCreateSecret: Type.Optional(Type.Boolean()),
  largeBlob: Type.Optional(Type.Object({ supported: Type.Optional(Type.Boolean()) }, { additionalProperties: false })),
  prf: Type.Optional(Type.Object({ enabled: Type.Optional(Type.Boolean()) }, { additionalProperties: false }))
}, { additionalProperties: false, description: 'getClientExtensionResults()' })
const Attachment = Type.Optional(Type.String({ maxLength: 32, description: 'platform or cross-platform' }))

/** The JSON of a new credential (PublicKeyCredential.toJSON() after create()). */
export const RegistrationCredential = Type.Object({
  id: CredentialId,
  rawId: CredentialId,
  type: Type.String({ maxLength: 32, description: 'public-key' }),
  response: Type.Object({
    clientDataJSON: Base64Url(4096, 'Client data (base64url JSON)', 'eyJ0eXBlIjoid2ViYXV0aG4uZ2V0In0'),
    attestationObject: Base64Url(32768, 'Attestation object (base64url CBOR)'),
    authenticatorData: Type.Optional(Base64Url(32768, 'Authenticator data')),
    transports: Type.Optional(Transports),
    publicKeyAlgorithm: Type.Optional(Type.Integer()),
    publicKey: Type.Optional(Base64Url(4096, 'SubjectPublicKeyInfo (unused: the key is read from the attestation)'))
  }, { additionalProperties: false }),
  authenticatorAttachment: Attachment,
  clientExtensionResults: ExtensionResults
}, { additionalProperties: false, description: 'PublicKeyCredential.toJSON() of navigator.credentials.create()' })

/** The JSON of an assertion (PublicKeyCredential.toJSON() after get()). */
export const AuthenticationCredential = Type.Object({
  id: CredentialId,
  rawId: CredentialId,
  type: Type.String({ maxLength: 32, description: 'public-key' }),
  response: Type.Object({
    clientDataJSON: Base64Url(4096, 'Client data (base64url JSON)', 'eyJ0eXBlIjoid2ViYXV0aG4uZ2V0In0'),
    authenticatorData: Base64Url(32768, 'Authenticator data'),
    signature: Base64Url(1024, 'Signature'),
    userHandle: Type.Optional(Base64Url(128, 'The user handle of the account (an opaque random value)'))
  }, { additionalProperties: false }),
  authenticatorAttachment: Attachment,
  clientExtensionResults: ExtensionResults
}, { additionalProperties: false, description: 'PublicKeyCredential.toJSON() of navigator.credentials.get()' })

export const PasskeyView = Type.Object({
  id: Type.String({ description: 'Credential id (base64url)', examples: ['mWq9c2r1Tb6s0Yd7lUe3xA'] }),
  name: Type.String({ examples: ['iCloud Keychain'] }),
  createdAt: Type.String({ format: 'date-time', examples: ['2026-12-07T15:30:00.000Z'] }),
  lastUsedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()], { description: 'Last sign-in with it; null when never used' }),
  backedUp: Type.Boolean({ description: 'Synced (backed up) by its provider right now', examples: [true] }),
  deviceType: Type.Union([Type.Literal('singleDevice'), Type.Literal('multiDevice')], { description: 'multiDevice: a synced passkey (backup eligible)' }),
  transports: Type.Array(Type.String(), { examples: [['internal', 'hybrid']] })
}, { additionalProperties: false, description: 'A passkey' })

const CreationOptions = Type.Object({
  rp: Type.Object({ id: Type.String(), name: Type.String() }),
  user: Type.Object({ id: Type.String({ description: 'Opaque random user handle (base64url)' }), name: Type.String(), displayName: Type.String() }),
  challenge: Type.String(),
  pubKeyCredParams: Type.Array(Type.Object({ type: Type.String(), alg: Type.Integer() })),
  timeout: Type.Optional(Type.Integer()),
  excludeCredentials: Type.Array(Type.Object({ id: Type.String(), type: Type.String(), transports: Type.Optional(Type.Array(Type.String())) })),
  authenticatorSelection: Type.Object({
    residentKey: Type.String(), requireResidentKey: Type.Optional(Type.Boolean()), userVerification: Type.String(), authenticatorAttachment: Type.Optional(Type.String())
  }),
  attestation: Type.String(),
  extensions: Type.Optional(Type.Object({ credProps: Type.Optional(Type.Boolean()) })),
  hints: Type.Optional(Type.Array(Type.String()))
}, {
  description: 'Creation options: the JSON PublicKeyCredential.parseCreationOptionsFromJSON takes',
  examples: [{
    rp: { id: 'localhost', name: 'Latchkey' },
    user: { id: 'm3V0bnB4dE9tQkZ6cTNxS2pUeVhnZ0h3Y1A2bXlBbXE', name: 'ada@example.com', displayName: 'Ada Lovelace' },
    challenge: 'Yh2JQ8dS3m5vV1XcK0pLw7rT9bN4aE6f',
    pubKeyCredParams: [{ type: 'public-key', alg: -8 }, { type: 'public-key', alg: -7 }, { type: 'public-key', alg: -257 }],
    timeout: 300000,
    excludeCredentials: [],
    authenticatorSelection: { residentKey: 'required', requireResidentKey: true, userVerification: 'required' },
    attestation: 'none',
    extensions: { credProps: true }
  }]
})

const RequestOptions = Type.Object({
  challenge: Type.String(),
  rpId: Type.String(),
  timeout: Type.Optional(Type.Integer()),
  userVerification: Type.String(),
  allowCredentials: Type.Optional(Type.Array(Type.Object({ id: Type.String(), type: Type.String() })))
}, {
  description: 'Request options: the JSON PublicKeyCredential.parseRequestOptionsFromJSON takes (no allowCredentials)',
  examples: [{ challenge: 'pQ4nR7sT1uV3wX5yZ8aB0cD2eF6gH9iJ', rpId: 'localhost', timeout: 300000, userVerification: 'required' }]
})

/**
 * Passkeys (SPEC "Passkeys"). Registration and deletion need a recent sign-in (auth_time within
 * RECENT_AUTH_WINDOW, plugins/app/recent-auth.ts); sign-in is public and answers 401 PASSKEY_INVALID
 * for every failure. Checks live in services/passkeys.
 */
const passkeyRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.post('/passkeys/register/options', {
    ...bearerOnly(fastify),
    preHandler: [fastify.requireRecentAuth],
    schema: {
      operationId: 'createPasskeyRegistrationOptions',
      tags,
      security: BearerSecurity,
      summary: 'Options to add a passkey',
      description: 'Creation options for navigator.credentials.create(): a discoverable credential with user verification, ' +
        'attestation none, your passkeys excluded. The challenge is single use and lives 5 minutes. Needs a recent sign-in.',
      response: { 200: CreationOptions, ...errors({ ...bearerErrors, 403: 'REAUTH_REQUIRED' }) }
    }
  }, async (request) => await fastify.passkeys.registrationOptions(request.user.sub) as Static<typeof CreationOptions>)

  fastify.post('/passkeys/register', {
    ...bearerOnly(fastify),
    preHandler: [fastify.requireRecentAuth],
    schema: {
      operationId: 'registerPasskey',
      tags,
      security: BearerSecurity,
      summary: 'Add a passkey',
      description: 'Verifies the new credential against your live registration challenge (origin, RP id, user verification, ' +
        'attestation none) and stores it. `name` defaults to the authenticator\'s model when it is known, else "Passkey". ' +
        'Needs a recent sign-in.',
      body: Type.Object({ credential: RegistrationCredential, name: Type.Optional(Name) }, { additionalProperties: false }),
      response: {
        201: PasskeyView,
        ...errors({ 400: 'PASSKEY_INVALID, VALIDATION_FAILED', ...bearerErrors, 403: 'REAUTH_REQUIRED' })
      }
    }
  }, async (request, reply) => {
    const passkey = await fastify.passkeys.register(request.user.sub, request.body.credential as RegistrationResponseJSON, request.body.name?.trim())
    await fastify.auditLog.record({
      type: 'passkey.added', userId: request.user.sub, sessionId: request.user.sid, ...clientInfo(request), data: { passkeyId: passkey.id, name: passkey.name, deviceType: passkey.deviceType }
    })
    return await reply.status(201).send(passkey)
  })

  fastify.post('/passkeys/login/options', {
    ...perIpLimit(fastify.config.RATE_LIMIT_GLOBAL),
    schema: {
      operationId: 'createPasskeyLoginOptions',
      tags,
      security: [],
      summary: 'Options to sign in with a passkey',
      description: 'Request options for navigator.credentials.get() (or conditional mediation): a single-use challenge that ' +
        'lives 5 minutes, user verification required, no allowCredentials (nothing about any account is revealed). Also the ' +
        'options for POST /auth/reauthenticate {credential}.',
      body: Type.Optional(Type.Object({}, { additionalProperties: false })),
      response: { 200: RequestOptions, ...errors({ 400: 'VALIDATION_FAILED', 429: 'RATE_LIMITED', 503: 'SERVICE_UNAVAILABLE' }) }
    }
  }, async () => await fastify.passkeys.loginOptions() as Static<typeof RequestOptions>)

  fastify.post('/passkeys/login', {
    ...signInLimit(fastify),
    schema: {
      operationId: 'signInWithPasskey',
      tags,
      security: [],
      summary: 'Sign in with a passkey',
      description: 'Verifies the assertion against a live challenge from POST /auth/passkeys/login/options and signs in the ' +
        'passkey\'s owner. Every failure is the same 401 PASSKEY_INVALID (unknown or deleted credential, bad signature, ' +
        'challenge used, expired or never issued, wrong type, origin or RP id hash, no user verification, a signature counter ' +
        'that did not increase, a changed backup-eligible flag); `unknownCredential: true` is added only when the credential ' +
        'is not registered (so a page can call PublicKeyCredential.signalUnknownCredential).',
      body: Type.Object({ credential: AuthenticationCredential }, { additionalProperties: false }),
      response: {
        200: SignedIn,
        ...errors({ 400: 'VALIDATION_FAILED', 401: 'PASSKEY_INVALID', 429: 'RATE_LIMITED', 503: 'SERVICE_UNAVAILABLE' },
          { unknownCredential: Type.Optional(Type.Boolean({ description: 'Present (true) when the credential is not registered here' })) })
      }
    }
  }, async (request) => {
    const { sessionId: _sessionId, ...signedIn } = await fastify.passkeys.signIn(request.body.credential as AuthenticationResponseJSON, clientInfo(request))
    return signedIn
  })

  fastify.get('/passkeys', {
    ...bearerOnly(fastify),
    schema: {
      operationId: 'listPasskeys',
      tags,
      security: BearerSecurity,
      summary: 'Your passkeys',
      description: 'Every passkey of the signed-in person, oldest first.',
      response: { 200: Type.Array(PasskeyView, { description: 'Your passkeys, oldest first' }), ...errors(bearerErrors) }
    }
  }, async (request) => await fastify.passkeys.listPasskeys(request.user.sub))

  const Params = Type.Object({ id: CredentialId }, { additionalProperties: false })

  fastify.patch('/passkeys/:id', {
    ...bearerOnly(fastify),
    schema: {
      operationId: 'renamePasskey',
      tags,
      security: BearerSecurity,
      summary: 'Rename a passkey',
      description: 'Renames one of your passkeys; another person\'s id (or an unknown one) is a 404.',
      params: Params,
      body: Type.Object({ name: Name }, { additionalProperties: false }),
      response: { 200: PasskeyView, ...errors({ 400: 'VALIDATION_FAILED', ...bearerErrors, 404: 'NOT_FOUND' }) }
    }
  }, async (request) => await fastify.passkeys.renamePasskey(request.user.sub, request.params.id, request.body.name.trim()))

  fastify.delete('/passkeys/:id', {
    ...bearerOnly(fastify),
    preHandler: [fastify.requireRecentAuth],
    schema: {
      operationId: 'deletePasskey',
      tags,
      security: BearerSecurity,
      summary: 'Delete a passkey',
      description: 'Deletes one of your passkeys: it signs nobody in from then on (401 PASSKEY_INVALID). Another person\'s id is a ' +
        '404. Needs a recent sign-in.',
      params: Params,
      response: { 204: Type.Null({ description: 'Deleted' }), ...errors({ ...bearerErrors, 403: 'REAUTH_REQUIRED', 404: 'NOT_FOUND' }) }
    }
  }, async (request, reply) => {
    const passkey = await fastify.passkeys.deletePasskey(request.user.sub, request.params.id)
    await fastify.auditLog.record({
      type: 'passkey.removed', userId: request.user.sub, sessionId: request.user.sid, ...clientInfo(request), data: { passkeyId: passkey.id, name: passkey.name }
    })
    return await reply.status(204).send(null)
  })
}

export default passkeyRoutes
