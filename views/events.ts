import type { SignInNotice } from '../services/events/new-device.js'
import { escapeHtml, page } from './layout.js'

const hidden = (name: string, value: string): string => `<input type="hidden" name="${name}" value="${escapeHtml(value)}">`
const when = (iso: string): string => `${iso.slice(0, 16).replace('T', ' ')} UTC`

/** GET /auth/sign-out-session: what signed in, and one button; nothing happens until it is pressed (mail scanners only GET). */
export function signOutSessionPage ({ token, notice }: { token: string, notice: SignInNotice }): string {
  return page('Sign that session out?', `<h1>Sign that session out?</h1>
<p>A sign-in to your account on <strong>${escapeHtml(notice.device)}</strong>, near <strong>${escapeHtml(notice.place)}</strong>, at ${escapeHtml(when(notice.at))}.</p>
<p>If it was not you, sign it out: it stops working at once.</p>
<form method="post" action="/auth/sign-out-session">
${hidden('token', token)}
<button type="submit" class="danger">Sign that session out</button>
</form>`)
}

export function sessionSignedOutPage ({ notice }: { notice: SignInNotice }): string {
  return page('Session signed out', `<h1>That session is signed out</h1>
<p>The sign-in on <strong>${escapeHtml(notice.device)}</strong>, near <strong>${escapeHtml(notice.place)}</strong> no longer works.</p>
<p>If someone else could sign in, they may have access to your email: secure it, then <a href="/">sign in</a> and check where you are signed in.</p>`)
}

export function signOutLinkGonePage (): string {
  return page('Link used or expired', `<h1>This link was used or has expired</h1>
<p>Each "Not you?" link works once. <a href="/">Sign in</a> to see and end your sessions on your account page.</p>`)
}
