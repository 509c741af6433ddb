import Bowser from 'bowser'

/**
 * What the approval page and the email say about the device that asked to sign in: enough for a
 * person to recognise their own laptop ("Chrome on macOS, near 203.0.113.x"), not enough to
 * identify anyone. Stored with the request in this form; the raw User-Agent and IP are not.
 *
 * The User-Agent is the asker's to choose, and the asker may be a phisher: only names from
 * bowser's own tables are shown, never text from the header (bowser's fallback would turn
 * "Tap 42 now/1.0 x" into a browser named "Tap 42 now"). The account page's session list
 * (views/format.ts, deviceName) shows a user's own sessions and may be looser.
 */
const KNOWN_BROWSERS = new Set<string>(Object.values(Bowser.BROWSER_MAP))
const KNOWN_SYSTEMS = new Set<string>(Object.values(Bowser.OS_MAP))

/** "Chrome on macOS", "Firefox on Windows", "an unknown browser on Linux", "an unknown device". */
export function describeDevice (userAgent: string | undefined): string {
  if (userAgent === undefined || userAgent.trim() === '') return 'an unknown device'
  let browser = ''
  let os = ''
  try {
    const parsed = Bowser.parse(userAgent.slice(0, 512))
    browser = KNOWN_BROWSERS.has(parsed.browser.name ?? '') ? parsed.browser.name! : ''
    os = KNOWN_SYSTEMS.has(parsed.os.name ?? '') ? parsed.os.name! : ''
  } catch {
    // An unparseable string is just an unknown device.
  }
  if (browser === '' && os === '') return 'an unknown device'
  return `${browser === '' ? 'an unknown browser' : browser} on ${os === '' ? 'an unknown system' : os}`
}

/** What `coarseIp` says when it cannot place an address. */
const UNKNOWN_NETWORK = 'an unknown network'

/** The eight 16-bit groups of an IPv6 address (null when it is not one). */
function ipv6Groups (ip: string): number[] | null {
  const [head = '', tail, extra] = ip.split('::')
  if (extra !== undefined) return null
  const parse = (part: string): number[] => part === '' ? [] : part.split(':').map((group) => /^[0-9a-f]{1,4}$/i.test(group) ? parseInt(group, 16) : NaN)
  const left = parse(head)
  const right = tail === undefined ? [] : parse(tail)
  const groups = tail === undefined ? left : [...left, ...Array<number>(8 - left.length - right.length).fill(0), ...right]
  return groups.length === 8 && groups.every((group) => Number.isInteger(group)) ? groups : null
}

/**
 * A coarse network location: the first three octets of IPv4 ("203.0.113.x"), the /48 of IPv6
 * ("2001:db8:85a3::/48"). IPv4-mapped IPv6 counts as IPv4.
 */
export function coarseIp (ip: string | undefined): string {
  if (ip === undefined) return UNKNOWN_NETWORK
  const v4 = /^(?:::ffff:)?(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.\d{1,3}$/i.exec(ip)
  if (v4 !== null) return `${v4[1]}.${v4[2]}.${v4[3]}.x`
  const groups = ipv6Groups(ip.replace(/%.*$/, ''))
  if (groups === null) return UNKNOWN_NETWORK
  return `${groups.slice(0, 3).map((group) => group.toString(16)).join(':')}::/48`
}

/**
 * Whether two coarse networks (`coarseIp` results) are the same: the same IPv4 /24 or the same
 * IPv6 /48. An IPv4 and an IPv6 network are different (a dual-stack home can show both); null when
 * either side is unknown (nothing to compare, so no warning either way).
 */
export function sameNetwork (a: string, b: string): boolean | null {
  if (a === UNKNOWN_NETWORK || b === UNKNOWN_NETWORK) return null
  return a === b
}
