/**
 * Recognises errors that mean "a backing service could not answer" (as opposed to a bug or a
 * rejected request), so the error handler answers 503 instead of 500 and metrics can count them.
 */
export type Dependency = 'redis' | 'mongodb'

// ioredis raises plain Errors; these are the messages it uses when it cannot reach the server
// (offline queue disabled), when a command outlives `commandTimeout`, or when the socket dies.
const redisMessages = [
  "Stream isn't writeable",
  'Command timed out',
  'Connection is closed',
  'Reached the max retries per request limit'
]

const mongoErrorName = /^Mongo(ose)?(Network|NetworkTimeout|ServerSelection|NotConnected|TopologyClosed|OperationTimeout|PoolCleared|WaitQueueTimeout)Error$/
const networkCodes = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH'])

export function failedDependency (error: unknown): Dependency | null {
  if (!(error instanceof Error)) return null
  if (mongoErrorName.test(error.name) || (error.name === 'MongooseError' && /buffering timed out|initial connection/.test(error.message))) {
    return 'mongodb'
  }
  if (redisMessages.some((message) => error.message.startsWith(message)) || error.name === 'MaxRetriesPerRequestError') {
    return 'redis'
  }
  // A raw socket error (e.g. EPIPE when MongoDB dies mid-write) carries no library name; ioredis
  // wraps its own socket failures in the messages above, so one that did not come through ioredis
  // is MongoDB's.
  const code = (error as NodeJS.ErrnoException).code
  if (code !== undefined && networkCodes.has(code)) return /[\\/]ioredis[\\/]/.test(error.stack ?? '') ? 'redis' : 'mongodb'
  return null
}
