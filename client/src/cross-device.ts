import { errorFrom, LatchkeyError } from './errors.js'
import { sleep } from './tabs.js'
import type { CrossDeviceOutcome, SignedIn } from './types.js'

export type Transport = 'auto' | 'sse' | 'poll'

export interface WaitOptions {
  /** 'auto' (default): Server-Sent Events, and the long-poll when streams do not work here. */
  transport?: Transport
  signal?: AbortSignal
}

type Fetch = typeof fetch

/** fetch, with a failure to get any answer turned into NETWORK_ERROR (an abort stays an abort). */
export async function send (fetcher: Fetch, url: string, init: RequestInit): Promise<Response> {
  try {
    return await fetcher(url, { credentials: 'omit', ...init })
  } catch (error) {
    if ((error as Error).name === 'AbortError') throw error
    throw new LatchkeyError(0, 'NETWORK_ERROR', (error as Error).message)
  }
}

const denied = (reason: string, message?: string): LatchkeyError =>
  Object.assign(new LatchkeyError(0, 'CROSS_DEVICE_DENIED', message ?? `The sign-in was not approved (${reason})`), { reason })

const STREAMS_UNSUPPORTED = 'streams'

/** One SSE connection: the pair, undefined to reconnect, or a thrown final answer. */
async function viaStream (fetcher: Fetch, url: string, headers: Record<string, string>, signal?: AbortSignal): Promise<SignedIn | undefined> {
  const response = await send(fetcher, `${url}/events`, { headers: { ...headers, accept: 'text/event-stream' }, signal })
  if (!response.ok) throw await errorFrom(response)
  const reader = response.body?.getReader()
  if (reader === undefined) throw new Error(STREAMS_UNSUPPORTED)
  const decoder = new TextDecoder()
  let buffer = ''
  try {
    for (;;) {
      const { value, done } = await reader.read()
      if (done) return undefined // closed without a final event (a restart): reconnect
      buffer += decoder.decode(value, { stream: true })
      let end
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        let event = 'message'
        let data = ''
        for (const line of buffer.slice(0, end).split('\n')) {
          if (line.startsWith('event:')) event = line.slice(6).trim()
          if (line.startsWith('data:')) data += line.slice(5).trim()
        }
        buffer = buffer.slice(end + 2)
        if (data === '') continue
        const payload = JSON.parse(data) as SignedIn & { reason: string, message: string, retryAfter: number }
        if (event === 'approved') return payload
        if (event === 'denied') throw denied(payload.reason, payload.message)
        if (event === 'expired') throw new LatchkeyError(410, 'MAGIC_LINK_INVALID', payload.message)
        if (event === 'unavailable') throw new LatchkeyError(503, 'SERVICE_UNAVAILABLE', payload.message, { retryAfter: payload.retryAfter })
      }
    }
  } finally {
    void reader.cancel().catch(() => {})
  }
}

/** One long-poll: the pair, or undefined while still pending. */
async function viaPoll (fetcher: Fetch, url: string, headers: Record<string, string>, signal?: AbortSignal): Promise<SignedIn | undefined> {
  const response = await send(fetcher, `${url}/outcome?wait=25`, { headers, signal })
  if (!response.ok) throw await errorFrom(response)
  const outcome = await response.json() as CrossDeviceOutcome
  if (outcome.status === 'denied') throw denied(outcome.reason)
  if (outcome.status === 'approved') {
    const { status: _status, ...signedIn } = outcome
    return signedIn
  }
  return undefined
}

/**
 * Waits for the other device's answer: the token pair (exactly once), or a LatchkeyError:
 * CROSS_DEVICE_DENIED (with `reason`), MAGIC_LINK_INVALID (expired, finished or unknown request).
 * Reconnects after a restart, a 503 or a 429 (after its Retry-After); in 'auto' mode, two network
 * failures in a row on the stream, or a platform without streamed bodies, switch to the long-poll.
 */
export async function waitForApproval (fetcher: Fetch, url: string, deviceSecret: string, options: WaitOptions = {}): Promise<SignedIn> {
  const transport = options.transport ?? 'auto'
  const headers = { 'x-device-secret': deviceSecret }
  let stream = transport !== 'poll'
  let failures = 0
  for (;;) {
    options.signal?.throwIfAborted()
    try {
      const result = stream ? await viaStream(fetcher, url, headers, options.signal) : await viaPoll(fetcher, url, headers, options.signal)
      failures = 0
      if (result !== undefined) return result
    } catch (error) {
      if ((error as Error).message === STREAMS_UNSUPPORTED && transport === 'auto') {
        stream = false
        continue
      }
      if (!(error instanceof LatchkeyError) || ![0, 429, 503].includes(error.status) || error.code === 'CROSS_DEVICE_DENIED') throw error
      if (error.status === 0 && ++failures >= 2 && transport === 'auto') stream = false
      await sleep(1000 * Math.min(error.retryAfter ?? failures, 30))
    }
  }
}
