import helmet from '@fastify/helmet'
import fp from 'fastify-plugin'

/**
 * Security headers for an API that also serves a few pages: a strict CSP (no inline scripts or
 * styles, no framing, forms post only to us), no-referrer, nosniff, HSTS. Routes that need a looser
 * policy (the /docs UI) set their own.
 */
export default fp(async function helmetPlugin (fastify) {
  await fastify.register(helmet, {
    contentSecurityPolicy: {
      useDefaults: false,
      directives: {
        defaultSrc: ["'self'"],
        scriptSrc: ["'self'"],
        styleSrc: ["'self'"],
        imgSrc: ["'self'", 'data:'],
        connectSrc: ["'self'"],
        fontSrc: ["'self'"],
        objectSrc: ["'none'"],
        baseUri: ["'none'"],
        formAction: ["'self'"],
        frameAncestors: ["'none'"]
      }
    },
    referrerPolicy: { policy: 'no-referrer' },
    crossOriginEmbedderPolicy: false
  })
}, { name: 'helmet' })
