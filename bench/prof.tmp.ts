import { latchkeyEnv, load, signUp, startServer, startStack } from './lib.js'
const stack = await startStack()
const server = await startServer('latchkey', latchkeyEnv(stack))
const { accessToken } = await signUp(server, stack, 'prof@example.com')
const headers = { authorization: `Bearer ${accessToken}` }
await load({ url: `${server.url}/auth/me`, connections: 50, duration: 3, headers })
const r = await load({ url: `${server.url}/auth/me`, connections: 50, duration: 10, headers })
console.log(r.rps)
await server.stop()
await stack.close()
