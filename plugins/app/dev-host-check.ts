import fp from 'fastify-plugin'
import { createDevHostCheck } from '../../services/infrastructure/dev-hosts.js'

/**
 * In development, refuses (403 HOST_NOT_ALLOWED) a request whose Host is neither a loopback name
 * nor APP_URL's host: a page on a rebinding domain cannot read /dev/inbox or drive the API
 * (services/infrastructure/dev-hosts.ts). Other modes serve whatever Host the proxy forwards.
 */
export default fp(async function devHostCheckPlugin (fastify) {
  if (fastify.config.NODE_ENV !== 'development') return
  const allowed = createDevHostCheck(fastify.config.APP_URL)
  fastify.addHook('onRequest', async (request, reply) => {
    if (allowed(request.headers.host)) return
    request.log.warn({ host: request.headers.host?.slice(0, 100) }, 'development server: request for another host refused (DNS rebinding?)')
    return await reply.status(403).send({
      statusCode: 403,
      code: 'HOST_NOT_ALLOWED',
      error: 'Forbidden',
      message: 'This development server answers only to localhost and APP_URL\'s host'
    })
  })
}, { name: 'dev-host-check', dependencies: ['config'] })
