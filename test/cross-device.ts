import { get, type IncomingMessage } from 'node:http'
import Fastify, { type FastifyInstance } from 'fastify'
import type { ParsedMail } from 'mailparser'
import type { Test } from 'tap'
import app, { serverOptions } from '../app.js'
import type { Clock } from '../services/infrastructure/clock.js'
import type { Config } from '../services/infrastructure/config.js'
import type { CrossDeviceEventsOptions } from '../services/links/cross-device-events.js'

/** Test helpers for the cross-device flow: instances on real ports, the emailed approval link, an SSE reader. */

/**
 * The real app listening on a real port (SSE needs a real socket), closed at teardown. Instances
 * built from one `config` share Redis, MongoDB and the JWT secret: two app servers of one service.
 */
export async function serveInstance (t: Test, config: Config, crossDevice?: CrossDeviceEventsOptions, { port = 0, clock }: { port?: number, clock?: Clock } = {}): Promise<{ app: FastifyInstance, origin: string }> {
  const fastify = Fastify(serverOptions(config))
  await fastify.register(app, { config, crossDevice, clock })
  await fastify.listen({ port, host: '127.0.0.1' })
  t.teardown(async () => { await fastify.close() })
  const address = fastify.server.address()
  if (address === null || typeof address === 'string') throw new Error('not listening')
  return { app: fastify, origin: `http://127.0.0.1:${address.port}` }
}

export interface Ticket { message: string, requestId: string, deviceSecret: string, matchNumber: number, expiresIn: number }

/** POST /auth/magic-link {email, crossDevice: true} → the 202 body (throws on anything else). */
export async function askCrossDevice (app: FastifyInstance, email: string, headers: Record<string, string> = {}, remoteAddress?: string): Promise<Ticket> {
  const response = await app.inject({ method: 'POST', url: '/auth/magic-link', payload: { email, crossDevice: true }, headers, ...(remoteAddress === undefined ? {} : { remoteAddress }) })
  if (response.statusCode !== 202) throw new Error(`cross-device request failed: ${response.statusCode} ${response.body}`)
  return response.json()
}

/** The approval link's token in an email, as a person would copy it from the text part. */
export function approvalTokenFrom (mail: ParsedMail): string {
  const match = /https?:\/\/\S+\/auth\/magic-link\/approve\?token=([A-Za-z0-9_-]+)/.exec(mail.text ?? '')
  if (match === null) throw new Error(`no approval link in email: ${mail.text}`)
  return match[1]!
}

/** Whether an approval page asks to type the number (a text field, never a list of numbers to pick from). */
export const asksToTypeNumber = (html: string): boolean =>
  /<input id="choice" name="choice"[^>]*inputmode="numeric"/.test(html) && !/name="choice" value=/.test(html)

/** A match number other than `match` (0 to 99). */
export const wrongNumber = (match: number, offset = 1): number => (match + offset) % 100

/** A match number as the pages show it: two digits. */
export const twoDigits = (n: number): string => String(n).padStart(2, '0')

export const secretHeader = (deviceSecret: string) => ({ 'x-device-secret': deviceSecret })

export interface SseEvent { event: string, data: any }

/**
 * A Server-Sent Events reader on a plain HTTP connection of its own (node:http, no keep-alive
 * pool: fetch's pool opens a spare connection after an abort, which a closing server then waits
 * on). `next()` resolves with the next event, or null once the server ended the stream; `close()`
 * drops the connection as a browser tab closing would. Comments and `retry:` lines are counted.
 */
export async function openEvents (url: string, headers: Record<string, string> = {}) {
  const queue: Array<SseEvent | null> = []
  const waiters: Array<() => void> = []
  let comments = 0
  let ended = false
  let text = ''
  const push = (item: SseEvent | null): void => { queue.push(item); waiters.splice(0).forEach((wake) => wake()) }

  const response = await new Promise<IncomingMessage>((resolve, reject) => {
    get(url, { agent: false, headers: { accept: 'text/event-stream', ...headers } }, resolve).on('error', reject)
  })
  response.setEncoding('utf8')
  let buffer = ''
  response.on('data', (chunk: string) => {
    text += chunk
    buffer += chunk
    let cut: number
    while ((cut = buffer.indexOf('\n\n')) !== -1) {
      const block = buffer.slice(0, cut)
      buffer = buffer.slice(cut + 2)
      let event = 'message'
      const data: string[] = []
      for (const line of block.split('\n')) {
        if (line.startsWith(':')) comments++
        else if (line.startsWith('event: ')) event = line.slice(7)
        else if (line.startsWith('data: ')) data.push(line.slice(6))
      }
      if (data.length > 0 && response.statusCode === 200) push({ event, data: JSON.parse(data.join('\n')) })
    }
  })
  const finish = (): void => { if (!ended) { ended = true; push(null) } }
  response.on('end', finish)
  response.on('close', finish)
  response.on('error', finish)
  const done = new Promise<void>((resolve) => response.once('close', resolve))

  return {
    status: response.statusCode ?? 0,
    headers: response.headers,
    /** The whole body, once the response has ended (error answers). */
    async body (): Promise<string> { await done; return text },
    get comments (): number { return comments },
    get ended (): boolean { return ended },
    async next (timeoutMs = 10_000): Promise<SseEvent | null> {
      const deadline = Date.now() + timeoutMs
      while (queue.length === 0) {
        const left = deadline - Date.now()
        if (left <= 0) throw new Error(`no event within ${timeoutMs} ms`)
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, left)
          waiters.push(() => { clearTimeout(timer); resolve() })
        })
      }
      return queue.shift()!
    },
    close (): void { response.destroy() }
  }
}
