import Bowser from 'bowser'

/** Small wording helpers of the pages: waits, ages, dates and devices, said the way people say them. */

const plural = (n: number, unit: string): string => `${n} ${unit}${n === 1 ? '' : 's'}`

/** A wait, rounded up (never shorter than the real one): "38 seconds", "4 minutes", "1 hour 5 minutes". */
export function waitText (seconds: number): string {
  const s = Math.max(1, Math.ceil(seconds))
  if (s < 60) return plural(s, 'second')
  const m = Math.ceil(s / 60)
  if (m < 60) return plural(m, 'minute')
  const h = Math.floor(m / 60)
  return m % 60 === 0 ? plural(h, 'hour') : `${plural(h, 'hour')} ${plural(m % 60, 'minute')}`
}

/** How long ago: "just now", "12 minutes ago", "3 hours ago", "5 days ago". */
export function ago (elapsedMs: number): string {
  const minutes = Math.floor(Math.max(0, elapsedMs) / 60_000)
  if (minutes < 1) return 'just now'
  if (minutes < 60) return `${plural(minutes, 'minute')} ago`
  const hours = Math.floor(minutes / 60)
  if (hours < 48) return `${plural(hours, 'hour')} ago`
  return `${plural(Math.floor(hours / 24), 'day')} ago`
}

/** "2026-11-23 14:02 UTC": the server does not know the reader's time zone, so it says which one it uses. */
export const utcMinute = (date: Date): string => `${date.toISOString().slice(0, 16).replace('T', ' ')} UTC`

/**
 * "Chrome on Linux", "Firefox on Windows", "Safari on iOS"; an API client's own User-Agent
 * ("curl/8.5.0", shortened) when no browser is recognised; "Unknown device" without one.
 */
export function deviceName (userAgent: string | null | undefined): string {
  if (userAgent === null || userAgent === undefined || userAgent.trim() === '') return 'Unknown device'
  let browser = ''
  let os = ''
  try {
    const parsed = Bowser.parse(userAgent.slice(0, 512))
    browser = parsed.browser.name ?? ''
    os = parsed.os.name ?? ''
  } catch {
    // An unparseable string is an unknown device, not an error.
  }
  if (browser === '' && os === '') return userAgent.trim().slice(0, 60)
  if (os === '') return browser
  return `${browser === '' ? 'Unknown browser' : browser} on ${os}`
}
