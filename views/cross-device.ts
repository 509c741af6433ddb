import type { ApprovalView, DenialReason } from '../services/links/cross-device.js'
import { addressHtml, escapeHtml, page } from './layout.js'
import { fieldState, hidden, notice, startUrl } from './pages.js'

/**
 * Pages of the cross-device sign-in: the waiting screen on the device that asked, the approval
 * page the emailed link opens (any device), and their outcomes. Their few extra styles and the
 * waiting screen's script are files of our own origin (the CSP allows no inline style or script),
 * linked from the page body so the shared layout stays as it is.
 */
const styles = '<link rel="stylesheet" href="/assets/cross-device.css">'

/** A match number as the person sees and types it: always two digits ("07"). */
export const twoDigits = (n: number): string => String(n).padStart(2, '0')

const minutesSeconds = (ms: number): string => {
  const seconds = Math.max(0, Math.round(ms / 1000))
  return `${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, '0')}`
}

/**
 * The device that asked: the number to type on the phone. Live through Server-Sent Events
 * (/assets/cross-device.js); without JavaScript the <noscript> refresh reloads it every 5 s, and
 * each load reports the state (and signs in once approved).
 */
export function waitingPage ({ requestId, matchNumber, email, expiresAt, now }: { requestId: string, matchNumber: number, email: string, expiresAt: number, now: number }): string {
  const path = `/auth/magic-link/requests/${requestId}`
  return page('Approve on your phone', `${styles}
<noscript><meta http-equiv="refresh" content="5"></noscript>
<h1>Approve on your phone</h1>
<div class="waiting" data-events="${escapeHtml(path)}/events" data-page="${escapeHtml(path)}" data-expires-in="${Math.max(0, Math.round((expiresAt - now) / 1000))}">
<p class="who">We emailed a link to <strong>${addressHtml(email)}</strong> (if it can receive mail). Open it on your phone, or on any device, and type this number there:</p>
<p class="match" id="match-number" aria-label="Your number is ${twoDigits(matchNumber)}">${twoDigits(matchNumber)}</p>
<p id="status" class="notice" role="status" aria-live="polite">Waiting for your approval. This page updates by itself.</p>
<p class="muted">The request expires in <span id="countdown">${minutesSeconds(expiresAt - now)}</span>. Nobody is signed in until the right number is typed.</p>
</div>
<p class="muted"><a href="${escapeHtml(startUrl(email))}">Start again</a></p>
<script src="/assets/cross-device.js" defer></script>`)
}

/** The device that asked, after a denial (Deny pressed, or a wrong number typed). */
export function requestDeniedPage ({ reason }: { reason: DenialReason }): string {
  const why = reason === 'wrong-number'
    ? 'A number that was not the one on this screen was typed, so the request was cancelled for your safety.'
    : 'The sign-in was denied on the other device.'
  return page('Sign-in denied', `${styles}
<h1>Sign-in denied</h1>
<p class="notice error" role="alert">${escapeHtml(why)} Nobody was signed in.</p>
<p>If it was you, <a href="/">start again</a> and type the number this screen shows.</p>`)
}

/** The device that asked, when the request is gone (expired, finished in another tab, or started in another browser). */
export function requestExpiredPage ({ ttlSeconds }: { ttlSeconds: number }): string {
  const minutes = Math.max(1, Math.round(ttlSeconds / 60))
  return page('Request expired', `${styles}
<h1>This sign-in request has expired</h1>
<p>Requests to sign in from another device last ${minutes} minute${minutes === 1 ? '' : 's'}. This one expired, was already used, or was started in another browser.</p>
<p><a href="/">Start again</a></p>`)
}

/** Where a device is, as the approval page shows it. */
export interface Whereabouts { device: string, place: string }

/**
 * Where the request came from next to where the approver is, and a plain warning when the two are
 * on different networks (IPv4 /24, IPv6 /48: services/links/cross-device-describe.ts, sameNetwork).
 * A phishing site that asks in the victim's name asks from its own network.
 */
function whereabouts (asking: Whereabouts, here: Whereabouts, sameNetwork: boolean | null): string {
  const warning = sameNetwork === false
    ? '<p class="notice warn" role="alert"><strong>The device asking is on a different network from this one.</strong> That is normal when one of them uses mobile data or a VPN. If you are not at that device yourself, or a website or a caller asked you to approve this, press Deny.</p>'
    : sameNetwork === true ? '<p class="muted">Both devices are on the same network.</p>' : ''
  return `<dl class="where">
<dt>Asking to sign in</dt><dd id="asking">${escapeHtml(asking.device)}, network ${escapeHtml(asking.place)}</dd>
<dt>This device</dt><dd id="approving">${escapeHtml(here.device)}, network ${escapeHtml(here.place)}</dd>
</dl>
${warning}`
}

/**
 * The approval page the emailed link opens: who asks, from where (next to where this device is),
 * and a field to type the number the asking screen shows. The number itself is never on this page.
 */
export function approvalPage ({ token, csrf, view, here, sameNetwork, ago, error, nameError = false, numberError = false, name = '' }: {
  token: string
  csrf: string
  view: ApprovalView
  here: Whereabouts
  sameNetwork: boolean | null
  ago: string
  error?: string
  nameError?: boolean
  numberError?: boolean
  name?: string
}): string {
  const signup = view.purpose === 'signup'
  return page(signup ? 'Approve your new account' : 'Approve sign-in', `${styles}
<h1>${signup ? 'Create your account on another device?' : 'Sign in on another device?'}</h1>
${notice(error)}
<p class="who">${signup ? 'Create an account for' : 'Sign in as'} <strong>${addressHtml(view.email)}</strong> on <strong>${escapeHtml(view.device)}</strong>, near <strong>${escapeHtml(view.place)}</strong>, ${escapeHtml(ago)}?</p>
${whereabouts(view, here, sameNetwork)}
<form method="post" action="/auth/magic-link/approve">
${hidden('token', token)}${hidden('csrf', csrf)}
${signup
  ? `<label for="name">Your name</label>
<input id="name" name="name" autocomplete="name" required maxlength="100" value="${escapeHtml(name)}"${fieldState({ focus: nameError, invalid: nameError })}>
`
  : ''}<label for="choice">Type the number shown on the device that asked</label>
<input id="choice" name="choice" class="match-input" inputmode="numeric" pattern="[0-9]{1,2}" maxlength="2" autocomplete="off" required${fieldState({ focus: numberError || (!nameError && !signup), invalid: numberError })}>
<label class="check"><input type="checkbox" name="here" value="1"> Also sign me in on this device</label>
<button type="submit" name="decision" value="approve">Approve</button>
</form>
<form method="post" action="/auth/magic-link/approve">
${hidden('token', token)}${hidden('csrf', csrf)}
<button type="submit" name="decision" value="deny" class="secondary">Deny: this was not me</button>
</form>
<p class="muted">Only the screen that asked shows the number; it is never in the email or on this page. A wrong number cancels the request. Not you? Press Deny: nobody gets in without your approval.</p>`)
}

/** The approving device, after the right number (when it did not ask to be signed in too). */
export function approvedPage ({ device }: { device: string }): string {
  return page('Approved', `${styles}
<h1>Approved</h1>
<p class="notice" role="status">${escapeHtml(device[0]?.toUpperCase() + device.slice(1))} is signing in now. You can close this page.</p>
<p class="muted">This device was not signed in.</p>`)
}

/** The approving device, after Deny. */
export function deniedHerePage (): string {
  return page('Denied', `${styles}
<h1>Denied</h1>
<p class="notice" role="status">Nobody was signed in, and the request is cancelled.</p>
<p class="muted">If you did not ask for this, someone typed your address. They cannot get in without you; you can ignore further emails like this one.</p>`)
}

/** The approving device, after typing a number that was not the one shown. */
export function wrongNumberPage (): string {
  return page('Request cancelled', `${styles}
<h1>That was not the number</h1>
<p class="notice error" role="alert">For your safety the request is cancelled, and nobody was signed in.</p>
<p>If it was you, start again on that device and type the number it shows.</p>`)
}

/** The approving device, when the request was already approved or denied (another tab, or a second click). */
export function alreadyAnsweredPage (): string {
  return page('Already answered', `${styles}
<h1>This request was already answered</h1>
<p>A sign-in request can be approved or denied once. If you need to sign in again, start again on the device you want to use.</p>`)
}
