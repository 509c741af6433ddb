import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { leftovers, occupyPort, root, runLauncher } from './launcher.js'

/** The curl tour (docs/api-tour.md), exactly as a person would paste it, pointed at `api`. */
function curlTour (api: string): string {
  const tour = readFileSync(join(root, 'docs', 'api-tour.md'), 'utf8')
  const start = tour.indexOf('## A tour with curl')
  if (start === -1) throw new Error('docs/api-tour.md has no "## A tour with curl" section')
  const section = tour.slice(start)
  const block = /```sh\n([\s\S]*?)```/.exec(section)?.[1]
  if (block === undefined) throw new Error('no sh block in the tour of docs/api-tour.md')
  return block.replace(/^API=\S+/m, `API=${api}`)
}

async function bash (script: string): Promise<{ code: number | null, output: string }> {
  const child = spawn('bash', ['-c', `set -euo pipefail\n${script}`], { env: { PATH: process.env.PATH, HOME: process.env.HOME }, stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  child.stdout.on('data', (chunk: Buffer) => { output += chunk.toString() })
  child.stderr.on('data', (chunk: Buffer) => { output += chunk.toString() })
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve))
  return { code, output }
}

t.test('npm run dev with its port taken: the next free port, a banner pointing at it, readable logs; the curl tour runs as pasted; Ctrl+C stops everything', async (t) => {
  const other = await occupyPort(t)
  const dev = runLauncher(t, { PORT: String(other.port) })
  const [, moved] = await dev.waitFor(/port \d+ was in use, so it runs on (\d+)/)
  const port = Number(moved)
  t.not(port, other.port, `runs on ${port}, not on the taken ${other.port}`)
  await dev.waitFor(/Restarts when a source file changes/)
  t.match(dev.stdout(), new RegExp(`API +http://localhost:${port}\\n`), 'the banner points at our server')
  t.match(dev.stdout(), new RegExp(`Emails +http://localhost:${port}/dev/inbox`))
  t.equal((await fetch(`http://localhost:${port}/health`)).status, 200, 'and our server answers there')
  t.equal(other.connections(), 0, 'the other server was never contacted')

  const tour = await bash(curlTour(`http://localhost:${port}`))
  t.equal(tour.code, 0, 'the tour runs top to bottom')
  if (tour.code !== 0) t.comment(tour.output)
  for (const [step, expected] of [
    ['link requested', /"message":"Check your inbox: if the address can receive mail, a link is on its way\."/],
    ['token read from the dev inbox', /^TOKEN=[A-Za-z0-9_-]{43}$/m],
    ['link looked at', /"valid":true,"purpose":"signup"/],
    ['signed up', /"user":\{"id":"[0-9a-f]{24}","email":"ada\.\d+@example\.com","name":"Ada"/],
    ['me', /^\{"id":"[0-9a-f]{24}","email":"ada\.\d+@example\.com","name":"Ada"/m],
    ['refreshed', /^ACCESS=eyJ[\w-]+\.[\w-]+\.[\w-]+$/m],
    ['logged out', /^logout: 204$/m],
    ['the token dies at once', /"code":"TOKEN_REVOKED"/],
    ['the cooldown says its wait', /"code":"EMAIL_RATE_LIMITED".*"message":"Too many emails to this address; try again in \d+ seconds","retryAfter":\d+/],
    ['signed up by code', /"created":true/]
  ] as const) t.match(tour.output, expected, step)

  t.match(dev.stdout(), /INFO.*: POST \/auth\/signup\?\[redacted\] 201 [0-9.]+ ms/, 'development logs: one readable line per request')
  t.notMatch(dev.stdout(), /\{"level":/, 'no raw JSON')

  dev.interrupt()
  const ended = await dev.exited
  t.ok(ended === 0 || ended === 'SIGINT', `Ctrl+C ends npm run dev (${String(ended)})`)
  t.match(dev.stdout(), /latchkey dev: stopping the server, FerretDB and Redis\n/, 'saying what it stops')
  t.same(leftovers(dev.devDir), [], 'redis-server, FerretDB and the server are gone')
  t.same(dev.problems(), [], 'and nothing complained')
})
