import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..')

/** The text outside fenced code blocks (``` ... ```), line by line; fenced lines become empty. */
function prose (markdown: string): string[] {
  let fenced = false
  return markdown.split('\n').map((line) => {
    if (/^\s*(```|~~~)/.test(line)) {
      fenced = !fenced
      return ''
    }
    return fenced ? '' : line
  })
}

/** GitHub's heading anchor: the heading's text, lower-cased, punctuation dropped, spaces as hyphens. */
export function slug (heading: string): string {
  const text = heading
    .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1') // a link counts by its text
    .replace(/<[^>]+>/g, '') // inline HTML
    .replace(/[`*]/g, '') // code and emphasis markers
  return text.trim().toLowerCase().replace(/[^\p{L}\p{M}\p{N}\p{Pc}\- ]/gu, '').replace(/ /g, '-')
}

/** Every anchor a file's headings make, with GitHub's -1, -2 ... for repeated headings. */
export function anchors (markdown: string): Set<string> {
  const seen = new Map<string, number>()
  const result = new Set<string>()
  for (const line of prose(markdown)) {
    const heading = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line)?.[1]
    if (heading === undefined) continue
    const base = slug(heading)
    const count = seen.get(base) ?? 0
    seen.set(base, count + 1)
    result.add(count === 0 ? base : `${base}-${count}`)
  }
  return result
}

/** Relative links and #anchors of a Markdown file that do not resolve, as `target (line n)`. */
export function brokenLinks (file: string, markdown: string, read: (path: string) => string | undefined): string[] {
  const broken: string[] = []
  prose(markdown).forEach((line, index) => {
    const text = line.replace(/`[^`]*`/g, '') // inline code is not a link
    for (const match of text.matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)) {
      const target = match[1]!
      if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue // http:, https:, mailto: ...
      const [path = '', anchor] = target.split('#')
      const resolved = path === '' ? file : resolve(dirname(file), decodeURIComponent(path))
      const where = `${target} (line ${index + 1})`
      const content = path === '' ? markdown : read(resolved)
      if (content === undefined && !existsSync(resolved)) {
        broken.push(`${where}: no such file`)
        continue
      }
      if (anchor === undefined) continue
      if (content === undefined || !resolved.endsWith('.md')) {
        broken.push(`${where}: an anchor into something that is not a Markdown file`)
      } else if (!anchors(content).has(anchor)) {
        broken.push(`${where}: no heading makes #${anchor}`)
      }
    }
  })
  return broken
}

const readIfFile = (path: string): string | undefined => {
  try {
    return readFileSync(path, 'utf8')
  } catch {
    return undefined
  }
}

const files = [join(root, 'README.md'), ...readdirSync(join(root, 'docs')).filter((name) => name.endsWith('.md')).map((name) => join(root, 'docs', name))]

t.test('every relative link and #anchor in README.md and docs/ resolves', async (t) => {
  t.ok(files.length > 10, `${files.length} files`)
  for (const file of files) {
    const broken = brokenLinks(file, readFileSync(file, 'utf8'), readIfFile)
    t.same(broken, [], relative(root, file))
  }
})

t.test('the check itself: it finds a missing file, a missing anchor and a missing anchor in another file', async (t) => {
  const file = join(root, 'docs', 'example.md')
  const markdown = [
    '# Title',
    '## Running it: `npm run dev`',
    '## Running it: `npm run dev`',
    '```sh',
    '# not a heading [nor a link](nowhere.md)',
    '```',
    '[ok](#title) [ok](#running-it-npm-run-dev) [ok](#running-it-npm-run-dev-1) [ok](../README.md) [ok](../examples/resource-server/)',
    '[ok](https://example.com/#x) `[code](nowhere.md)`',
    '[bad](#nowhere) [bad](missing.md) [bad](security.md#no-such-heading)'
  ].join('\n')
  t.same(brokenLinks(file, markdown, readIfFile), [
    '#nowhere (line 9): no heading makes #nowhere',
    'missing.md (line 9): no such file',
    'security.md#no-such-heading (line 9): no heading makes #no-such-heading'
  ])
  t.equal(slug('Server CPU per request: `npm run bench:cpu`'), 'server-cpu-per-request-npm-run-benchcpu')
  t.equal(slug('What /ready checks'), 'what-ready-checks')
  t.equal(slug('Tokens for other services: keys, JWKS, introspection'), 'tokens-for-other-services-keys-jwks-introspection')
})

t.test('README.md stays a front page: the two commands first, at most about 200 lines', async (t) => {
  const readme = readFileSync(join(root, 'README.md'), 'utf8')
  const first = /```sh\n([\s\S]*?)```/.exec(readme)?.[1] ?? ''
  t.match(first, /^npm ci && npm run dev\b/m, 'the command that runs the service')
  t.match(first, /^npm ci && npm test\b/m, 'the command that runs the tests (what .ci/run runs)')
  t.ok(readme.indexOf('```sh') < readme.indexOf('\n## '), 'before any section')
  const lines = readme.split('\n').length
  t.ok(lines <= 200, `${lines} lines`)
})
