/**
 * `npm run check:compose`: checks docker-compose.yml on a machine without a Docker engine.
 *
 * scripts/compose-config loads the file with compose-go, the library `docker compose` itself uses
 * (compose-spec schema, .env interpolation, env_file, consistency), so what it accepts, `docker
 * compose config` accepts. Then, in a scratch folder:
 *   1. without .env, compose refuses with the message that says how to make one;
 *   2. with .env made by the exact command in the compose file's header, the app's resolved
 *      environment passes Latchkey's own configuration check;
 *   3. the same with .env.example copied and the secret added;
 *   4. every image is pinned to a version.
 * Needs Go (as FerretDB does); the first run downloads compose-go through the Go module proxy.
 */
import { execFileSync, spawnSync } from 'node:child_process'
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { loadConfig } from '../services/infrastructure/config.js'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const compose = readFileSync(join(root, 'docker-compose.yml'), 'utf8')
const secretCommand = /^#\s+(printf 'JWT_SECRET=.*> \.env)$/m.exec(compose)?.[1]
if (secretCommand === undefined) {
  console.error('check-compose: docker-compose.yml no longer shows the command that makes .env')
  process.exit(1)
}

const binary = join(mkdtempSync(join(tmpdir(), 'compose-config-')), 'compose-config')
execFileSync('go', ['build', '-o', binary, '.'], { cwd: join(root, 'scripts', 'compose-config'), stdio: 'inherit' })

function resolve (env: string | undefined): { ok: true, project: any } | { ok: false, error: string } {
  const dir = mkdtempSync(join(tmpdir(), 'latchkey-compose-'))
  copyFileSync(join(root, 'docker-compose.yml'), join(dir, 'docker-compose.yml'))
  if (env !== undefined) writeFileSync(join(dir, '.env'), env)
  // A clean environment: only the .env decides.
  const run = spawnSync(binary, [dir], { encoding: 'utf8', env: { PATH: process.env.PATH, HOME: process.env.HOME } })
  return run.status === 0 ? { ok: true, project: JSON.parse(run.stdout) } : { ok: false, error: run.stderr.trim() }
}

function readmeEnv (): string {
  const dir = mkdtempSync(join(tmpdir(), 'latchkey-env-'))
  execFileSync('bash', ['-c', secretCommand!], { cwd: dir })
  return readFileSync(join(dir, '.env'), 'utf8')
}

const results: string[] = []
const check = (ok: boolean, what: string): void => {
  results.push(`${ok ? 'ok  ' : 'FAIL'} ${what}`)
  if (!ok) process.exitCode = 1
}

const missing = resolve(undefined)
check(!missing.ok && /JWT_SECRET/.test(missing.error) && missing.error.includes("printf 'JWT_SECRET=%s"),
  `without .env compose refuses and says how to make it: ${missing.ok ? 'accepted!' : missing.error}`)

for (const [name, env] of [
  ['.env from the command in the header', readmeEnv()],
  ['.env.example copied, the secret added', readFileSync(join(root, '.env.example'), 'utf8').replace(/^JWT_SECRET=$/m, '') + readmeEnv()]
] as const) {
  const resolved = resolve(env)
  if (!resolved.ok) { check(false, `${name}: compose refused: ${resolved.error}`); continue }
  const environment = resolved.project.services.app.environment as Record<string, string>
  try {
    const config = loadConfig(environment)
    check(config.HOST === '0.0.0.0' && config.REDIS_URL === 'redis://redis:6379' && config.SMTP_URL === 'smtp://mailpit:1025',
      `${name}: valid compose file, and the app's environment passes Latchkey's configuration check (APP_URL ${config.APP_URL})`)
  } catch (error) {
    check(false, `${name}: ${(error as Error).message}`)
  }
}

const pinned = resolve(`${readmeEnv()}APP_URL=https://auth.example.com\nAPP_PORT=8080\n`)
if (pinned.ok) {
  const app = pinned.project.services.app
  check(app.environment.APP_URL === 'https://auth.example.com' && app.ports[0].published === '8080', 'APP_URL and APP_PORT in .env move the public address and the host port')
  const images = Object.entries<any>(pinned.project.services).filter(([, service]) => service.image !== undefined).map(([, service]) => String(service.image))
  check(images.every((image) => /:v?\d+(\.\d+)*$/.test(image)), `every image pinned to a version: ${images.join(', ')}`)
} else {
  check(false, `with APP_URL and APP_PORT: ${pinned.error}`)
}

console.log(results.join('\n'))
