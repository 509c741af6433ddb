/**
 * Rotate the access-token signing key now (JWT_ALGORITHM EdDSA or ES256), with the same
 * environment as the service:
 *
 *   npm run rotate-signing-key               # planned: the new key is published now and signs
 *                                            # from one JWT_KEY_SYNC_INTERVAL (+30 s) on; older
 *                                            # keys stay accepted until their tokens expire
 *   npm run rotate-signing-key -- --revoke   # suspected leak: the new key signs at once and every
 *                                            # older key is removed; tokens signed with them are
 *                                            # refused everywhere within JWT_KEY_SYNC_INTERVAL
 *
 * In production, after `npm run build`: `node dist/scripts/rotate-signing-key.js [--revoke]`.
 * MongoDB is the truth every instance reads, so this works from anywhere that reaches it.
 */
import { parseArgs } from 'node:util'
import { connectMongo } from '../plugins/external/mongoose.js'
import { loadConfigOrExit } from '../services/infrastructure/config.js'
import { createModels } from '../services/models/index.js'
import { keySchedule } from '../services/tokens/key-schedule.js'
import { createSigningKeyStore } from '../services/tokens/signing-keys.js'

const { values } = parseArgs({ options: { revoke: { type: 'boolean', default: false } } })

const config = loadConfigOrExit(process.env)
if (config.JWT_ALGORITHM === 'HS256') {
  console.error('JWT_ALGORITHM is HS256: there is no key pair to rotate (changing JWT_SECRET signs everyone out)')
  process.exit(1)
}

const connection = await connectMongo(config)
try {
  const models = createModels(connection)
  await models.SigningKey.createIndexes() // the unique generation index decides concurrent rotations
  const schedule = keySchedule(config)
  const store = createSigningKeyStore({
    models,
    algorithm: config.JWT_ALGORITHM,
    sealingSecret: config.KEY_ENCRYPTION_SECRET ?? config.JWT_SECRET,
    rotationSeconds: config.JWT_KEY_ROTATION,
    schedule,
    clock: { now: Date.now }
  })
  const sameSecret = await store.opensCurrentKey()
  const rotated = await store.rotate({ revoke: values.revoke })
  if (sameSecret === false) {
    // The new key is sealed with this secret; instances running with the old one cannot sign with it.
    console.error('KEY_ENCRYPTION_SECRET (or JWT_SECRET) here is not the one that sealed the current key: instances still ' +
      `running with the old secret verify tokens but answer 503 to sign-ins and /ready ${values.revoke ? 'from their next sync' : `once the new key signs (${new Date(rotated.activatesAt).toISOString()})`}; restart them with this secret`)
  }
  console.log(JSON.stringify({ ...rotated, revokedOlderKeys: values.revoke, everyInstanceWithin: `${config.JWT_KEY_SYNC_INTERVAL} s` }))
} finally {
  await connection.close()
}
