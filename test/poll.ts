/**
 * Reads `read()` until `done(value)` holds or `timeoutMs` passes, pausing `intervalMs` between
 * reads, and returns the last value read (the caller asserts on it): waiting for a restarted
 * server to be noticed, a metric to move, a status to change.
 */
export async function pollUntil<T> (read: () => Promise<T>, done: (value: T) => boolean, { timeoutMs = 5_000, intervalMs = 100 } = {}): Promise<T> {
  const deadline = Date.now() + timeoutMs
  let value = await read()
  while (!done(value) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, intervalMs))
    value = await read()
  }
  return value
}
