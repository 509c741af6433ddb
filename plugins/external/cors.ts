import cors from '@fastify/cors'
import fp from 'fastify-plugin'
import { splitList } from '../../services/infrastructure/config.js'

/**
 * CORS only for the origins in CORS_ORIGINS (none by default). Bearer tokens travel in the
 * Authorization header, so credentials (cookies) are never allowed cross-origin.
 */
export default fp(async function corsPlugin (fastify) {
  const origins = splitList(fastify.config.CORS_ORIGINS).map((origin) => new URL(origin).origin)
  await fastify.register(cors, {
    origin: origins.length === 0 ? false : origins,
    credentials: false,
    methods: ['GET', 'POST', 'PATCH', 'DELETE'],
    allowedHeaders: ['Authorization', 'Content-Type'],
    exposedHeaders: ['Retry-After', 'RateLimit-Limit', 'RateLimit-Remaining', 'RateLimit-Reset'],
    maxAge: 600
  })
}, { name: 'cors', dependencies: ['config'] })
