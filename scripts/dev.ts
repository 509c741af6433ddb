/**
 * `npm run dev`: everything a newcomer needs on one machine, with nothing to install by hand
 * beyond Node, Go (for FerretDB) and redis-server.
 *
 * Starts a private redis-server and FerretDB (data under .dev/, kept between runs), keeps a
 * development JWT secret in .dev/jwt-secret, and runs the service in development mode: outgoing
 * mail is captured in memory and shown at /dev/inbox. Environment variables already set (say
 * SMTP_URL, to use Mailpit) win over these defaults.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { createServer, connect } from 'node:net'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const devDir = join(root, '.dev')
const children: ChildProcess[] = []

async function portIsFree (port: number): Promise<boolean> {
  return await new Promise((resolve) => {
    const server = createServer().once('error', () => resolve(false))
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)))
  })
}

async function pickPort (preferred: number): Promise<number> {
  for (let port = preferred; port < preferred + 50; port++) if (await portIsFree(port)) return port
  throw new Error(`no free port near ${preferred}`)
}

async function waitForPort (port: number, name: string): Promise<void> {
  const deadline = Date.now() + 20_000
  while (Date.now() < deadline) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1').once('connect', () => { socket.destroy(); resolve(true) }).once('error', () => resolve(false))
    })
    if (open) return
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  throw new Error(`${name} did not start on port ${port}`)
}

function run (command: string, args: string[], env: NodeJS.ProcessEnv = process.env, quiet = true): ChildProcess {
  const child = spawn(command, args, { env, stdio: quiet ? 'ignore' : 'inherit' })
  children.push(child)
  return child
}

function shutdown (code: number): never {
  for (const child of children.reverse()) child.kill('SIGTERM')
  process.exit(code)
}
process.on('SIGINT', () => shutdown(0))
process.on('SIGTERM', () => shutdown(0))

mkdirSync(join(devDir, 'redis'), { recursive: true })
mkdirSync(join(devDir, 'ferretdb'), { recursive: true })

const secretFile = join(devDir, 'jwt-secret')
if (!existsSync(secretFile)) writeFileSync(secretFile, randomBytes(48).toString('base64url'), { mode: 0o600 })

const env: NodeJS.ProcessEnv = { ...process.env, NODE_ENV: process.env.NODE_ENV ?? 'development' }
env.JWT_SECRET ??= readFileSync(secretFile, 'utf8').trim()
env.PORT ??= '3000'
env.APP_URL ??= `http://localhost:${env.PORT}`
env.LOG_LEVEL ??= 'info'

if (env.REDIS_URL === undefined) {
  const port = await pickPort(6380)
  run('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', join(devDir, 'redis'), '--appendonly', 'yes', '--save', ''])
  await waitForPort(port, 'redis-server')
  env.REDIS_URL = `redis://127.0.0.1:${port}`
}

if (env.MONGODB_URL === undefined) {
  const ferretdb = execFileSync(join(root, 'scripts', 'ensure-ferretdb.sh'), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim()
  const port = await pickPort(27018)
  const data = join(devDir, 'ferretdb')
  run(ferretdb, ['--handler=sqlite', `--sqlite-url=file:${data}/`, `--listen-addr=127.0.0.1:${port}`, `--state-dir=${data}`, '--telemetry=disable', '--debug-addr=-', '--log-level=warn'])
  await waitForPort(port, 'FerretDB')
  env.MONGODB_URL = `mongodb://127.0.0.1:${port}/latchkey`
}

console.log(`
  Latchkey (development)
  API       ${env.APP_URL}
  Sign in   ${env.APP_URL}/
  Emails    ${env.SMTP_URL === undefined ? `${env.APP_URL}/dev/inbox  (captured in memory, nothing is sent)` : `sent through ${new URL(env.SMTP_URL).host}`}
  API docs  ${env.APP_URL}/docs
  Redis     ${env.REDIS_URL}
  MongoDB   ${env.MONGODB_URL}
`)

// tsx watch restarts the server when a source file changes.
const server = run(join(root, 'node_modules', '.bin', 'tsx'), ['watch', '--clear-screen=false', join(root, 'server.ts')], env, false)
server.on('exit', (code) => shutdown(code ?? 0))
