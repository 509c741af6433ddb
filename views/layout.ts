/** Server-rendered HTML: tiny, accessible, no external assets. */
export const escapeHtml = (value: string): string =>
  value.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`)

const STYLE = `
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
.row{display:flex;gap:.5rem;flex-wrap:wrap}.error{color:var(--danger);font-weight:600}
code{font-family:ui-monospace,monospace}a{color:var(--accent)}
`

export function page (title: string, body: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>${escapeHtml(title)} · Latchkey</title>
<style>${STYLE}</style>
</head>
<body>
<main>
${body}
</main>
</body>
</html>`
}
