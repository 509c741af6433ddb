import t from 'tap'
import { failedDependency } from '../../../services/infrastructure/dependency-errors.js'

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
