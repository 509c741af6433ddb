import type { CapturedMail } from '../services/email/mailer.js'
import { minutes as lifetime } from '../services/email/mail-templates.js'
import type { PublicUser } from '../services/accounts/users.js'
import type { SessionView } from '../services/sessions/sessions.js'
import type { AuditEvent } from '../services/events/event-types.js'
import { coarseIp } from '../services/links/cross-device-describe.js'
import { ago, deviceName, utcMinute, waitText } from './format.js'
import { addressHtml, escapeHtml, page } from './layout.js'

/** Server-rendered pages of the sign-in flow. Every value is escaped; no scripts, no inline styles. */

export const hidden = (name: string, value: string): string =>
  `<input type="hidden" name="${name}" value="${escapeHtml(value)}">`

/** The id of a form's error message, which the field in error points at (aria-describedby). */
const ERROR_ID = 'form-error'

/** A message above a form: `role="alert"` so screen readers announce it. */
export const notice = (message: string | undefined, kind: 'error' | 'info' = 'error'): string =>
  message === undefined
    ? ''
    : kind === 'error'
      ? `<p class="notice error" id="${ERROR_ID}" role="alert">${escapeHtml(message)}</p>`
      : `<p class="notice" role="status">${escapeHtml(message)}</p>`

/**
 * The state attributes of a field: `autofocus` on the one field the person should type in next
 * (the field in error when there is one: the server moves the focus, no script needed), and
 * `aria-invalid` with the error message as its description when it is the field in error.
 */
export const fieldState = ({ focus = false, invalid = false }: { focus?: boolean, invalid?: boolean }): string =>
  `${focus ? ' autofocus' : ''}${invalid ? ` aria-invalid="true" aria-describedby="${ERROR_ID}"` : ''}`

/** The start page with an address already typed in ("ask again" links keep the address). */
export const startUrl = (email?: string): string => email === undefined || email === '' ? '/' : `/?email=${encodeURIComponent(email)}`

/** GET /: one email field, two ways to sign in. The field has the focus; a bad address is marked. */
export function startPage ({ csrf, email = '', error, invalidEmail = false, info, passkeys }: { csrf: string, email?: string, error?: string, invalidEmail?: boolean, info?: string, passkeys?: string }): string {
  return page('Sign in', `<h1>Sign in or create an account</h1>
${notice(info, 'info')}${notice(error)}
<form method="post" action="/">
${hidden('csrf', csrf)}
<label for="email">Email address</label>
<input id="email" name="email" type="email" autocomplete="username webauthn" inputmode="email" required maxlength="254" value="${escapeHtml(email)}"${fieldState({ focus: true, invalid: invalidEmail })}>
<div class="row">
<button type="submit" name="method" value="link">Email me a link</button>
<button type="submit" name="method" value="code" class="secondary">Email me a code</button>
<button type="submit" formaction="/auth/magic-link/requests" class="secondary">Sign in on this device from my phone</button>
</div>
</form>
<p class="muted">No password needed. New here? The same email creates your account.</p>${passkeys ?? ''}`)
}

/** After asking for a link: the same page whether or not the address has an account. */
export function checkInboxPage ({ email, ttlSeconds }: { email: string, ttlSeconds: number }): string {
  return page('Check your inbox', `<h1>Check your inbox</h1>
<p>If <strong>${addressHtml(email)}</strong> can receive mail, a sign-in link is on its way. Open it on this device.</p>
<p class="muted">The link works once and expires in ${lifetime(ttlSeconds)}. Nothing arrived? Check your spam folder, or <a href="${escapeHtml(startUrl(email))}">ask again</a> in a minute.</p>`)
}

/**
 * The code-entry page (GET /code, and again after a wrong code). The code field has the focus,
 * unless the name is what was wrong.
 */
export function codePage ({ csrf, email, ttlSeconds, error, errorField = 'code', info, name = '' }: {
  csrf: string
  email: string
  ttlSeconds: number
  error?: string
  errorField?: 'code' | 'name'
  info?: string
  name?: string
}): string {
  const inError = (field: 'code' | 'name'): boolean => error !== undefined && errorField === field
  return page('Enter your code', `<h1>Enter your code</h1>
${notice(info, 'info')}${notice(error)}
<p>We sent a 6-digit code to <strong>${addressHtml(email)}</strong> (if it can receive mail). It works once and expires ${lifetime(ttlSeconds)} after it was sent.</p>
<form method="post" action="/code">
${hidden('csrf', csrf)}${hidden('email', email)}
<label for="code">Code</label>
<input id="code" name="code" class="code" inputmode="numeric" autocomplete="one-time-code" pattern="[0-9]{6}" minlength="6" maxlength="6" required${fieldState({ focus: !inError('name'), invalid: inError('code') })}>
<label for="name">Your name <span class="muted">(only if you are new here)</span></label>
<input id="name" name="name" autocomplete="name" maxlength="100" value="${escapeHtml(name)}"${fieldState({ focus: inError('name'), invalid: inError('name') })}>
<button type="submit">Sign in</button>
</form>
<p class="muted">No code? <a href="${escapeHtml(startUrl(email))}">Request a new one</a>.</p>`)
}

const LOCK_ICON = '<svg class="lock" viewBox="0 0 24 24" width="40" height="40" aria-hidden="true" focusable="false"><path fill="currentColor" d="M12 2a5 5 0 0 0-5 5v3H6a2 2 0 0 0-2 2v8a2 2 0 0 0 2 2h12a2 2 0 0 0 2-2v-8a2 2 0 0 0-2-2h-1V7a5 5 0 0 0-5-5Zm-3 5a3 3 0 1 1 6 0v3H9V7Zm3 7a2 2 0 0 1 1 3.73V19h-2v-1.27A2 2 0 0 1 12 14Z"/></svg>'

/**
 * Code entry is locked. `code`: this code took too many wrong guesses and is gone; a new code
 * can be sent after `sendWait` seconds (the email cooldown, 0 = now). `address`: the address
 * spent its hourly guesses (or is backing off): no code works for `wait` seconds, whatever is
 * typed, while a sign-in link still does. No code form: only ways forward.
 */
export function codeLockedPage ({ csrf, email, lock }: { csrf: string, email: string, lock: { kind: 'code', sendWait: number } | { kind: 'address', wait: number } }): string {
  const send = `<button type="submit" name="method" value="code"${lock.kind === 'address' ? ' class="secondary"' : ''}>Send a new code</button>`
  const link = `<button type="submit" name="method" value="link"${lock.kind === 'code' ? ' class="secondary"' : ''}>Email me a link instead</button>`
  const [why, next, buttons] = lock.kind === 'code'
    ? [
        'This code was entered wrong too many times, so it no longer works, even if you find the right one.',
        lock.sendWait > 0 ? `You can send a new code in <strong>${waitText(lock.sendWait)}</strong>.` : 'You can send a new code now.',
        send + link
      ]
    : [
        'For your safety, codes for this address are locked after too many wrong tries.',
        // A code requested just now may still be live after a short back-off: "try again", not "send a new code".
        `Codes work again in <strong>${waitText(lock.wait)}</strong>: try again then (with a new code if yours has expired). A sign-in link works now.`,
        link + send
      ]
  return page('Code locked', `<div class="locked">${LOCK_ICON}<h1>Code locked</h1></div>
<p class="notice error" id="${ERROR_ID}" role="alert">${why}</p>
<p>${next}</p>
<form method="post" action="/">
${hidden('csrf', csrf)}${hidden('email', email)}
<div class="row">${buttons}</div>
</form>
<p class="muted">Codes go to <strong>${addressHtml(email)}</strong>. <a href="${escapeHtml(startUrl(email))}">Use another address</a></p>`)
}

/** One live session in the account page's list: device, IP, when it started and was last used; a way to end it. */
function sessionItem (session: SessionView, csrf: string, now: number): string {
  const device = deviceName(session.userAgent)
  const lastUsed = new Date(session.lastUsedAt)
  const started = new Date(session.createdAt)
  const labelId = `session-${escapeHtml(session.id)}`
  // This device's session ends with the Log out button above; every other one has its own button.
  const end = session.current
    ? ''
    : `<form method="post" action="/account/sessions/revoke">${hidden('csrf', csrf)}${hidden('session', session.id)}<button type="submit" class="secondary" aria-describedby="${labelId}">Sign out this session</button></form>`
  return `<li>
<p id="${labelId}"><strong>${escapeHtml(device)}</strong>${session.current ? '<span class="badge">This device</span>' : ''}</p>
<p class="muted">IP ${escapeHtml(session.ip ?? 'unknown')} · last used <time datetime="${escapeHtml(lastUsed.toISOString())}" title="${escapeHtml(utcMinute(lastUsed))}">${ago(now - lastUsed.getTime())}</time> · signed in <time datetime="${escapeHtml(started.toISOString())}">${escapeHtml(utcMinute(started))}</time></p>
${end}
</li>`
}

const METHOD_WORDS: Record<string, string> = { magic_link: 'an email link', otp: 'a code', password: 'a password', passkey: 'a passkey', cross_device: 'another device' }
const REASON_WORDS: Record<string, string> = {
  logout: 'logged out',
  logout_all: 'logged out everywhere',
  session_deleted: 'signed out from another session',
  refresh_reused: 'ended: its refresh token was used twice',
  account_deleted: 'account deleted',
  admin: 'ended by an administrator'
}

/** One line of "Recent activity": what happened, with the device and a coarse place for sign-ins. */
function activityText (event: AuditEvent): string {
  const data = event.data
  switch (event.type) {
    case 'session.created': return `Signed in with ${METHOD_WORDS[String(data.method)] ?? 'an unknown method'} on ${deviceName(event.userAgent)}, near ${coarseIp(event.ip)}`
    case 'session.revoked': return `A session ${REASON_WORDS[String(data.reason)] ?? 'ended'}`
    case 'passkey.added': return 'Passkey added'
    case 'passkey.removed': return 'Passkey removed'
    case 'user.created': return 'Account created'
    case 'user.updated': return 'Account details changed'
    case 'otp.locked': return 'A sign-in code was locked after too many wrong guesses'
    case 'user.disabled': return 'Account disabled'
    case 'user.enabled': return 'Account enabled again'
    default: return event.type
  }
}

function activityItem (event: AuditEvent, now: number): string {
  const at = new Date(event.timestamp)
  return `<li><p>${escapeHtml(activityText(event))}</p><p class="muted"><time datetime="${escapeHtml(at.toISOString())}" title="${escapeHtml(utcMinute(at))}">${ago(now - at.getTime())}</time></p></li>`
}

/**
 * GET /account: who you are; your name (rename); where you are signed in (each session with its
 * device, IP and last use, this one marked; sign one out, or all of them); deleting the account
 * (through a confirmation page). Every form POSTs with the CSRF token.
 */
export function accountPage ({ csrf, account, sessions, now, info, nameError, name, passkeys, activity = [] }: {
  /** The passkeys section (views/passkeys.ts), already rendered. */
  passkeys?: string
  csrf: string
  account: PublicUser
  sessions: SessionView[]
  /** Recent security events, newest first (GET /auth/activity's first page). */
  activity?: AuditEvent[]
  now: number
  info?: string
  nameError?: string
  name?: string
}): string {
  const since = new Date(account.createdAt)
  const others = sessions.filter((session) => !session.current).length
  return page('Your account', `<h1>Your account</h1>
${notice(info, 'info')}${notice(nameError)}
<dl>
<dt>Name</dt><dd>${escapeHtml(account.name)}</dd>
<dt>Email</dt><dd>${addressHtml(account.email)}</dd>
<dt>Member since</dt><dd><time datetime="${escapeHtml(since.toISOString())}">${escapeHtml(since.toISOString().slice(0, 10))}</time></dd>
</dl>
<form method="post" action="/account/logout">
${hidden('csrf', csrf)}
<button type="submit">Log out</button>
</form>
<section aria-labelledby="name-heading">
<h2 id="name-heading">Your name</h2>
<form method="post" action="/account/name">
${hidden('csrf', csrf)}
<label for="name">Name</label>
<input id="name" name="name" autocomplete="name" required maxlength="100" value="${escapeHtml(name ?? account.name)}"${fieldState({ focus: nameError !== undefined, invalid: nameError !== undefined })}>
<button type="submit" class="secondary">Save name</button>
</form>
</section>
<section aria-labelledby="sessions-heading">
<h2 id="sessions-heading">Where you are signed in</h2>
<ul class="sessions">
${[...sessions].sort((a, b) => Number(b.current) - Number(a.current)).map((session) => sessionItem(session, csrf, now)).join('\n')}
</ul>
<form method="post" action="/account/logout-all">
${hidden('csrf', csrf)}
<button type="submit" class="secondary">Log out everywhere</button>
</form>
<p class="muted">Ends ${others === 0 ? 'this session' : `all ${sessions.length} sessions, this one included`}: every token stops working at once.</p>
</section>
${passkeys ?? ''}
<section aria-labelledby="activity-heading">
<h2 id="activity-heading">Recent activity</h2>
${activity.length === 0 ? '<p class="muted">Nothing yet.</p>' : `<ul class="activity">\n${activity.map((event) => activityItem(event, now)).join('\n')}\n</ul>`}
</section>
<section aria-labelledby="delete-heading">
<h2 id="delete-heading">Delete your account</h2>
<p class="muted">Removes your account, its sessions and its data for good. You will be asked to confirm.</p>
<a class="button danger secondary" href="/account/delete">Delete account…</a>
</section>`)
}

/** GET /account/delete: the confirmation step; nothing is deleted until the button is pressed. */
export function deleteAccountPage ({ csrf, account, sessionCount }: { csrf: string, account: PublicUser, sessionCount: number }): string {
  return page('Delete your account', `<h1>Delete your account?</h1>
<p class="notice error" role="alert">This cannot be undone.</p>
<p>The account <strong>${addressHtml(account.email)}</strong> (${escapeHtml(account.name)}), its ${sessionCount === 1 ? 'session' : `${sessionCount} sessions`} and everything it owns will be deleted, and every device is signed out at once. The same address can sign up again later as a new account.</p>
<form method="post" action="/account/delete">
${hidden('csrf', csrf)}${hidden('confirm', 'delete')}
<div class="row">
<button type="submit" class="danger">Delete my account</button>
<a class="button secondary" href="/account" autofocus>Keep my account</a>
</div>
</form>`)
}

/** A form posted without a matching CSRF token (stale tab, cookies blocked, or a forged request). */
export function formExpiredPage ({ email }: { email?: string } = {}): string {
  return page('Form expired', `<h1>This form has expired</h1>
<p>For your safety we could not accept it. This happens when a page was open for a long time or cookies are blocked.</p>
<p><a href="${escapeHtml(startUrl(email))}">Start again</a> (if you came from an email link, open the link again).</p>`)
}

/** A finished account for a signup link (another tab won the race, or the address signed up since). */
export function emailTakenPage ({ email }: { email: string }): string {
  return page('Already registered', `<h1>You already have an account</h1>
<p><strong>${addressHtml(email)}</strong> is already registered. <a href="${escapeHtml(startUrl(email))}">Request a sign-in link or code</a> instead.</p>`)
}

/** An unknown URL asked for by a browser (API clients get the JSON 404). */
export function notFoundPage ({ path }: { path: string }): string {
  return page('Page not found', `<h1>Page not found</h1>
<p>There is no page at <code>${escapeHtml(path)}</code>. The address may be mistyped, or the page has moved.</p>
<p><a href="/">Go to the start page</a> · <a href="/account">Your account</a> · <a href="/docs">API documentation</a></p>`)
}

/** Lists captured mail (development only): newest first, text parts, links clickable. */
export function devInboxPage ({ messages, appUrl }: { messages: CapturedMail[], appUrl: string }): string {
  const origin = new URL(appUrl).origin
  const linkify = (text: string): string => escapeHtml(text).replace(/https?:\/\/[^\s<>&"']+(?:&#38;[^\s<>&"']+)*/g, (url) => {
    const raw = url.replace(/&#38;/g, '&')
    return raw.startsWith(`${origin}/`) ? `<a href="${url}">${url}</a>` : url
  })
  const items = messages.map((mail) => `<article class="mail" aria-labelledby="mail-${mail.id}">
<h2 id="mail-${mail.id}">${escapeHtml(mail.subject)}</h2>
<p class="muted">To <strong>${addressHtml(mail.to)}</strong> · <time datetime="${mail.date.toISOString()}">${escapeHtml(mail.date.toISOString().replace('T', ' ').slice(0, 19))} UTC</time></p>
<pre>${linkify(mail.text)}</pre>
</article>`).join('\n')
  return page('Dev inbox', `<h1>Dev inbox</h1>
<p class="muted">Development mode: emails are captured here instead of being sent (newest first, last 100). Reload to see new mail.</p>
${messages.length === 0 ? '<p>No mail yet. <a href="/">Sign in</a> to get some.</p>' : items}`, { wide: true })
}
