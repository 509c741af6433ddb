import Fastify from 'fastify'
import { ReplyError } from 'ioredis'
import mongoose from 'mongoose'
import t from 'tap'
import app, { serverOptions } from '../../app.js'
import { failedDependency } from '../../services/infrastructure/dependency-errors.js'
import { json, startStack, testConfig } from '../helper.js'

/**
 * The states of distributed Redis and MongoDB that the servers of the test stack cannot be put in
 * here (a MongoDB replica set cannot run on FerretDB; ioredis's cluster bookkeeping failures), as
 * the real error objects: each must answer 503 with Retry-After through the app's error handler.
 */
const { MongoServerError, MongoWriteConcernError } = mongoose.mongo

const mongoStates: Record<string, Error> = {
  NotWritablePrimary: new MongoServerError({ ok: 0, code: 10107, codeName: 'NotWritablePrimary', errmsg: 'not primary' }),
  NotPrimaryNoSecondaryOk: new MongoServerError({ ok: 0, code: 13435, codeName: 'NotPrimaryNoSecondaryOk', errmsg: 'not master and slaveOk=false' }),
  NotPrimaryOrSecondary: new MongoServerError({ ok: 0, code: 13436, codeName: 'NotPrimaryOrSecondary', errmsg: 'node is recovering' }),
  PrimarySteppedDown: new MongoServerError({ ok: 0, code: 189, codeName: 'PrimarySteppedDown', errmsg: 'primary stepped down' }),
  InterruptedDueToReplStateChange: new MongoServerError({ ok: 0, code: 11602, codeName: 'InterruptedDueToReplStateChange', errmsg: 'operation was interrupted' }),
  ShutdownInProgress: new MongoServerError({ ok: 0, code: 91, codeName: 'ShutdownInProgress', errmsg: 'shutdown in progress' }),
  'labelled RetryableWriteError': new MongoServerError({ ok: 0, code: 262, errmsg: 'exceeded time limit', errorLabels: ['RetryableWriteError'] }),
  'majority not reached in time': new MongoWriteConcernError({ ok: 1, writeConcernError: { code: 64, codeName: 'WriteConcernFailed', errmsg: 'waiting for replication timed out', errInfo: { wtimeout: true } } })
}

// ioredis's own messages (client side) when a cluster or the Sentinels cannot be used right now.
const redisStates: Record<string, Error> = {
  'cluster not ready': new Error("Cluster isn't ready and enableOfflineQueue options is false"),
  'slot map not refreshable': Object.assign(new Error('Failed to refresh slots cache.'), { name: 'ClusterAllFailedError' }),
  'no startup node': new Error('None of startup nodes is available'),
  'redirections used up': new Error('Too many Cluster redirections. Last error: Error: Connection is closed.'),
  'no sentinel': new Error('All sentinels are unreachable. Retrying from scratch after 100ms.')
}

// Redis servers' own error replies (the ReplyError ioredis rejects with), those the stack's
// servers are not put in by the fault tests (OOM, READONLY, MASTERDOWN, NOREPLICAS, BUSY: faults;
// CLUSTERDOWN: topologies/cluster): a slot moving or migrating that the client did not follow, a
// node still loading its data, refusing writes after a failed save, a transaction discarded.
const redisReplies: Record<string, Error> = {
  TRYAGAIN: new ReplyError('TRYAGAIN Multiple keys request during rehashing of slot'),
  MOVED: new ReplyError('MOVED 10284 127.0.0.1:7001'),
  ASK: new ReplyError('ASK 10284 127.0.0.1:7002'),
  LOADING: new ReplyError('LOADING Redis is loading the dataset in memory'),
  MISCONF: new ReplyError('MISCONF Redis is configured to save RDB snapshots, but it is currently not able to persist on disk. Commands that may modify the data set are disabled'),
  EXECABORT: new ReplyError('EXECABORT Transaction discarded because of previous errors.'),
  CLUSTERDOWN: new ReplyError('CLUSTERDOWN The cluster is down')
}

t.test('classified as the dependency they come from', async (t) => {
  for (const [name, error] of Object.entries(mongoStates)) t.equal(failedDependency(error), 'mongodb', name)
  for (const [name, error] of Object.entries(redisStates)) t.equal(failedDependency(error), 'redis', name)
  for (const [name, error] of Object.entries(redisReplies)) t.equal(failedDependency(error), 'redis', name)
  t.equal(failedDependency(new MongoServerError({ ok: 0, code: 11000, errmsg: 'E11000 duplicate key error' })), null, 'a duplicate key is an answer, not an outage')
  t.equal(failedDependency(new MongoServerError({ ok: 0, code: 2, codeName: 'BadValue', errmsg: 'bad value' })), null, 'nor is a bad query')
})

t.test('each answers 503 SERVICE_UNAVAILABLE with Retry-After through the app, never 500', async (t) => {
  const stack = await startStack(t)
  const config = testConfig(stack)
  const fastify = Fastify(serverOptions(config))
  await fastify.register(app, { config })
  const states = { ...mongoStates, ...redisStates, ...redisReplies }
  await fastify.register(async (scope) => {
    scope.get('/state/:name', { config: { rateLimit: false } }, async (request) => { throw states[(request.params as { name: string }).name] })
  })
  await fastify.ready()
  t.teardown(async () => { await fastify.close() })

  for (const name of Object.keys(states)) {
    const response = await fastify.inject({ method: 'GET', url: `/state/${encodeURIComponent(name)}` })
    t.equal(response.statusCode, 503, name)
    t.match(json(response), { statusCode: 503, code: 'SERVICE_UNAVAILABLE', error: 'Service Unavailable' })
    t.equal(response.headers['retry-after'], '1')
  }
})
