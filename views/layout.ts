/** Server-rendered HTML: tiny, accessible, no external assets. */
export const escapeHtml = (value: string): string =>
  value.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`)

/**
 * An email address as escaped HTML with a line-break opportunity after the @ (<wbr>), so an
 * address too long for its line wraps where a reader expects ("ada.lovelace@" / "example.com")
 * rather than mid-word; a part still too long for a line wraps anywhere (the stylesheet's fallback).
 */
export const addressHtml = (email: string): string => escapeHtml(email).replace(/@/g, '@<wbr>')

/**
 * The colours of the pages, light and dark. Each pair that must be told apart is checked by
 * test/views/palette.test.ts against WCAG 2.2 (text 4.5:1, 1.4.3; input borders and the focus
 * ring 3:1, 1.4.11): the numbers there are computed from these values, not estimated.
 *   fg, muted, accent, danger   text on card and bg
 *   onAccent, onDanger          button text on accent and danger
 *   field                       input borders (the only thing that shows where a field is)
 *   focus                       the focus ring, drawn on the card beside the focused control
 *   line                        decorative rules between sections (no contrast requirement)
 */
export const PALETTE = {
  light: { fg: '#1f2933', muted: '#616e7c', bg: '#f5f7fa', card: '#ffffff', accent: '#2457c5', onAccent: '#ffffff', danger: '#b42318', onDanger: '#ffffff', field: '#7b8794', focus: '#2457c5', line: '#d9e2ec' },
  dark: { fg: '#e4e7eb', muted: '#9aa5b1', bg: '#12161c', card: '#1c232c', accent: '#7aa2f7', onAccent: '#12161c', danger: '#ff8a80', onDanger: '#12161c', field: '#7b8794', focus: '#7aa2f7', line: '#323f4b' }
} as const

type Scheme = (typeof PALETTE)['light' | 'dark']
const variables = (scheme: Scheme): string =>
  `--fg:${scheme.fg};--muted:${scheme.muted};--bg:${scheme.bg};--card:${scheme.card};--accent:${scheme.accent};--on-accent:${scheme.onAccent};` +
  `--danger:${scheme.danger};--on-danger:${scheme.onDanger};--field:${scheme.field};--focus:${scheme.focus};--line:${scheme.line}`

/**
 * The one stylesheet, served from GET /assets/latchkey.css: the CSP allows no inline styles, and
 * pages must look right without any script. Other page families (the cross-device pages) build on
 * its variables and classes. Long unbroken words (a 254-character address) wrap inside the card
 * instead of overflowing it (overflow-wrap:anywhere on main).
 */
export const STYLESHEET = `
:root{color-scheme:light dark;${variables(PALETTE.light)}}
@media (prefers-color-scheme:dark){:root{${variables(PALETTE.dark)}}}
*{box-sizing:border-box}body{margin:0;font:16px/1.5 system-ui,-apple-system,"Segoe UI",sans-serif;background:var(--bg);color:var(--fg)}
main{max-width:28rem;margin:8vh auto;padding:2rem;background:var(--card);border:1px solid var(--line);border-radius:.75rem;overflow-wrap:anywhere}
h1{font-size:1.4rem;margin:0 0 1rem}h2{font-size:1.1rem;margin:0 0 .5rem}p{margin:.5rem 0 1rem}.muted{color:var(--muted);font-size:.9rem}
section{border-top:1px solid var(--line);margin-top:1.5rem;padding-top:1.25rem}
label{display:block;font-weight:600;margin:.75rem 0 .25rem}
input{width:100%;padding:.6rem .7rem;font:inherit;border:1px solid var(--field);border-radius:.4rem;background:transparent;color:inherit}
input[aria-invalid=true]{border:2px solid var(--danger)}
input:focus,button:focus-visible,a:focus-visible{outline:3px solid var(--focus);outline-offset:2px}
button,a.button{display:inline-block;margin-top:1rem;padding:.6rem 1.1rem;font:inherit;font-weight:600;line-height:1.5;border:1px solid var(--accent);border-radius:.4rem;background:var(--accent);color:var(--on-accent);cursor:pointer;text-decoration:none}
button.secondary,a.button.secondary{background:transparent;color:var(--accent)}
button.danger,a.button.danger{background:var(--danger);border-color:var(--danger);color:var(--on-danger)}
button.danger.secondary,a.button.danger.secondary{background:transparent;color:var(--danger)}
.row{display:flex;gap:.5rem;flex-wrap:wrap;align-items:center;margin-top:1rem}.row button,.row .button{margin-top:0}.error{color:var(--danger);font-weight:600}
code{font-family:ui-monospace,monospace}time{white-space:nowrap}a{color:var(--accent)}
main.wide{max-width:48rem}
@media (max-width:30rem){main{margin:0 0 2rem;border-width:0 0 1px;border-radius:0;padding:1.5rem 1.25rem}}
.brand{font-weight:700;letter-spacing:.02em;color:var(--muted);margin:0 0 1.25rem;font-size:.9rem;text-transform:uppercase}
.notice{padding:.6rem .8rem;border-radius:.4rem;border:1px solid var(--line);background:color-mix(in srgb,var(--accent) 8%,transparent)}
.notice.error{border-color:var(--danger);background:color-mix(in srgb,var(--danger) 8%,transparent)}
input.code{font:600 1.6rem/1.2 ui-monospace,monospace;letter-spacing:.4em;text-align:center}
dl{margin:0 0 1rem}dt{color:var(--muted);font-size:.9rem;margin-top:.6rem}dd{margin:0;font-weight:600}
ul.sessions,ul.activity{list-style:none;margin:0;padding:0}ul.sessions li,ul.activity li{padding:.75rem 0;border-bottom:1px solid var(--line)}ul.sessions li:last-child,ul.activity li:last-child{border-bottom:0}
ul.sessions p,ul.activity p{margin:0}ul.sessions form button{margin-top:.5rem;padding:.3rem .8rem;font-size:.9rem}
.badge{display:inline-block;margin-left:.4rem;padding:0 .5rem;border-radius:1rem;font-size:.8rem;font-weight:600;background:var(--accent);color:var(--on-accent)}
.locked{display:flex;align-items:center;gap:.75rem;margin:0 0 1rem}.locked h1{margin:0}svg.lock{color:var(--danger);flex:none}
.mail{border-top:1px solid var(--line);padding:1rem 0}.mail h2{font-size:1.05rem;margin:0 0 .25rem}
.mail pre{white-space:pre-wrap;overflow-wrap:anywhere;font:.9rem/1.45 ui-monospace,monospace;margin:.5rem 0 0}
`

/** A whole page around `body` (already escaped HTML). `wide` for lists such as the dev inbox. */
export function page (title: string, body: string, { wide = false }: { wide?: boolean } = {}): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>${escapeHtml(title)} · Latchkey</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/assets/latchkey.css">
</head>
<body>
<main${wide ? ' class="wide"' : ''}>
<p class="brand">Latchkey</p>
${body}
</main>
</body>
</html>`
}
