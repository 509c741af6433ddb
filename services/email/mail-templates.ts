/** Text + HTML bodies of the emails Latchkey sends. Plain functions, no I/O. */
export interface MailContent {
  subject: string
  text: string
  html: string
  /** What the email carries, for the development inbox's JSON form (never sent as such). */
  link?: string
  code?: string
}

const escapeHtml = (value: string): string =>
  value.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`)

/** A lifetime as the emails say it ("15 minutes"); the pages say it with the same words. */
export const minutes = (seconds: number): string => {
  const m = Math.max(1, Math.round(seconds / 60))
  return `${m} minute${m === 1 ? '' : 's'}`
}

const layout = (title: string, body: string): string => `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title></head>
<body style="font-family:system-ui,sans-serif;max-width:32rem;margin:2rem auto;color:#1f2933;line-height:1.5">
${body}
<p style="color:#616e7c;font-size:.875rem">If you did not ask for this email, you can ignore it: nothing happens until the link or code is used.</p>
</body></html>`

export function magicLinkEmail ({ purpose, link, ttlSeconds }: { purpose: 'signup' | 'login', link: string, ttlSeconds: number }): MailContent {
  const action = purpose === 'signup' ? 'Finish signing up' : 'Sign in'
  const subject = purpose === 'signup' ? 'Finish creating your Latchkey account' : 'Your Latchkey sign-in link'
  const text = [
    `${action} by opening this link:`,
    '',
    link,
    '',
    `The link works once and expires in ${minutes(ttlSeconds)}.`,
    'If you did not ask for this email, you can ignore it.'
  ].join('\n')
  const html = layout(subject, `<h1 style="font-size:1.25rem">${escapeHtml(subject)}</h1>
<p><a href="${escapeHtml(link)}" style="display:inline-block;padding:.6rem 1.2rem;background:#2457c5;color:#fff;border-radius:.4rem;text-decoration:none">${action}</a></p>
<p>Or paste this address into your browser:<br><code style="word-break:break-all">${escapeHtml(link)}</code></p>
<p>The link works once and expires in ${minutes(ttlSeconds)}.</p>`)
  return { subject, text, html, link }
}

export function otpEmail ({ code, ttlSeconds }: { code: string, ttlSeconds: number }): MailContent {
  const subject = `Your Latchkey code: ${code}`
  const text = [
    `Your sign-in code is ${code}`,
    '',
    `It expires in ${minutes(ttlSeconds)} and works once.`,
    'Never share this code; Latchkey will never ask you for it.'
  ].join('\n')
  const html = layout(subject, `<h1 style="font-size:1.25rem">Your sign-in code</h1>
<p style="font-size:2rem;letter-spacing:.3rem;font-family:ui-monospace,monospace"><strong>${escapeHtml(code)}</strong></p>
<p>It expires in ${minutes(ttlSeconds)} and works once. Never share this code.</p>`)
  return { subject, text, html, code }
}

/** The email of a cross-device sign-in: approve (by typing the number shown on the other screen) or deny. */
export function crossDeviceEmail ({ purpose, link, ttlSeconds, device, place }: { purpose: 'signup' | 'login', link: string, ttlSeconds: number, device: string, place: string }): MailContent {
  const what = purpose === 'signup' ? 'create a Latchkey account with this address' : 'sign in to your Latchkey account'
  const subject = purpose === 'signup' ? 'Approve creating your Latchkey account' : 'Approve your Latchkey sign-in'
  const text = [
    `Someone asked to ${what} on ${device}, near ${place}.`,
    '',
    'If that was you, open this link on any device (your phone is fine) and type the number shown on that screen:',
    '',
    link,
    '',
    `The link expires in ${minutes(ttlSeconds)}. Nobody is signed in until the right number is typed.`,
    'If it was not you, open the link and choose Deny, or ignore this email.'
  ].join('\n')
  const html = layout(subject, `<h1 style="font-size:1.25rem">${escapeHtml(subject)}</h1>
<p>Someone asked to ${escapeHtml(what)} on <strong>${escapeHtml(device)}</strong>, near <strong>${escapeHtml(place)}</strong>.</p>
<p>If that was you, open this link on any device (your phone is fine) and type the number shown on that screen:</p>
<p><a href="${escapeHtml(link)}" style="display:inline-block;padding:.6rem 1.2rem;background:#2457c5;color:#fff;border-radius:.4rem;text-decoration:none">Review the sign-in</a></p>
<p>Or paste this address into your browser:<br><code style="word-break:break-all">${escapeHtml(link)}</code></p>
<p>The link expires in ${minutes(ttlSeconds)}. If it was not you, choose Deny on that page, or ignore this email.</p>`)
  return { subject, text, html }
}
