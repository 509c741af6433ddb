// TEMPORARY: the type of `fastify.otp` until the OTP service lands from main (plugins/app/services.ts
// declares it there). Delete this file when merging main.
import type { SignedIn } from '../../services/magic-link.js'
import type { ClientInfo } from '../../services/sessions.js'

declare module 'fastify' {
  interface FastifyInstance {
    otp: {
      requestCode: (email: string) => Promise<void>
      verifyCode: (email: string, code: string, fields: { name?: string }, client: ClientInfo) => Promise<SignedIn & { created: boolean }>
    }
  }
}
