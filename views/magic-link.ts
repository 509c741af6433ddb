import { escapeHtml, page } from './layout.js'
import { hidden, notice } from './pages.js'

/** The page a signup link opens: the address is fixed by the link; name and optional password. */
export function signupPage ({ token, email, csrf, error, name = '' }: { token: string, email: string, csrf: string, error?: string, name?: string }): string {
  return page('Create your account', `<h1>Create your account</h1>
${notice(error)}
<p>You are signing up as <strong>${escapeHtml(email)}</strong>.</p>
<form method="post" action="/auth/magic-link/verify">
${hidden('token', token)}${hidden('csrf', csrf)}
<label for="name">Your name</label>
<input id="name" name="name" autocomplete="name" required maxlength="100" value="${escapeHtml(name)}">
<label for="password">Password <span class="muted">(optional, 8–128 characters)</span></label>
<input id="password" name="password" type="password" autocomplete="new-password" minlength="8" maxlength="128">
<button type="submit">Create account</button>
</form>`)
}

/** The page a login link opens: nothing happens until the person clicks Continue. */
export function continuePage ({ token, email, csrf }: { token: string, email: string, csrf: string }): string {
  return page('Continue signing in', `<h1>Continue signing in</h1>
<p>Sign in as <strong>${escapeHtml(email)}</strong>?</p>
<form method="post" action="/auth/magic-link/verify">
${hidden('token', token)}${hidden('csrf', csrf)}
<button type="submit">Continue</button>
</form>
<p class="muted">If this wasn't you, close this page: nothing happens without the click.</p>`)
}

export function linkExpiredPage (): string {
  return page('Link expired', `<h1>This link no longer works</h1>
<p>Sign-in links work once and expire after a few minutes. This one was already used, has expired, or was copied incompletely.</p>
<p><a href="/">Request a new link or code</a></p>`)
}
