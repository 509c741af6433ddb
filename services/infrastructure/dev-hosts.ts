/**
 * DNS rebinding (issue 23.9): a web page on an attacker's domain that later resolves to 127.0.0.1
 * is same-origin with a service on this machine as far as the browser knows, and could read
 * /dev/inbox (the links and codes of every captured email). Its requests carry the attacker's
 * name in Host, though: in development only loopback names and APP_URL's host are served.
 */

/** The host name of a Host header, lower-cased, without port or IPv6 brackets; '' when absent. */
export function hostName (host: string | undefined): string {
  if (host === undefined) return ''
  const lower = host.trim().toLowerCase()
  if (lower.startsWith('[')) return lower.slice(1, lower.indexOf(']') === -1 ? undefined : lower.indexOf(']'))
  return lower.replace(/:\d*$/, '').replace(/\.$/, '')
}

/** localhost, *.localhost (RFC 6761), 127.0.0.0/8 and ::1. */
export function isLoopbackName (name: string): boolean {
  return name === 'localhost' || name.endsWith('.localhost') || /^127(\.\d{1,3}){3}$/.test(name) || name === '::1'
}

/** Whether a development server should answer a request with this Host header. */
export function createDevHostCheck (appUrl: string): (host: string | undefined) => boolean {
  const appHost = hostName(new URL(appUrl).host)
  return (host) => {
    const name = hostName(host)
    return name !== '' && (name === appHost || isLoopbackName(name))
  }
}
