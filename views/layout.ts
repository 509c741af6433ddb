/** Server-rendered HTML: tiny, accessible, no external assets. */
export const escapeHtml = (value: string): string =>
  value.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`)

/**
 * The one stylesheet, served from GET /assets/latchkey.css: the CSP allows no inline styles, and
 * pages must look right without any script.
 */
export const STYLESHEET = `
:root{color-scheme:light dark;--fg:#1f2933;--muted:#616e7c;--bg:#f5f7fa;--card:#fff;--accent:#2457c5;--danger:#b42318;--line:#d9e2ec}
@media (prefers-color-scheme:dark){:root{--fg:#e4e7eb;--muted:#9aa5b1;--bg:#12161c;--card:#1c232c;--accent:#7aa2f7;--line:#323f4b}}
*{box-sizing:border-box}body{margin:0;font:16px/1.5 system-ui,-apple-system,"Segoe UI",sans-serif;background:var(--bg);color:var(--fg)}
main{max-width:28rem;margin:8vh auto;padding:2rem;background:var(--card);border:1px solid var(--line);border-radius:.75rem}
h1{font-size:1.4rem;margin:0 0 1rem}p{margin:.5rem 0 1rem}.muted{color:var(--muted);font-size:.9rem}
label{display:block;font-weight:600;margin:.75rem 0 .25rem}
input{width:100%;padding:.6rem .7rem;font:inherit;border:1px solid var(--line);border-radius:.4rem;background:transparent;color:inherit}
input:focus,button:focus{outline:3px solid color-mix(in srgb,var(--accent) 40%,transparent);outline-offset:1px}
button{margin-top:1rem;padding:.6rem 1.1rem;font:inherit;font-weight:600;border:0;border-radius:.4rem;background:var(--accent);color:#fff;cursor:pointer}
button.secondary{background:transparent;color:var(--accent);border:1px solid var(--accent)}
.row{display:flex;gap:.5rem;flex-wrap:wrap;margin-top:1rem}.row button{margin-top:0}.error{color:var(--danger);font-weight:600}
code{font-family:ui-monospace,monospace}a{color:var(--accent)}
main.wide{max-width:48rem}
@media (max-width:30rem){main{margin:0 0 2rem;border-width:0 0 1px;border-radius:0;padding:1.5rem 1.25rem}}
.brand{font-weight:700;letter-spacing:.02em;color:var(--muted);margin:0 0 1.25rem;font-size:.9rem;text-transform:uppercase}
.notice{padding:.6rem .8rem;border-radius:.4rem;border:1px solid var(--line);background:color-mix(in srgb,var(--accent) 8%,transparent)}
.notice.error{border-color:var(--danger);background:color-mix(in srgb,var(--danger) 8%,transparent)}
input.code{font:600 1.6rem/1.2 ui-monospace,monospace;letter-spacing:.4em;text-align:center}
dl{margin:0 0 1rem}dt{color:var(--muted);font-size:.9rem;margin-top:.6rem}dd{margin:0;font-weight:600;overflow-wrap:anywhere}
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
