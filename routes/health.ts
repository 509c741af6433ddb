import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { createReadinessProbe, dependencyNames, mongoProblem, redisProblem } from '../services/infrastructure/readiness.js'
import { unlimited } from './route-options.js'
import { errors } from './schemas.js'

const tags = ['operations']

const healthRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  const { REDIS_TIMEOUT, MONGODB_TIMEOUT, JWT_ALGORITHM } = fastify.config
  const readiness = createReadinessProbe({
    probe: async () => {
      const [redis, mongodb] = await Promise.all([
        redisProblem(fastify.redis, REDIS_TIMEOUT),
        mongoProblem(fastify.mongo.connection.db, MONGODB_TIMEOUT)
      ])
      return { redis, mongodb }
    },
    local: (): Record<string, string | null> => JWT_ALGORITHM === 'HS256' ? {} : { signingKey: fastify.accessTokens.signingProblem() },
    clock: fastify.clock,
    // The details (hosts, ports, driver messages) go to the log only.
    onChange: (problems) => {
      if (Object.keys(problems).length === 0) fastify.log.info('ready: every dependency answers')
      else fastify.log.warn({ problems }, 'not ready')
    }
  })

  fastify.get('/health', {
    ...unlimited,
    schema: {
      tags,
      operationId: 'checkLiveness',
      security: [],
      summary: 'Liveness: the process answers',
      description: 'Checks no dependency: 200 as long as the process serves requests. Not rate limited.',
      response: { 200: Type.Object({ status: Type.Literal('ok') }, { description: 'The process is up' }), ...errors({ 503: 'SERVICE_UNAVAILABLE while the server shuts down' }) }
    }
  }, async () => ({ status: 'ok' as const }))

  fastify.get('/ready', {
    ...unlimited,
    schema: {
      tags,
      operationId: 'checkReadiness',
      security: [],
      summary: 'Readiness: Redis and MongoDB can serve requests',
      description: 'Checks the topology, each part bounded by its timeout: Redis must be a writable master (not a replica, ' +
        'not a Sentinel) with maxmemory-policy noeviction; on a Redis Cluster the cluster state must be ok and every master owning slots must answer; ' +
        'MongoDB must have a writable primary; with EdDSA or ES256 the key that signs now must be usable (`signingKey`). ' +
        '503 names the dependency only; what is wrong goes to the server log. Redis and MongoDB are probed at most once a second, ' +
        'however often this is called. Not rate limited.',
      response: {
        200: Type.Object({ status: Type.Literal('ok'), checks: Type.Record(Type.String(), Type.String(), { examples: [{ redis: 'ok', mongodb: 'ok' }] }) }, {
          description: 'Redis and MongoDB can both serve requests'
        }),
        ...errors({ 503: 'SERVICE_UNAVAILABLE, with `checks` saying which dependency failed and `message` naming it (the details are in the server log)' }, {
          checks: Type.Record(Type.String(), Type.String(), { examples: [{ redis: 'failed', mongodb: 'ok' }] })
        })
      }
    }
  }, async (_request, reply) => {
    const { checks, problems } = await readiness.check()
    const failed = Object.keys(problems)
    if (failed.length === 0) return { status: 'ok' as const, checks }
    return await reply.status(503).header('retry-after', '1').send({
      statusCode: 503,
      code: 'SERVICE_UNAVAILABLE',
      error: 'Service Unavailable',
      message: `Not ready: ${failed.map((name) => dependencyNames[name] ?? name).join(', ')}`,
      checks
    })
  })

  fastify.get('/metrics', {
    // Scrapers must get through when Redis is down (that is when the numbers matter), and a
    // Redis-backed limit would count every scrape. Keep it off the public internet instead.
    ...unlimited,
    schema: {
      tags,
      operationId: 'getMetrics',
      security: [],
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
