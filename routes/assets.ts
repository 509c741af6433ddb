import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { STYLESHEET } from '../views/layout.js'
import { unlimited } from './route-options.js'
import { errors } from './schemas.js'

/**
 * The pages' one stylesheet. The CSP forbids inline styles, so it is a file of our own origin; a
 * constant string, cached by browsers for a day. Not rate limited: counting it in Redis would
 * cost more than serving it.
 */
const assetRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.get('/assets/latchkey.css', {
    ...unlimited,
    schema: {
      tags: ['pages'],
      operationId: 'getStylesheet',
      security: [],
      summary: 'Stylesheet of the built-in pages',
      description: 'Static CSS (light and dark schemes). Cache-Control: public, max-age=86400.',
      response: {
        200: { description: 'The stylesheet', content: { 'text/css': { schema: Type.String() } } },
        ...errors({ 503: 'SERVICE_UNAVAILABLE while the server shuts down' })
      }
    }
  }, async (_request, reply) => {
    return await reply.type('text/css; charset=utf-8').header('cache-control', 'public, max-age=86400').send(STYLESHEET)
  })
}

export default assetRoutes
