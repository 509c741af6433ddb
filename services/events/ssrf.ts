import { lookup as dnsLookup } from 'node:dns/promises'
import http from 'node:http'
import https from 'node:https'
import { BlockList, isIP, type LookupFunction } from 'node:net'

/** Resolves a host name to every address it has (injectable: tests resolve names without DNS). */
export type Resolver = (hostname: string) => Promise<Array<{ address: string, family: number }>>

export const systemResolver: Resolver = async (hostname) => await dnsLookup(hostname, { all: true, verbatim: true })

/** Cloud metadata services: refused even with WEBHOOK_ALLOW_PRIVATE (no webhook ever lives there). */
const METADATA = new BlockList()
METADATA.addSubnet('169.254.0.0', 16, 'ipv4') // link-local, AWS/GCP/Azure 169.254.169.254
METADATA.addAddress('100.100.100.200', 'ipv4') // Alibaba Cloud
METADATA.addSubnet('fe80::', 10, 'ipv6') // link-local
METADATA.addAddress('fd00:ec2::254', 'ipv6') // AWS over IPv6

/** Loopback, private, shared, reserved, multicast and unspecified ranges: allowed only with WEBHOOK_ALLOW_PRIVATE. */
const PRIVATE = new BlockList()
for (const [net, bits] of [
  ['0.0.0.0', 8], ['10.0.0.0', 8], ['100.64.0.0', 10], ['127.0.0.0', 8], ['172.16.0.0', 12], ['192.0.0.0', 24],
  ['192.0.2.0', 24], ['192.168.0.0', 16], ['198.18.0.0', 15], ['198.51.100.0', 24], ['203.0.113.0', 24], ['224.0.0.0', 4], ['240.0.0.0', 4]
] as const) PRIVATE.addSubnet(net, bits, 'ipv4')
for (const [net, bits] of [
  ['::', 128], ['::1', 128], ['fc00::', 7], ['ff00::', 8], ['64:ff9b::', 96], ['64:ff9b:1::', 48], ['2001:db8::', 32], ['100::', 64]
] as const) PRIVATE.addSubnet(net, bits, 'ipv6')

/** True for an IPv4-compatible IPv6 address (::a.b.c.d, ::xxxx:xxxx), canonical form. */
function embeddedIpv4 (address: string): string | null {
  const match = /^::((?:\d+\.){3}\d+|[0-9a-f]{1,4}:[0-9a-f]{1,4})$/i.exec(address)
  return match === null ? null : match[1]!
}

/** Why an address may not be connected to, or null when it may. */
export function refusal (raw: string, allowPrivate: boolean): string | null {
  const family = isIP(raw)
  if (family === 0) return 'not an IP address'
  // One spelling per IPv6 address (0:0:0:0:0:ffff:7f00:1 and ::ffff:127.0.0.1 are ::ffff:7f00:1).
  const address = family === 6 ? new URL(`http://[${raw}]/`).hostname.slice(1, -1) : raw
  // IPv4-mapped (and the old IPv4-compatible) IPv6 is refused outright: it is how a private IPv4
  // address slips past a check that only looks at IPv6 ranges. No public endpoint needs it.
  if (family === 6 && (/^::ffff:/i.test(address) || embeddedIpv4(address) !== null)) return 'IPv4-mapped IPv6 address'
  const type = family === 4 ? 'ipv4' : 'ipv6'
  if (METADATA.check(address, type)) return 'link-local or metadata address'
  if (!allowPrivate && PRIVATE.check(address, type)) return 'loopback, private or reserved address'
  return null
}

export class WebhookUrlError extends Error {
  override name = 'WebhookUrlError'
}

/**
 * Checks an endpoint URL as written (no DNS): https:// (http:// only with allowPrivate), no
 * credentials, and an IP literal must be allowed. The address a name resolves to is checked at
 * every delivery (services/events/webhooks.ts).
 */
export function checkEndpointUrl (raw: string, allowPrivate: boolean): URL {
  if (typeof raw !== 'string' || raw.length > 2048 || !URL.canParse(raw)) throw new WebhookUrlError('url must be an absolute https:// URL')
  const url = new URL(raw)
  if (url.protocol !== 'https:' && !(allowPrivate && url.protocol === 'http:')) {
    throw new WebhookUrlError(allowPrivate ? 'url must be http:// or https://' : 'url must be https:// (http:// needs WEBHOOK_ALLOW_PRIVATE=true)')
  }
  if (url.username !== '' || url.password !== '') throw new WebhookUrlError('url must not carry credentials')
  const host = url.hostname.replace(/^\[|\]$/g, '')
  if (isIP(host) !== 0) {
    const why = refusal(host, allowPrivate)
    if (why !== null) throw new WebhookUrlError(`url points to a ${why}`)
  }
  return url
}

export interface PostResult {
  /** 'ok' when an answer came (any status), else why not. */
  kind: 'answered' | 'timeout' | 'network_error' | 'blocked'
  status: number | null
  /** Why the address was refused (blocked). */
  reason?: string
}

export interface PostOptions {
  url: string
  headers: Record<string, string>
  body: string
  allowPrivate: boolean
  resolver: Resolver
  timeoutMs: number
  /** Bytes of the answer read at most (the rest is dropped with the connection). */
  maxResponseBytes?: number
  /** Handed a function that abandons the request (shutdown). */
  onRequest?: (abort: () => void) => void
}

/**
 * POSTs a delivery without server-side request forgery: the host is resolved ONCE, every address
 * it resolves to is checked, and the socket connects to the checked address (the request's lookup
 * returns it), so DNS rebinding cannot change the target between the check and the connect. TLS
 * still verifies the certificate against the host name. Redirects are not followed (an answer is an
 * answer: 3xx counts as a failed attempt); at most a few KB of the answer are read; the whole
 * exchange is bounded by timeoutMs.
 */
export async function safePost (options: PostOptions): Promise<PostResult> {
  let url: URL
  try {
    url = checkEndpointUrl(options.url, options.allowPrivate)
  } catch (error) {
    return { kind: 'blocked', status: null, reason: (error as Error).message }
  }
  const host = url.hostname.replace(/^\[|\]$/g, '')
  let addresses: Array<{ address: string, family: number }>
  if (isIP(host) !== 0) {
    addresses = [{ address: host, family: isIP(host) }]
  } else {
    try {
      addresses = await withTimeout(options.resolver(host), options.timeoutMs)
    } catch {
      return { kind: 'network_error', status: null }
    }
  }
  if (addresses.length === 0) return { kind: 'network_error', status: null }
  for (const { address } of addresses) {
    const why = refusal(address, options.allowPrivate)
    if (why !== null) return { kind: 'blocked', status: null, reason: `${host} resolves to a ${why}` }
  }
  const target = addresses[0]!
  const lookup: LookupFunction = (_hostname, lookupOptions, callback) => {
    if ((lookupOptions as { all?: boolean }).all === true) (callback as unknown as (e: null, a: Array<{ address: string, family: number }>) => void)(null, [target])
    else callback(null, target.address, target.family)
  }
  const limit = options.maxResponseBytes ?? 4096
  const client = url.protocol === 'https:' ? https : http

  return await new Promise<PostResult>((resolve) => {
    let settled = false
    const finish = (result: PostResult): void => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      request.destroy()
      resolve(result)
    }
    const request = client.request(url, {
      method: 'POST',
      headers: { ...options.headers, 'content-length': Buffer.byteLength(options.body).toString() },
      lookup,
      agent: false
    }, (response) => {
      let read = 0
      response.on('data', (chunk: Buffer) => {
        read += chunk.length
        if (read >= limit) finish({ kind: 'answered', status: response.statusCode ?? null })
      })
      response.on('end', () => { finish({ kind: 'answered', status: response.statusCode ?? null }) })
      response.on('error', () => { finish({ kind: 'answered', status: response.statusCode ?? null }) })
    })
    const timer = setTimeout(() => { finish({ kind: 'timeout', status: null }) }, options.timeoutMs)
    options.onRequest?.(() => { finish({ kind: 'network_error', status: null }) })
    request.on('error', () => { finish({ kind: 'network_error', status: null }) })
    request.end(options.body)
  })
}

async function withTimeout<T> (promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  try {
    return await Promise.race([promise, new Promise<T>((_resolve, reject) => { timer = setTimeout(() => { reject(new Error('timeout')) }, ms) })])
  } finally {
    clearTimeout(timer)
  }
}
