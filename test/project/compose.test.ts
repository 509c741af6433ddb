import { execFileSync, spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { parse } from 'yaml'
import { loadConfig } from '../../services/infrastructure/config.js'

/**
 * docker compose cannot run here (no engine): `npm run check:compose` loads the file with
 * compose-go (what docker compose uses). This test, which needs neither Docker nor Go, guards the
 * points users tripped over.
 */
const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
const text = readFileSync(join(root, 'docker-compose.yml'), 'utf8')
const compose = parse(text)
const app = compose.services.app

t.test('the app gets its whole configuration from .env, with the connections wired by compose', async (t) => {
  t.equal(app.env_file, '.env', 'env_file: every setting in .env reaches the app')
  t.match(app.environment.JWT_SECRET, /^\$\{JWT_SECRET:\?.+\}$/, 'no secret, no start: compose says how to make one')
  // compose interpolation, not JavaScript templates:
  t.equal(app.environment.APP_URL, '$' + '{APP_URL:-http://localhost:3000}', 'APP_URL is configurable')
  t.same(app.ports, ['$' + '{APP_PORT:-3000}:3000'], 'and so is the host port')
  t.match(app.environment, { HOST: '0.0.0.0', REDIS_URL: 'redis://redis:6379', MONGODB_URL: 'mongodb://mongo:27017/latchkey', SMTP_URL: 'smtp://mailpit:1025' })
})

t.test('every image is pinned to a version', async (t) => {
  for (const [name, service] of Object.entries<any>(compose.services)) {
    if (service.image === undefined) continue
    t.match(service.image, /:v?\d+(\.\d+)+$/, `${name}: ${service.image}`)
  }
  t.match(compose.services.mailpit.image, /^axllent\/mailpit:v\d+\.\d+\.\d+$/, 'Mailpit to the patch version')
})

t.test('the scale file (replica set, Cluster, Sentinel) pins the same images', async (t) => {
  const scale = readFileSync(join(root, 'docker-compose.scale.yml'), 'utf8')
  // Its services share image lines through YAML anchors: read every image line as written.
  const images = [...scale.matchAll(/^\s*image:\s*(\S+)\s*$/gm)].map((match) => match[1]!)
  t.ok(images.length >= 5, `${images.length} image lines`)
  const pinned = new Set(Object.values<any>(compose.services).map((service) => service.image).filter(Boolean))
  for (const image of images) t.ok(pinned.has(image), `${image} is one docker-compose.yml pins`)
})

t.test('the command that makes .env works, and gives a secret the configuration accepts', async (t) => {
  const command = /^#\s+(printf 'JWT_SECRET=.*> \.env)$/m.exec(text)?.[1]
  t.ok(command, `the compose file shows it: ${command}`)
  const readme = readFileSync(join(root, 'README.md'), 'utf8')
  t.ok(readme.includes(command!), 'the README shows the same command')
  if (spawnSync('openssl', ['version']).error !== undefined) {
    t.pass('openssl is not installed here: the command itself is not run')
    return
  }
  const dir = mkdtempSync(join(tmpdir(), 'latchkey-env-'))
  execFileSync('bash', ['-c', command!], { cwd: dir })
  const line = readFileSync(join(dir, '.env'), 'utf8')
  t.match(line, /^JWT_SECRET=[A-Za-z0-9+/=]{64}\n$/, 'one line, a literal value (no $(...) left to expand)')
  const secret = line.trim().slice('JWT_SECRET='.length)
  t.equal(loadConfig({ JWT_SECRET: secret, SMTP_URL: 'smtp://mailpit:1025' }).JWT_SECRET, secret)
})

t.test('.env.example can be copied to .env: no comment after an empty value (compose would read it as the value)', async (t) => {
  const example = readFileSync(join(root, '.env.example'), 'utf8')
  t.same(example.split('\n').filter((line) => /^[A-Z_]+=\s+#/.test(line)), [])
})
