import { createRequire } from 'node:module'
import { ReplyError } from 'ioredis'
import mongoose from 'mongoose'
import t from 'tap'
import { failedDependency, loggableError, sanitizedMessage } from '../../../services/infrastructure/dependency-errors.js'
import { MongoDeadlineError } from '../../../services/infrastructure/mongo-budget.js'

const { MongoBulkWriteError, MongoNetworkError, MongoNetworkTimeoutError, MongoOperationTimeoutError, MongoServerError, MongoServerSelectionError } = mongoose.mongo
// The driver's pool errors are not exported from its entry point; they are what a frozen server produces.
const require = createRequire(import.meta.url)
const { PoolClearedOnNetworkError, PoolClearedError, WaitQueueTimeoutError } = require('mongodb/lib/cmap/errors') as Record<string, new (...args: any[]) => Error>

t.test('outages are told apart from bugs, and attributed to the right server', async (t) => {
  const errno = (message: string, code: string, stack?: string) => {
    const error = Object.assign(new Error(message), { code })
    if (stack !== undefined) error.stack = stack
    return error
  }
  t.equal(failedDependency(new Error("Stream isn't writeable and enableOfflineQueue options is false")), 'redis')
  t.equal(failedDependency(new Error('Command timed out')), 'redis')
  t.equal(failedDependency(Object.assign(new Error('connect ECONNREFUSED'), { name: 'MongoNetworkError' })), 'mongodb')
  t.equal(failedDependency(Object.assign(new Error('timed out'), { name: 'MongoServerSelectionError' })), 'mongodb')
  t.equal(failedDependency(errno('This socket has been ended by the other party', 'EPIPE')), 'mongodb', 'a raw socket error from the MongoDB driver')
  t.equal(failedDependency(errno('read ECONNRESET', 'ECONNRESET', 'Error: read ECONNRESET\n    at Socket (/app/node_modules/ioredis/built/Redis.js:1:1)')), 'redis', 'one raised inside ioredis')
  t.equal(failedDependency(new TypeError('x is undefined')), null, 'a bug stays a 500')
  t.equal(failedDependency('not an error'), null)
})

t.test('15.7: every MongoDB driver network, pool and timeout error is a MongoDB outage', async (t) => {
  const pool = { address: '127.0.0.1:27017' }
  const cases: Array<[string, Error]> = [
    ['PoolClearedOnNetworkError (the server monitor timed out: a frozen server)', new PoolClearedOnNetworkError!(pool)],
    ['PoolClearedError', new PoolClearedError!(pool)],
    ['WaitQueueTimeoutError (no connection to check out in time)', new WaitQueueTimeoutError!('Timed out while checking out a connection from connection pool', '127.0.0.1:27017')],
    ['MongoNetworkError', new MongoNetworkError('connection reset')],
    ['MongoNetworkTimeoutError', new MongoNetworkTimeoutError('socket timed out')],
    ['MongoServerSelectionError', new MongoServerSelectionError('Server selection timed out', { type: 'Unknown', servers: new Map() } as never)],
    ['MongoOperationTimeoutError', new MongoOperationTimeoutError('Timed out during socket read')],
    ['our per-request budget running out', new MongoDeadlineError('MongoDB did not answer within the 2000 ms budget')],
    ['an insertMany cut off by the budget (MongoBulkWriteError wrapping it)', new MongoBulkWriteError(new MongoDeadlineError('budget') as never, {} as never)],
    ['NotWritablePrimary (step-down)', new MongoServerError({ message: 'not primary', code: 10107 })],
    ['InterruptedDueToReplStateChange', new MongoServerError({ message: 'interrupted', code: 11602 })],
    ['a wrapped network error (cause)', new Error('query failed', { cause: new MongoNetworkError('reset') })]
  ]
  for (const [name, error] of cases) t.equal(failedDependency(error), 'mongodb', name)
  t.equal(failedDependency(new MongoServerError({ message: 'E11000 duplicate key error', code: 11000 })), null, 'a duplicate key is an answer, not an outage')
  t.equal(failedDependency(new MongoBulkWriteError({ message: 'E11000 duplicate key', code: 11000 }, {} as never)), null, 'also from insertMany')
})

t.test('15.8: Redis error replies that describe the server\'s state are a Redis outage', async (t) => {
  const replies = [
    "OOM command not allowed when used memory > 'maxmemory'.",
    "OOM command not allowed when used memory > 'maxmemory'. script: 0123abcd, on @user_script:3.",
    "READONLY You can't write against a read only replica.",
    'MISCONF Redis is configured to save RDB snapshots, but it\'s currently unable to persist to disk.',
    'EXECABORT Transaction discarded because of previous errors.',
    'CLUSTERDOWN The cluster is down',
    'TRYAGAIN Multiple keys request during rehashing of slot',
    'MOVED 10284 127.0.0.1:7001',
    'ASK 10284 127.0.0.1:7001',
    'LOADING Redis is loading the dataset in memory',
    'MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to \'no\'.',
    'NOREPLICAS Not enough good replicas to write.',
    'BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.'
  ]
  for (const message of replies) t.equal(failedDependency(new ReplyError(message)), 'redis', message.split(' ')[0] ?? message)
  for (const message of ['WRONGTYPE Operation against a key holding the wrong kind of value', 'NOPERM this user has no permissions', 'ERR unknown command']) {
    t.equal(failedDependency(new ReplyError(message)), null, `${message.split(' ')[0] ?? message} is a bug or a misconfiguration: 500`)
  }
})

t.test('15.8: a loggable error has no command arguments, documents or addresses', async (t) => {
  const reply = Object.assign(new ReplyError("OOM command not allowed when used memory > 'maxmemory'."), {
    command: { name: 'set', args: ['lk:ml:abc', '{"email":"ada@example.com","purpose":"signup"}', 'EX', '900'] }
  })
  const logged = JSON.stringify(loggableError(reply))
  t.match(logged, /OOM command not allowed/)
  t.match(logged, /"command":"set"/, 'the command name is kept')
  t.notMatch(logged, /ada@example\.com|lk:ml:abc|purpose/, 'its arguments are not')

  const duplicate = new MongoServerError({ message: 'E11000 duplicate key error collection: latchkey.users index: email_1 dup key: { email: "ada@example.com" }', code: 11000 })
  const loggedDuplicate = JSON.stringify(loggableError(duplicate))
  t.notMatch(loggedDuplicate, /ada@example\.com/, 'a duplicate key keeps its value to itself')
  t.match(loggedDuplicate, /"code":11000/)
  t.equal(sanitizedMessage('no user bob.smith+x@mail.example.org here'), 'no user [email] here')
})
