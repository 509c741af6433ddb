import fp from 'fastify-plugin'
import { withMongoBudget } from '../../services/infrastructure/mongo-budget.js'

/**
 * Every request gets MONGODB_TIMEOUT of MongoDB time in total, whatever number of calls it makes
 * (services/infrastructure/mongo-budget.ts): with MongoDB frozen, a flow that needs three calls
 * answers 503 after one budget, not three. Callback style, so the rest of the request (hooks,
 * body parsing, handler) runs inside the budget's async context; it costs no timer until the
 * request's first MongoDB call.
 */
export default fp(async function mongoBudget (fastify) {
  const ms = fastify.config.MONGODB_TIMEOUT
  fastify.addHook('onRequest', (_request, _reply, done) => { withMongoBudget(ms, done) })
}, { name: 'mongo-budget', dependencies: ['config'] })
