import type { RedisClient } from '../infrastructure/redis-client.js'
import type { CrossDeviceOutcome } from './cross-device.js'

/**
 * How a wait ends: the request's final state, Redis failing, this instance shutting down, or the
 * waiter's own deadline (a long-poll's `wait`, given to `end()`).
 */
export type FinalStep = Exclude<CrossDeviceOutcome, { state: 'pending' }> | { state: 'unavailable' } | { state: 'shutdown' } | { state: 'timeout' }

export interface CrossDeviceEventsOptions {
  /**
   * How often a waiting device's request is re-read without a notification: the safety net for a
   * message lost while a subscriber was switching nodes, and how a frozen Redis is noticed.
   */
  recheckMs?: number
  /** How often it is re-read while this instance's subscriber connection is down. */
  degradedPollMs?: number
}

interface Watcher {
  wake: () => void
  shutdown: () => void
}

/** A wait being followed: `end` asks it to finish (after a running check), `stop` drops it (the waiter is gone). */
export interface Follower {
  /**
   * Ends the wait with `step`, but never in the middle of a check: a running check may be claiming
   * the session, so the wait ends when it returns, with its outcome if that is final (the token
   * pair is delivered, not dropped), else with `step`.
   */
  end: (step: FinalStep) => void
  /**
   * The waiter is gone (the client closed the connection): no `onFinal`. A final outcome that a
   * check still running brings back is handed to `onUndelivered` (which gives a claimed session back).
   */
  stop: () => void
}

/**
 * Tells the waiting devices of this instance that their request changed, wherever it changed.
 *
 * Every state change of a request is published (in the same Lua script that makes it) on one
 * channel, with the request id as the message. Each instance keeps ONE subscriber connection (made
 * with the client's `duplicate()`, so it works for a single node, Sentinel and Cluster alike) and
 * wakes the local waits for that id; a woken wait re-reads the request with its device secret.
 * Messages carry no secret and no state: a lost or forged message costs one read, nothing more.
 *
 * The subscriber reconnects by itself (ioredis retry strategy); on every (re)connection it
 * subscribes again and wakes every wait, since messages may have been missed meanwhile. While it is
 * down, waits fall back to polling every `degradedPollMs`, and new waits are refused (503).
 */
export function createCrossDeviceEvents ({ subscriber, channel, now, recheckMs = 10_000, degradedPollMs = 1_000, onError }: {
  subscriber: RedisClient
  channel: string
  now: () => number
  onError?: (error: Error) => void
} & CrossDeviceEventsOptions) {
  const watchers = new Map<string, Set<Watcher>>()
  /** Every wait not yet settled (ended, and no check of it running). */
  const active = new Set<Promise<void>>()
  let subscribed = false
  let closing = false
  const subscribedListeners = new Set<() => void>()

  const everyWatcher = (): Watcher[] => [...watchers.values()].flatMap((set) => [...set])
  const wakeAll = (): void => { for (const watcher of everyWatcher()) watcher.wake() }

  async function subscribe (): Promise<void> {
    try {
      await subscriber.subscribe(channel)
      subscribed = true
      for (const listener of subscribedListeners) listener()
      wakeAll()
    } catch (error) {
      // The next 'ready' tries again.
      onError?.(error as Error)
    }
  }

  subscriber.on('message', (from: string, requestId: string) => {
    if (from !== channel) return
    for (const watcher of watchers.get(requestId) ?? []) watcher.wake()
  })
  subscriber.on('ready', () => { if (!closing) void subscribe() })
  subscriber.on('close', () => {
    if (!subscribed) return
    subscribed = false
    wakeAll() // each wait re-reads now and then polls until the subscriber is back
  })
  subscriber.on('error', (error: Error) => onError?.(error))

  const events = {
    /**
     * Connects and subscribes, waiting at most `timeoutMs`. Never throws: an instance whose
     * subscriber is not up yet serves everything else and answers 503 to new waits until it is.
     */
    async start (timeoutMs: number): Promise<boolean> {
      if (subscriber.status === 'wait') subscriber.connect().catch(() => {})
      if (subscribed) return true
      let timer: NodeJS.Timeout | undefined
      let listener: (() => void) | undefined
      await new Promise<void>((resolve) => {
        listener = resolve
        subscribedListeners.add(listener)
        timer = setTimeout(resolve, timeoutMs)
      })
      clearTimeout(timer)
      subscribedListeners.delete(listener!)
      return subscribed
    },

    /** True while notifications can reach this instance (new waits are accepted). */
    get available (): boolean {
      return subscribed && !closing && subscriber.status === 'ready'
    },

    /** Waits of this instance on one request (each SSE stream or long-poll is one). */
    waiting (requestId: string): number {
      return watchers.get(requestId)?.size ?? 0
    },

    /**
     * Follows one request until it reaches a final state. `check` reads it (with the device
     * secret); it runs at once, on every notification for the request, on every subscriber
     * reconnection, every `recheckMs` as a safety net (every `degradedPollMs` while the subscriber
     * is down) and just after the request's expiry. Checks never overlap, and a wait never ends
     * while one is running (it may have claimed the session). `onFinal` is called exactly once:
     * with the final outcome, `unavailable` when a check fails (Redis down or frozen: bounded by
     * the client's command timeout), the step given to `end()`, or `shutdown` when the instance
     * closes; unless the waiter left first (`stop()`), in which case a final outcome a running
     * check still returns goes to `onUndelivered`.
     */
    follow ({ requestId, check, onFinal, onUndelivered }: {
      requestId: string
      check: () => Promise<CrossDeviceOutcome>
      onFinal: (step: FinalStep) => void
      onUndelivered?: (outcome: Exclude<CrossDeviceOutcome, { state: 'pending' }>) => Promise<void>
    }): Follower {
      let done = false
      let running = false
      let again = false
      /** Set by end() or shutdown while a check runs: the step to end with once it returns. */
      let ending: FinalStep | undefined
      let recheck: NodeJS.Timeout | undefined
      let expiry: NodeJS.Timeout | undefined
      let settle: () => void = () => {}
      const settled = new Promise<void>((resolve) => { settle = resolve })

      const watcher: Watcher = { wake: () => { void run() }, shutdown: () => end({ state: 'shutdown' }) }
      let set = watchers.get(requestId)
      if (set === undefined) watchers.set(requestId, set = new Set())
      set.add(watcher)
      active.add(settled)
      void settled.then(() => active.delete(settled))

      /** No more checks, timers or notifications for this wait. */
      function release (): void {
        done = true
        clearTimeout(recheck)
        clearTimeout(expiry)
        const current = watchers.get(requestId)
        current?.delete(watcher)
        if (current?.size === 0) watchers.delete(requestId)
        if (!running) settle()
      }

      function finish (step: FinalStep): void {
        if (done) return
        release()
        onFinal(step)
      }

      function end (step: FinalStep): void {
        if (done) return
        if (!running) { finish(step); return }
        ending ??= step
        clearTimeout(recheck)
        clearTimeout(expiry)
      }

      function stop (): void {
        if (!done) release()
      }

      function schedule (expiresAt: number): void {
        clearTimeout(recheck)
        recheck = setTimeout(() => { void run() }, events.available ? recheckMs : degradedPollMs)
        recheck.unref()
        if (expiry === undefined) {
          expiry = setTimeout(() => { void run() }, Math.min(Math.max(0, expiresAt - now()) + 250, 2_147_483_647))
          expiry.unref()
        }
      }

      async function run (): Promise<void> {
        if (done || ending !== undefined) return
        if (running) { again = true; return }
        running = true
        try {
          do {
            again = false
            const outcome = await check()
            if (done) {
              // The waiter left while this check ran: nobody will read what it brought back.
              if (outcome.state !== 'pending') await onUndelivered?.(outcome).catch((error: unknown) => onError?.(error as Error))
              return
            }
            if (outcome.state !== 'pending') { finish(outcome); return }
            if (ending !== undefined) { finish(ending); return }
            schedule(outcome.expiresAt)
            // eslint-disable-next-line no-unmodified-loop-condition -- all three are set by other callbacks meanwhile
          } while (again && !done && ending === undefined)
        } catch {
          finish({ state: 'unavailable' })
        } finally {
          running = false
          if (done) settle()
        }
      }

      if (closing) queueMicrotask(() => finish({ state: 'shutdown' }))
      else void run()
      return { end, stop }
    },

    /**
     * Ends every wait of this instance (graceful shutdown: open streams must not hold the server).
     * A wait whose check is running ends when that check returns (bounded by the Redis and
     * MongoDB timeouts), delivering what it brought back; resolves once every wait has ended.
     */
    async shutdown (): Promise<void> {
      closing = true
      for (const watcher of everyWatcher()) watcher.shutdown()
      await Promise.all([...active])
    },

    /**
     * Closes the subscriber connection: QUIT when connected, then drop the socket and stop
     * reconnecting (on Sentinel, disconnect() also closes the connections that watch for a
     * failover, which QUIT alone leaves reconnecting).
     */
    async close (): Promise<void> {
      closing = true
      subscribed = false
      if (subscriber.status === 'ready') await subscriber.quit().catch(() => {})
      subscriber.disconnect()
    }
  }
  return events
}

export type CrossDeviceEvents = ReturnType<typeof createCrossDeviceEvents>
