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

// Redis Cluster and Sentinel, client side (issue 11): ioredis's own messages when it cannot use the
// cluster right now (no usable node, slot map not refreshable, retries or redirections used up)
// or cannot reach any Sentinel. The servers' error replies (CLUSTERDOWN, READONLY ...) are not here.
const redisTopologyMessages = [
  "Cluster isn't ready",
  'Failed to refresh slots cache',
  'None of startup nodes is available',
  'Too many Cluster redirections',
  'Cluster is ended',
  'Cluster is disconnected',
  'Node is disconnected',
  'All sentinels are unreachable'
]

// MongoDB replica-set state (issue 11): the node stepped down, is not (or no longer) the primary,
// an election interrupted the operation, or a majority did not acknowledge a write in time (writes
// use w: majority). By server error code, or by the label the driver puts on errors it would
// retry on a new primary.
const mongoReplicaSetCodes = new Set([
  10107, // NotWritablePrimary
  13435, // NotPrimaryNoSecondaryOk
  13436, // NotPrimaryOrSecondary
  10058, // LegacyNotPrimary
  189, // PrimarySteppedDown
  11602, // InterruptedDueToReplStateChange
  11600, // InterruptedAtShutdown
  91, // ShutdownInProgress
  64, // WriteConcernFailed (majority not reached within wtimeout)
  100 // UnsatisfiableWriteConcern (not enough members up for a majority)
])
const mongoReplicaSetState = (error: Error): boolean => {
  const { code, hasErrorLabel } = error as Error & { code?: unknown, hasErrorLabel?: (label: string) => boolean }
  return /^Mongo/.test(error.name) &&
    ((typeof code === 'number' && mongoReplicaSetCodes.has(code)) || hasErrorLabel?.call(error, 'RetryableWriteError') === true)
}

const mongoErrorName = /^Mongo(ose)?(Network|NetworkTimeout|ServerSelection|NotConnected|TopologyClosed|OperationTimeout|PoolCleared|WaitQueueTimeout)Error$/
const networkCodes = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH'])

export function failedDependency (error: unknown): Dependency | null {
  if (!(error instanceof Error)) return null
  if (mongoErrorName.test(error.name) || error.name === 'MongooseError' && /buffering timed out|initial connection/.test(error.message) ||
    mongoReplicaSetState(error)) {
    return 'mongodb'
  }
  if (redisMessages.some((message) => error.message.startsWith(message)) || error.name === 'MaxRetriesPerRequestError' ||
    redisTopologyMessages.some((message) => error.message.startsWith(message))) {
    return 'redis'
  }
  // A raw socket error (e.g. EPIPE when MongoDB dies mid-write) carries no library name; ioredis
  // wraps its own socket failures in the messages above, so one that did not come through ioredis
  // is MongoDB's.
  const code = (error as NodeJS.ErrnoException).code
  if (code !== undefined && networkCodes.has(code)) return /[\\/]ioredis[\\/]/.test(error.stack ?? '') ? 'redis' : 'mongodb'
  return null
}
