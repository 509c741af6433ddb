import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { unlimited } from './route-options.js'
import { errors } from './schemas.js'

const tags = ['operations']

async function bounded<T> (work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  try {
    return await Promise.race([work, new Promise<never>((_resolve, reject) => { timer = setTimeout(() => reject(new Error('timeout')), ms) })])
  } finally {
    clearTimeout(timer)
  }
}

const healthRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.get('/health', {
    ...unlimited,
    schema: {
      tags,
      summary: 'Liveness: the process answers',
      description: 'Checks no dependency: 200 as long as the process serves requests. Not rate limited.',
      response: { 200: Type.Object({ status: Type.Literal('ok') }, { description: 'The process is up' }), ...errors({ 503: 'SERVICE_UNAVAILABLE while the server shuts down' }) }
    }
  }, async () => ({ status: 'ok' as const }))

  fastify.get('/ready', {
    ...unlimited,
    schema: {
      tags,
      summary: 'Readiness: Redis and MongoDB answer',
      description: 'Pings Redis and MongoDB, each bounded by its timeout. Not rate limited.',
      response: {
        200: Type.Object({ status: Type.Literal('ok'), checks: Type.Record(Type.String(), Type.String(), { examples: [{ redis: 'ok', mongodb: 'ok' }] }) }, { description: 'Redis and MongoDB both answer' }),
        ...errors({ 503: 'SERVICE_UNAVAILABLE, with `checks` naming what failed' }, {
          checks: Type.Record(Type.String(), Type.String(), { examples: [{ redis: 'failed', mongodb: 'ok' }] })
        })
      }
    }
  }, async (_request, reply) => {
    const { REDIS_TIMEOUT, MONGODB_TIMEOUT } = fastify.config
    const [redis, mongodb] = await Promise.allSettled([
      bounded(fastify.redis.ping(), REDIS_TIMEOUT),
      bounded(fastify.mongo.connection.db!.command({ ping: 1 }), MONGODB_TIMEOUT)
    ])
    const checks = { redis: redis.status === 'fulfilled' ? 'ok' : 'failed', mongodb: mongodb.status === 'fulfilled' ? 'ok' : 'failed' }
    const failed = Object.entries(checks).filter(([, state]) => state === 'failed').map(([name]) => name)
    if (failed.length === 0) return { status: 'ok' as const, checks }
    return await reply.status(503).header('retry-after', '1').send({
      statusCode: 503, code: 'SERVICE_UNAVAILABLE', error: 'Service Unavailable', message: `${failed.join(' and ')} unavailable`, checks
    })
  })

  fastify.get('/metrics', {
    // Scrapers must get through when Redis is down (that is when the numbers matter), and a
    // Redis-backed limit would count every scrape. Keep it off the public internet instead.
    ...unlimited,
    schema: {
      tags,
      summary: 'Prometheus metrics',
      description: 'Text exposition format 0.0.4: requests by route and status, latency histogram, user-cache hits and misses, ' +
        'emails sent and failed, OTP failures and lockouts, revocations, Redis and MongoDB errors, Redis data loss. ' +
        'Counters are per instance. Not rate limited; expose it only to the scraper.',
      response: {
        200: { description: 'Prometheus text format', content: { 'text/plain': { schema: Type.String() } } },
        ...errors({ 503: 'SERVICE_UNAVAILABLE while the server shuts down' })
      }
    }
  }, async (_request, reply) => {
    return await reply.type('text/plain; version=0.0.4; charset=utf-8').send(await fastify.metrics.render())
  })
}

export default healthRoutes
