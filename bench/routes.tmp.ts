import Fastify from 'fastify'
import app, { serverOptions } from '../app.js'
import { loadConfig } from '../services/config.js'
import { latchkeyEnv, startStack } from './lib.js'
const stack = await startStack()
const config = loadConfig(latchkeyEnv(stack))
const server = Fastify(serverOptions(config))
await server.register(app, { config })
await server.ready()
const out = server.printRoutes({ commonPrefix: false, includeHooks: true })
const i = out.indexOf('me (GET')
console.log(out.slice(i, i + 900))
await server.close(); await stack.close()
