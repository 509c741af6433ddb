/**
 * Recognises errors that mean "a backing service could not answer" (as opposed to a bug or a
 * rejected request), so the error handler answers 503 instead of 500 and metrics can count them,
 * and turns any error into a form that is safe to log.
 */
export type Dependency = 'redis' | 'mongodb'

// --- Redis, client side -------------------------------------------------------------------------
// ioredis raises plain Errors; these are the messages it uses when it cannot reach the server
// (offline queue disabled), when a command outlives `commandTimeout`, or when the socket dies.
const redisClientMessages = [
  "Stream isn't writeable",
  'Command timed out',
  'Connection is closed',
  'Reached the max retries per request limit'
]

// --- Redis Cluster and Sentinel, client side ----------------------------------------------------
// ioredis's own messages when it cannot use the cluster right now (no usable node, slot map not
// refreshable, retries or redirections used up) or cannot reach any Sentinel. The servers' error
// replies (CLUSTERDOWN, READONLY ...) are in the next block.
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

// --- Redis, server error replies ----------------------------------------------------------------
// A ReplyError whose first word is one of these describes the server's state, not our request:
// out of memory (OOM), a replica or a demoted master (READONLY), a failed RDB save refusing writes
// (MISCONF), a transaction discarded for one of those (EXECABORT), a cluster that is down, moving
// slots or redirecting (CLUSTERDOWN, TRYAGAIN, MOVED, ASK), a server still loading its data
// (LOADING), a replica without a master (MASTERDOWN), min-replicas not met (NOREPLICAS), a
// server stuck in a script (BUSY). Every one of them passes when the server recovers: 503.
const redisStateReplies = /^(OOM|READONLY|MISCONF|EXECABORT|CLUSTERDOWN|TRYAGAIN|MOVED|ASK|LOADING|MASTERDOWN|NOREPLICAS|BUSY)\b/

// --- MongoDB ------------------------------------------------------------------------------------
// Driver errors meaning the server could not be reached or did not answer in time: network and
// socket errors (MongoNetworkError, MongoNetworkTimeoutError, and the pool errors derived from
// them, PoolClearedOnNetworkError included), no selectable server, a pool that was cleared or
// closed, a connection checkout or operation that ran out of time (our per-request deadline
// included), a client or topology that is closed or not connected yet. mongoose mirrors some of
// them with a Mongoose prefix.
const mongoErrorNames = new Set([
  'MongoNetworkError', 'MongoNetworkTimeoutError', 'MongoServerSelectionError', 'MongoNotConnectedError',
  'MongoTopologyClosedError', 'MongoServerClosedError', 'MongoClientClosedError', 'MongoOperationTimeoutError',
  'MongoPoolClearedError', 'PoolClearedOnNetworkError', 'MongoPoolClosedError', 'MongoWaitQueueTimeoutError',
  'MongooseServerSelectionError', 'MongoDeadlineError'
])
// Labels the driver puts on an error it considers transient (the operation may be retried).
const mongoTransientLabels = ['RetryableWriteError', 'ResetPool', 'TransientTransactionError', 'SystemOverloadedError']
// Server error codes meaning "not now": the node is stepping down, shutting down, not (or no
// longer) primary, interrupted by a replica-set state change, or the operation ran out of time.
const mongoStateCodes = new Set([
  6, // HostUnreachable
  7, // HostNotFound
  50, // MaxTimeMSExpired
  89, // NetworkTimeout
  91, // ShutdownInProgress
  189, // PrimarySteppedDown
  262, // ExceededTimeLimit
  9001, // SocketException
  10058, // LegacyNotPrimary
  10107, // NotWritablePrimary
  11600, // InterruptedAtShutdown
  11602, // InterruptedDueToReplStateChange
  13435, // NotPrimaryNoSecondaryOk
  13436, // NotPrimaryOrSecondary
  64, // WriteConcernFailed (majority not reached within wtimeout; writes use w: majority)
  100 // UnsatisfiableWriteConcern (not enough members up for a majority)
])

const networkCodes = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH'])

type Inspected = Error & { code?: unknown, errorLabelSet?: Set<string>, errorLabels?: string[], cause?: unknown, errorResponse?: unknown }

/** The error this one wraps: `cause`, or the driver error a MongoBulkWriteError keeps as its response. */
const wrapped = (error: Inspected): unknown => error.cause ?? (error.errorResponse instanceof Error ? error.errorResponse : undefined)

function classifyOne (error: Inspected): Dependency | null {
  const name = error.name
  if (mongoErrorNames.has(name)) return 'mongodb'
  if (name.startsWith('Mongo')) {
    const labels = error.errorLabelSet ?? new Set(error.errorLabels ?? [])
    if (mongoTransientLabels.some((label) => labels.has(label))) return 'mongodb'
    if (typeof error.code === 'number' && mongoStateCodes.has(error.code)) return 'mongodb'
    // A bulk write (insertMany) that failed for a network reason carries no code of its own.
    if (name === 'MongoBulkWriteError' && error.code === undefined && /timed out|network|socket|connection|pool/i.test(error.message)) return 'mongodb'
  }
  if (name === 'MongooseError' && /buffering timed out|initial connection/.test(error.message)) return 'mongodb'

  if (name === 'ReplyError' && redisStateReplies.test(error.message)) return 'redis'
  if (name === 'MaxRetriesPerRequestError' || redisClientMessages.some((message) => error.message.startsWith(message))) return 'redis'
  if (redisTopologyMessages.some((message) => error.message.startsWith(message))) return 'redis'

  // A raw socket error (e.g. EPIPE when MongoDB dies mid-write) carries no library name; ioredis
  // wraps its own socket failures in the messages above, so one that did not come through ioredis
  // is MongoDB's.
  if (typeof error.code === 'string' && networkCodes.has(error.code)) return /[\\/]ioredis[\\/]/.test(error.stack ?? '') ? 'redis' : 'mongodb'
  return null
}

/** Which dependency failed, looking through wrapped errors (drivers wrap the network error). */
export function failedDependency (error: unknown): Dependency | null {
  let current: unknown = error
  for (let depth = 0; depth < 5 && current instanceof Error; depth++) {
    const found = classifyOne(current as Inspected)
    if (found !== null) return found
    current = wrapped(current as Inspected)
  }
  return null
}

const EMAIL = /[^\s@"'<>(),;:]+@[^\s@"'<>(),;:]+\.[^\s@"'<>(),;:]+/g
const QUOTED_VALUE = /(dup key: )\{[^}]*\}/g

/** An error message with addresses and duplicate-key values taken out. */
export const sanitizedMessage = (message: string): string =>
  message.replace(QUOTED_VALUE, '$1{ … }').replace(EMAIL, '[email]').slice(0, 500)

/**
 * The part of an error that may be logged. Redis errors carry the command and its arguments
 * (values such as a magic-link record with its address), MongoDB write errors carry the document
 * and the duplicate key: only the type, code, command name, a sanitized message and the stack's
 * frames are kept.
 */
export function loggableError (error: unknown, depth = 0): Record<string, unknown> {
  if (!(error instanceof Error)) return { type: typeof error }
  const inspected = error as Inspected & { command?: { name?: unknown } }
  const frames = (error.stack ?? '').split('\n').slice(1).join('\n')
  const logged: Record<string, unknown> = { type: error.name, message: sanitizedMessage(error.message), stack: frames }
  if (typeof inspected.code === 'string' || typeof inspected.code === 'number') logged.code = inspected.code
  if (typeof inspected.command?.name === 'string') logged.command = inspected.command.name
  const inner = wrapped(inspected)
  if (inner instanceof Error && depth < 3) logged.cause = loggableError(inner, depth + 1)
  return logged
}
