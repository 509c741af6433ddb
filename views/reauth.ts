import { escapeHtml, page } from './layout.js'
import { fieldState, hidden, notice } from './pages.js'

/** Where a re-authentication page sends the person back to once it is done. */
export const REAUTH_NEXT = { delete: '/account/delete', passkeys: '/account#passkeys' } as const
export type ReauthNext = keyof typeof REAUTH_NEXT

const WHAT = { delete: 'delete your account', passkeys: 'change your passkeys' } as const

/**
 * "Confirm it's you": the sign-in behind this browser is older than RECENT_AUTH_WINDOW and the next
 * step is sensitive. Email a code (works without JavaScript) and type it here; or, with a passkey
 * and JavaScript, use the passkey (the button stays hidden until the script has checked the browser
 * supports it). Either way the same session gets a fresh auth_time; no new session is made.
 */
export function reauthenticatePage ({ csrf, next, sent, error, info, passkeys }: { csrf: string, next: ReauthNext, sent: boolean, error?: string, info?: string, passkeys: boolean }): string {
  const codeForm = sent
    ? `<form method="post" action="/account/reauthenticate">
${hidden('csrf', csrf)}${hidden('next', next)}
<label for="code">Code from the email</label>
<input id="code" name="code" class="code" inputmode="numeric" autocomplete="one-time-code" pattern="[0-9]{6}" minlength="6" maxlength="6" required${fieldState({ focus: true, invalid: error !== undefined })}>
<button type="submit">Confirm</button>
</form>`
    : ''
  const passkey = passkeys
    ? `<div class="passkey-only" hidden>
<button type="button" id="passkey-reauth" data-next="${escapeHtml(REAUTH_NEXT[next])}">Confirm with a passkey</button>
<p id="passkey-status" class="muted" aria-live="polite"></p>
</div>
<script src="/assets/simplewebauthn-browser.js" defer></script>
<script src="/assets/passkeys.js" defer></script>`
    : ''
  return page('Confirm it\'s you', `<h1>Confirm it's you</h1>
${notice(info, 'info')}${notice(error)}
<p>To ${WHAT[next]}, you need to have signed in recently. Confirm with a code we email you${passkeys ? ' or with one of your passkeys' : ''}; you stay signed in on this device.</p>
${codeForm}
<form method="post" action="/account/reauthenticate/code">
${hidden('csrf', csrf)}${hidden('next', next)}
<button type="submit"${sent ? ' class="secondary"' : ''}>${sent ? 'Send a new code' : 'Email me a code'}</button>
</form>
${passkey}
<p class="muted"><a href="/account">Back to your account</a></p>`)
}
