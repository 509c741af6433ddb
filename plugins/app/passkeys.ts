import fp from 'fastify-plugin'
import { webauthnSettings } from '../../services/infrastructure/config.js'
import { createChallengeStore } from '../../services/passkeys/challenges.js'
import { createPasskeyService } from '../../services/passkeys/passkeys.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** Passkeys (services/passkeys): registration, sign-in, re-authentication and the person's list. */
    passkeys: ReturnType<typeof createPasskeyService>
  }
}

/** Wires the passkey service: challenges in Redis, credentials in MongoDB, sessions as every sign-in starts them. */
export default fp(async function passkeysPlugin (fastify) {
  const passkeys = createPasskeyService({
    models: fastify.mongo.models,
    challenges: createChallengeStore({ redis: fastify.redis }),
    sessions: fastify.sessions,
    rp: webauthnSettings(fastify.config),
    clock: fastify.clock,
    metrics: fastify.metrics,
    log: fastify.log
  })
  fastify.decorate('passkeys', passkeys)
}, { name: 'passkeys', dependencies: ['config', 'redis', 'mongoose', 'services'] })
