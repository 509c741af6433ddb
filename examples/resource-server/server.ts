/**
 * Runs the example resource server:
 *   LATCHKEY_URL=http://localhost:3000 LATCHKEY_ALGORITHM=EdDSA [INTROSPECTION_SECRET=...] PORT=4000 \
 *     npx tsx examples/resource-server/server.ts
 *   curl localhost:4000/whoami -H "authorization: Bearer $ACCESS"
 */
import { buildResourceServer } from './app.js'

const algorithm = process.env.LATCHKEY_ALGORITHM === 'ES256' ? 'ES256' : 'EdDSA'
const app = buildResourceServer({
  latchkeyUrl: process.env.LATCHKEY_URL ?? 'http://localhost:3000',
  algorithm,
  ...(process.env.INTROSPECTION_SECRET === undefined ? {} : { introspectionSecret: process.env.INTROSPECTION_SECRET })
})
await app.listen({ port: Number(process.env.PORT ?? 4000), host: '127.0.0.1' })
console.log(`resource server on http://127.0.0.1:${Number(process.env.PORT ?? 4000)}, trusting ${algorithm} tokens from ${process.env.LATCHKEY_URL ?? 'http://localhost:3000'}`)
