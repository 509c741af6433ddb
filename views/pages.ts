import type { CapturedMail } from '../services/email/mailer.js'
import type { PublicUser } from '../services/accounts/users.js'
import { escapeHtml, page } from './layout.js'

/** Server-rendered pages of the sign-in flow. Every value is escaped; no scripts, no inline styles. */

export const hidden = (name: string, value: string): string =>
  `<input type="hidden" name="${name}" value="${escapeHtml(value)}">`

/** A message above a form: `role="alert"` so screen readers announce it. */
export const notice = (message: string | undefined, kind: 'error' | 'info' = 'error'): string =>
  message === undefined ? '' : `<p class="notice${kind === 'error' ? ' error' : ''}" role="${kind === 'error' ? 'alert' : 'status'}">${escapeHtml(message)}</p>`

/** GET /: one email field, two ways to sign in. */
export function startPage ({ csrf, email = '', error, info }: { csrf: string, email?: string, error?: string, info?: string }): string {
  return page('Sign in', `<h1>Sign in or create an account</h1>
${notice(info, 'info')}${notice(error)}
<form method="post" action="/">
${hidden('csrf', csrf)}
<label for="email">Email address</label>
<input id="email" name="email" type="email" autocomplete="email" inputmode="email" required maxlength="254" value="${escapeHtml(email)}"${error !== undefined ? ' aria-invalid="true"' : ''}>
<div class="row">
<button type="submit" name="method" value="link">Email me a link</button>
<button type="submit" name="method" value="code" class="secondary">Email me a code</button>
<button type="submit" formaction="/auth/magic-link/requests" class="secondary">Sign in on this device from my phone</button>
</div>
</form>
<p class="muted">No password needed. New here? The same email creates your account.</p>`)
}

/** After asking for a link: the same page whether or not the address has an account. */
export function checkInboxPage ({ email }: { email: string }): string {
  return page('Check your inbox', `<h1>Check your inbox</h1>
<p>If <strong>${escapeHtml(email)}</strong> can receive mail, a sign-in link is on its way. Open it on this device.</p>
<p class="muted">The link works once and expires in a few minutes. Nothing arrived? Check your spam folder, or <a href="/">ask again</a> in a minute.</p>`)
}

/** The code-entry page (GET /code, and again after a wrong code). */
export function codePage ({ csrf, email, error, info, name = '' }: { csrf: string, email: string, error?: string, info?: string, name?: string }): string {
  return page('Enter your code', `<h1>Enter your code</h1>
${notice(info, 'info')}${notice(error)}
<p>We sent a 6-digit code to <strong>${escapeHtml(email)}</strong> (if it can receive mail).</p>
<form method="post" action="/code">
${hidden('csrf', csrf)}${hidden('email', email)}
<label for="code">Code</label>
<input id="code" name="code" class="code" inputmode="numeric" autocomplete="one-time-code" pattern="[0-9]{6}" minlength="6" maxlength="6" required${error !== undefined ? ' aria-invalid="true"' : ''}>
<label for="name">Your name <span class="muted">(only if you are new here)</span></label>
<input id="name" name="name" autocomplete="name" maxlength="100" value="${escapeHtml(name)}">
<button type="submit">Sign in</button>
</form>
<p class="muted">No code? <a href="/?email=${encodeURIComponent(email)}">Request a new one</a>.</p>`)
}

/** GET /account: who you are, and a way out. */
export function accountPage ({ csrf, account }: { csrf: string, account: PublicUser }): string {
  const since = new Date(account.createdAt)
  return page('Your account', `<h1>You are signed in</h1>
<dl>
<dt>Name</dt><dd>${escapeHtml(account.name)}</dd>
<dt>Email</dt><dd>${escapeHtml(account.email)}</dd>
<dt>Member since</dt><dd><time datetime="${escapeHtml(since.toISOString())}">${escapeHtml(since.toISOString().slice(0, 10))}</time></dd>
</dl>
<form method="post" action="/account/logout">
${hidden('csrf', csrf)}
<button type="submit">Log out</button>
</form>`)
}

/** A form posted without a matching CSRF token (stale tab, cookies blocked, or a forged request). */
export function formExpiredPage (): string {
  return page('Form expired', `<h1>This form has expired</h1>
<p>For your safety we could not accept it. This happens when a page was open for a long time or cookies are blocked.</p>
<p><a href="/">Start again</a> (if you came from an email link, open the link again).</p>`)
}

/** A finished account for a signup link (another tab won the race, or the address signed up since). */
export function emailTakenPage (): string {
  return page('Already registered', `<h1>You already have an account</h1>
<p>This address is already registered. <a href="/">Request a sign-in link or code</a> instead.</p>`)
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
<p class="muted">To <strong>${escapeHtml(mail.to)}</strong> · <time datetime="${mail.date.toISOString()}">${escapeHtml(mail.date.toISOString().replace('T', ' ').slice(0, 19))} UTC</time></p>
<pre>${linkify(mail.text)}</pre>
</article>`).join('\n')
  return page('Dev inbox', `<h1>Dev inbox</h1>
<p class="muted">Development mode: emails are captured here instead of being sent (newest first, last 100). Reload to see new mail.</p>
${messages.length === 0 ? '<p>No mail yet. <a href="/">Sign in</a> to get some.</p>' : items}`, { wide: true })
}
