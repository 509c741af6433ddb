import { minutes as lifetime } from '../services/email/mail-templates.js'
import { addressHtml, escapeHtml, page } from './layout.js'
import { fieldState, hidden, notice, startUrl } from './pages.js'

/**
 * The page a signup link opens: the address is fixed by the link; name and optional password.
 * The name field has the focus, or the password field when the password was what was wrong.
 * The address rides along in the form only so that a link that expires meanwhile can offer a
 * new one for the same address; the account is always made for the link's own address.
 */
export function signupPage ({ token, email, csrf, error, errorField = 'name', name = '' }: { token: string, email: string, csrf: string, error?: string, errorField?: 'name' | 'password', name?: string }): string {
  const inError = (field: 'name' | 'password'): boolean => error !== undefined && errorField === field
  return page('Create your account', `<h1>Create your account</h1>
${notice(error)}
<p>You are signing up as <strong>${addressHtml(email)}</strong>.</p>
<form method="post" action="/auth/magic-link/verify">
${hidden('token', token)}${hidden('csrf', csrf)}${hidden('email', email)}
<label for="name">Your name</label>
<input id="name" name="name" autocomplete="name" required maxlength="100" value="${escapeHtml(name)}"${fieldState({ focus: !inError('password'), invalid: inError('name') })}>
<label for="password">Password <span class="muted">(optional, 8–128 characters)</span></label>
<input id="password" name="password" type="password" autocomplete="new-password" minlength="8" maxlength="128"${fieldState({ focus: inError('password'), invalid: inError('password') })}>
<button type="submit">Create account</button>
</form>`)
}

/** The page a login link opens: nothing happens until the person clicks Continue. */
export function continuePage ({ token, email, csrf }: { token: string, email: string, csrf: string }): string {
  return page('Continue signing in', `<h1>Continue signing in</h1>
<p>Sign in as <strong>${addressHtml(email)}</strong>?</p>
<form method="post" action="/auth/magic-link/verify">
${hidden('token', token)}${hidden('csrf', csrf)}${hidden('email', email)}
<button type="submit" autofocus>Continue</button>
</form>
<p class="muted">If this wasn't you, close this page: nothing happens without the click.</p>`)
}

/**
 * A dead link (used, expired, or mangled). `email` is known only when the page's own form was
 * posted after the link died; a link opened from the email is looked up by its token alone.
 */
export function linkExpiredPage ({ ttlSeconds, email }: { ttlSeconds: number, email?: string }): string {
  return page('Link expired', `<h1>This link no longer works</h1>
<p>Sign-in links work once and expire ${lifetime(ttlSeconds)} after they are sent. This one was already used, has expired, or was copied incompletely.</p>
<p><a href="${escapeHtml(startUrl(email))}">Request a new link or code</a></p>`)
}
