import { createRequire } from 'node:module'
import closeWithGrace from 'close-with-grace'
import Fastify, { type FastifyServerOptions } from 'fastify'
import app, { serverOptions } from './app.js'
import { loadConfigOrExit } from './services/infrastructure/config.js'
import { loggableError } from './services/infrastructure/dependency-errors.js'

/** Process concerns only: configuration, logger, graceful shutdown, listen. */
const config = loadConfigOrExit(process.env)

/** In development the logs are one readable line each (pino-pretty, a dev dependency); elsewhere JSON. */
function readableInDevelopment (options: FastifyServerOptions): FastifyServerOptions {
  if (config.NODE_ENV !== 'development') return options
  try {
    createRequire(import.meta.url).resolve('pino-pretty')
  } catch {
    return options // installed without dev dependencies: JSON it is
  }
  const pretty = { target: 'pino-pretty', options: { translateTime: 'HH:MM:ss.l', ignore: 'pid,hostname,reqId,req,res,responseTime', singleLine: true } }
  return { ...options, logger: { ...(options.logger as object), transport: pretty } }
}

const server = Fastify(readableInDevelopment(serverOptions(config)))

// On SIGINT/SIGTERM stop accepting connections, let in-flight requests finish (up to 10 s),
// then close Redis, MongoDB and SMTP (each plugin's onClose).
closeWithGrace({ delay: 10_000 }, async ({ err, signal }) => {
  if (err !== undefined) server.log.error({ error: loggableError(err) }, 'shutting down after an error')
  else server.log.info({ signal }, 'shutting down')
  await server.close()
})

try {
  await server.register(app, { config })
  await server.listen({ port: config.PORT, host: config.HOST })
} catch (error) {
  console.error(`Latchkey could not start: ${(error as Error).message}`)
  await server.close().catch(() => {})
  process.exit(1)
}
