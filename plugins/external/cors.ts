import cors from '@fastify/cors'
import fp from 'fastify-plugin'
import { splitList } from '../../services/infrastructure/config.js'

/**
 * CORS only for the origins in CORS_ORIGINS (none by default). Bearer tokens travel in the
 * Authorization header, so credentials (cookies) are never allowed cross-origin.
 */
export default fp(async function corsPlugin (fastify) {
  const origins = splitList(fastify.config.CORS_ORIGINS).map((origin) => new URL(origin).origin)
  // No origin allowed: the plugin is not registered at all. With `origin: false` it would still run
  // a hook on every request (building two route-option objects and a copy of its options) only to
  // do nothing; a preflight then gets a plain 404 instead of an empty answer, which a browser
  // refuses just the same.
  if (origins.length === 0) return
  await fastify.register(cors, {
    origin: origins,
    credentials: false,
    methods: ['GET', 'POST', 'PATCH', 'DELETE'],
    // X-Device-Secret: a browser client on another origin waits for a cross-device approval with it.
    allowedHeaders: ['Authorization', 'Content-Type', 'X-Device-Secret'],
    exposedHeaders: ['Retry-After', 'RateLimit-Limit', 'RateLimit-Remaining', 'RateLimit-Reset'],
    maxAge: 600
  })
}, { name: 'cors', dependencies: ['config'] })
