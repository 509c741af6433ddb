import type { PasskeyView } from '../services/passkeys/passkeys.js'
import { ago, utcMinute } from './format.js'
import { escapeHtml } from './layout.js'
import { hidden } from './pages.js'

/** The two scripts of the passkey ceremonies, from our own origin (the CSP allows no inline script). */
export const PASSKEY_SCRIPTS = '<script src="/assets/simplewebauthn-browser.js" defer></script>\n<script src="/assets/passkeys.js" defer></script>'

/** Where the passkey script says what is happening (announced to screen readers). */
export const passkeyStatus = (id: string): string => `<p id="${id}" class="muted" aria-live="polite"></p>`

/** The start page's passkey offer: hidden until the script finds WebAuthn in the browser. */
export const passkeySignIn = `<div class="passkey-only" hidden>
<p class="muted">Or, if you added a passkey:</p>
<button type="button" id="passkey-signin" class="secondary">Sign in with a passkey</button>
<span hidden><button type="button" id="passkey-cancel" class="secondary">Cancel</button></span>
${passkeyStatus('passkey-status')}
</div>
${PASSKEY_SCRIPTS}`

function passkeyItem (passkey: PasskeyView, csrf: string, now: number): string {
  const labelId = `passkey-${escapeHtml(passkey.id)}`
  const created = new Date(passkey.createdAt)
  const used = passkey.lastUsedAt === null ? null : new Date(passkey.lastUsedAt)
  const synced = passkey.deviceType === 'multiDevice'
    ? (passkey.backedUp ? 'Synced' : 'Can sync, not synced yet')
    : 'This device only'
  return `<li>
<p id="${labelId}"><strong>${escapeHtml(passkey.name)}</strong> <span class="muted">· ${synced}</span></p>
<p class="muted">Added <time datetime="${escapeHtml(created.toISOString())}">${escapeHtml(utcMinute(created))}</time> · last used ${used === null ? 'never' : `<time datetime="${escapeHtml(used.toISOString())}" title="${escapeHtml(utcMinute(used))}">${ago(now - used.getTime())}</time>`}</p>
<form method="post" action="/account/passkeys/rename" class="inline">
${hidden('csrf', csrf)}${hidden('id', passkey.id)}
<label for="rename-${escapeHtml(passkey.id)}">New name for ${escapeHtml(passkey.name)}</label>
<input id="rename-${escapeHtml(passkey.id)}" name="name" maxlength="100" required value="${escapeHtml(passkey.name)}">
<button type="submit" class="secondary" aria-describedby="${labelId}">Rename</button>
</form>
<form method="post" action="/account/passkeys/delete">
${hidden('csrf', csrf)}${hidden('id', passkey.id)}
<button type="submit" class="danger secondary" aria-describedby="${labelId}">Delete passkey</button>
</form>
</li>`
}

/**
 * The account page's passkeys section: "Add a passkey" (script; hidden without WebAuthn), and the
 * list (name, synced or not, added, last used) with rename and delete forms, which work without script.
 */
export function passkeysSection ({ passkeys, csrf, now }: { passkeys: PasskeyView[], csrf: string, now: number }): string {
  return `<section aria-labelledby="passkeys-heading" id="passkeys">
<h2 id="passkeys-heading">Passkeys</h2>
<p class="muted">Sign in with a touch or a glance, no email needed. ${passkeys.length === 0 ? 'You have no passkeys yet.' : `You have ${passkeys.length === 1 ? 'one passkey' : `${passkeys.length} passkeys`}.`}</p>
${passkeys.length === 0 ? '' : `<ul class="sessions passkeys">\n${passkeys.map((passkey) => passkeyItem(passkey, csrf, now)).join('\n')}\n</ul>`}
<div class="passkey-only" hidden>
<button type="button" id="passkey-add">Add a passkey</button>
<span hidden><button type="button" id="passkey-cancel" class="secondary">Cancel</button></span>
${passkeyStatus('passkey-status')}
</div>
<noscript><p class="muted">Adding a passkey needs JavaScript.</p></noscript>
</section>
${PASSKEY_SCRIPTS}`
}
