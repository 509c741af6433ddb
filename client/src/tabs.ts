import type { User } from './types.js'

/**
 * Coordination between the tabs of one origin: a message bus (BroadcastChannel, or storage events
 * where there is none), the list of live peers, and one lock for refreshing (Web Locks, or a
 * claim over the bus where there are none).
 */

/** The session as tabs share it. `gen` orders pairs: a refresh adds one, a sign-in starts from the clock. */
export interface Shared {
  accessToken: string
  refreshToken: string
  /** When the access token expires, in this machine's milliseconds. */
  expiresAt: number
  /** The access token's lifetime in milliseconds. */
  ttl: number
  sid: string
  gen: number
  user?: User | undefined
}

export type Message =
  | { t: 'hello', from: string }
  | { t: 'here', from: string, to: string, s: Shared | null, w?: number | undefined }
  | { t: 'session', from: string, s: Shared }
  | { t: 'out', from: string, sid: string, reason: string }
  | { t: 'bye', from: string }
  | { t: 'want', from: string, at: number }
  | { t: 'done', from: string }

interface StorageLike {
  getItem: (key: string) => string | null
  setItem: (key: string, value: string) => void
  removeItem: (key: string) => void
}
interface LockManagerLike {
  request: <T>(name: string, options: { signal?: AbortSignal, steal?: boolean }, callback: () => Promise<T>) => Promise<T>
  query?: () => Promise<{ held?: Array<{ name?: string, clientId?: string }> }>
}
type Listener = (event: any) => void
/** The browser globals the client uses, typed here so the package also compiles without the DOM library. */
export interface BrowserGlobals {
  navigator?: { locks?: LockManagerLike, credentials?: { get: (options: object) => Promise<any>, create: (options: object) => Promise<any> } }
  localStorage?: StorageLike
  addEventListener?: (type: string, listener: Listener) => void
  removeEventListener?: (type: string, listener: Listener) => void
  location?: { href: string }
  PublicKeyCredential?: { parseRequestOptionsFromJSON?: (options: unknown) => unknown, parseCreationOptionsFromJSON?: (options: unknown) => unknown }
}
export const browser = globalThis as unknown as BrowserGlobals

/** How long peers get to answer a sync (a frozen one is then forgotten until it speaks again). */
const SYNC_MS = 300
/** How long a claim over the bus waits to hear others who want the lock at the same moment. */
const CLAIM_MS = 50

export const sleep = async (ms: number): Promise<void> => { await new Promise((resolve) => setTimeout(resolve, ms)) }

/** localStorage, or undefined where it is missing or refused (private modes, sandboxed frames). */
export function storage (): StorageLike | undefined {
  try { return browser.localStorage ?? undefined } catch { return undefined }
}

export interface TabHandlers {
  current: () => Shared | null
  adopt: (shared: Shared) => void
  out: (sid: string, reason: string) => void
}

export interface Tabs {
  readonly id: string
  post: (message: Message) => void
  /** Asks every live peer for its session and waits (bounded) until each has answered. */
  sync: () => Promise<void>
  /** Announces this tab; resolves at the first answer, or after SYNC_MS when nobody answers. */
  hello: () => Promise<void>
  /** Runs `work` while no other tab of the origin runs its own. */
  withLock: <T>(work: () => Promise<T>) => Promise<T>
  close: () => void
}

export function createTabs (name: string, handlers: TabHandlers, lockTimeout: number): Tabs {
  const id = Array.from(crypto.getRandomValues(new Uint8Array(8)), (byte) => byte.toString(16).padStart(2, '0')).join('')
  const peers = new Set<string>()
  const wants = new Map<string, number>()
  const waiters = new Set<(message: Message) => void>()
  const listeners: Array<[string, Listener]> = []
  const listen = (type: string, listener: Listener): void => {
    browser.addEventListener?.(type, listener)
    listeners.push([type, listener])
  }

  function receive (message: Message): void {
    if (message.from === id) return
    peers.add(message.from)
    if (message.t === 'hello') post({ t: 'here', from: id, to: message.from, s: handlers.current(), w: wants.get(id) })
    if (message.t === 'here') {
      if (message.s !== null) handlers.adopt(message.s)
      if (message.w !== undefined) wants.set(message.from, message.w)
    }
    if (message.t === 'session') handlers.adopt(message.s)
    if (message.t === 'out') handlers.out(message.sid, message.reason)
    if (message.t === 'want') wants.set(message.from, message.at)
    if (message.t === 'done' || message.t === 'bye') wants.delete(message.from)
    if (message.t === 'bye') peers.delete(message.from)
    for (const waiter of waiters) waiter(message)
  }

  // The bus: BroadcastChannel where there is one, else storage events (a key written and removed at once).
  let post: (message: Message) => void = () => {}
  let closeBus = (): void => {}
  const local = storage()
  if (typeof BroadcastChannel === 'function') {
    const channel = new BroadcastChannel(name)
    channel.onmessage = (event: MessageEvent) => { receive(event.data as Message) }
    post = (message) => { channel.postMessage(message) }
    closeBus = () => { channel.close() }
  } else if (local !== undefined && browser.addEventListener !== undefined) {
    const key = `${name}:bus`
    listen('storage', (event: { key: string | null, newValue: string | null }) => {
      if (event.key === key && event.newValue !== null) receive(JSON.parse(event.newValue) as Message)
    })
    post = (message) => { local.setItem(key, JSON.stringify(message)); local.removeItem(key) }
  }
  listen('pagehide', () => { post({ t: 'bye', from: id }) })

  /** Resolves true when `match` sees a message within `ms`, false otherwise. */
  async function waitFor (match: (message: Message) => boolean, ms: number): Promise<boolean> {
    return await new Promise<boolean>((resolve) => {
      const finish = (result: boolean): void => { clearTimeout(timer); waiters.delete(waiter); resolve(result) }
      const waiter = (message: Message): void => { if (match(message)) finish(true) }
      const timer = setTimeout(() => { finish(false) }, ms)
      waiters.add(waiter)
    })
  }

  async function sync (): Promise<void> {
    if (peers.size === 0) return
    const expected = new Set(peers)
    post({ t: 'hello', from: id })
    await waitFor((message) => {
      if (message.t === 'here' && message.to === id) expected.delete(message.from)
      return expected.size === 0
    }, SYNC_MS)
    for (const silent of expected) peers.delete(silent)
  }

  async function hello (): Promise<void> {
    post({ t: 'hello', from: id })
    await waitFor((message) => message.t === 'here' && message.to === id, SYNC_MS)
  }

  /** The lock over the bus: everyone who wants it says so; the earliest (then the smallest id) goes first. */
  async function claim<T> (work: () => Promise<T>): Promise<T> {
    const at = Date.now()
    wants.set(id, at)
    post({ t: 'want', from: id, at })
    try {
      await sleep(CLAIM_MS)
      for (;;) {
        let first = id
        for (const [peer, since] of wants) {
          // A claim older than lockTimeout belongs to a frozen or stuck tab: taken over.
          if (Date.now() - since > lockTimeout) wants.delete(peer)
          else if (since < wants.get(first)! || (since === wants.get(first) && peer < first)) first = peer
        }
        if (first === id) break
        const left = lockTimeout - (Date.now() - wants.get(first)!)
        await waitFor((message) => (message.t === 'done' || message.t === 'bye') && message.from === first, Math.max(0, left))
        wants.delete(first)
      }
      return await work()
    } finally {
      wants.delete(id)
      post({ t: 'done', from: id })
    }
  }

  async function withLock<T> (work: () => Promise<T>): Promise<T> {
    const locks = browser.navigator?.locks
    if (locks === undefined) return await claim(work)
    const lock = `${name}:refresh`
    const holder = async (): Promise<string | undefined> => (await locks.query?.())?.held?.find((held) => held.name === lock)?.clientId
    let running: Promise<T> | undefined
    const run = async (): Promise<T> => await (running = work())
    for (;;) {
      const controller = new AbortController()
      const timer = setTimeout(() => { controller.abort() }, lockTimeout)
      try {
        return await locks.request(lock, { signal: controller.signal }, run)
      } catch (error) {
        // Stolen from us while the work runs: the work still finishes, and its result is ours.
        if (running !== undefined) return await running
        if (!controller.signal.aborted) throw error
      } finally {
        clearTimeout(timer)
      }
      // The holder kept the lock for lockTimeout: frozen, or stuck. One tab at a time decides, under
      // a second lock, and takes the lock over only if that same holder still has it; the others
      // (and anyone after a takeover) wait again.
      const seen = await holder()
      const taken = await locks.request(`${lock}:takeover`, {}, async () => {
        if ((await holder()) !== seen) return false
        return { value: await locks.request(lock, { steal: true }, run) }
      }).catch(async (error: unknown) => {
        if (running !== undefined) return { value: await running }
        throw error
      })
      if (taken !== false) return taken.value
    }
  }

  return {
    id,
    post: (message) => { post(message) },
    sync,
    hello,
    withLock,
    close: () => {
      post({ t: 'bye', from: id })
      closeBus()
      for (const [type, listener] of listeners) browser.removeEventListener?.(type, listener)
    }
  }
}
