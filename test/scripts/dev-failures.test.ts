import { existsSync, mkdtempSync, readdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { delimiter, join } from 'node:path'
import t from 'tap'
import { freePort } from '../stack/ports.js'
import { leftovers, occupyPort, runLauncher } from './launcher.js'

const noStackTrace = /^\s+at |Error:|node:internal/m

t.test('a taken port that APP_URL pins: one line, and nothing is started', async (t) => {
  const other = await occupyPort(t)
  const dev = runLauncher(t, { PORT: String(other.port), APP_URL: `http://localhost:${other.port}` })
  t.equal(await dev.exited, 1)
  t.same(dev.problems(), [`latchkey dev: port ${other.port} is already in use (another server?) and APP_URL points at it: stop that server, or set PORT and APP_URL to a free port`])
  t.notMatch(dev.stderr() + dev.stdout(), noStackTrace, 'no stack trace')
  t.notOk(existsSync(join(dev.devDir, 'redis.log')), 'Redis was never started')
  t.same(leftovers(dev.devDir), [])
  t.equal(other.connections(), 0)
})

t.test('without Go (and no FerretDB built yet): one line saying so, and no orphaned redis-server', async (t) => {
  const path = (process.env.PATH ?? '').split(delimiter).filter((dir) => !existsSync(join(dir, 'go'))).join(delimiter)
  const emptyCache = mkdtempSync(join(tmpdir(), 'latchkey-cache-'))
  const dev = runLauncher(t, { PATH: path, LATCHKEY_CACHE: emptyCache })
  t.equal(await dev.exited, 1)
  t.same(dev.problems(), ['latchkey dev: FerretDB (the local MongoDB) is built with Go the first time, and `go` is not on PATH: install Go (https://go.dev/dl/), or set MONGODB_URL to a MongoDB you run'])
  t.notMatch(dev.stderr() + dev.stdout(), noStackTrace, 'no stack trace')
  t.notOk(existsSync(join(dev.devDir, 'redis.log')), 'Redis was never started')
  t.same(leftovers(dev.devDir), [], 'no redis-server left behind')
})

t.test('the server failing at boot stops Redis and FerretDB, with one line', async (t) => {
  const dev = runLauncher(t, { PORT: String(await freePort()), JWT_SECRET: 'too short' })
  t.equal(await dev.exited, 1)
  const problems = dev.problems()
  t.ok(problems.includes('Invalid configuration: JWT_SECRET is invalid (expected string length greater or equal to 32)'), 'the server says what is wrong')
  t.equal(problems.at(-1), 'latchkey dev: the server stopped before it was ready (exit code 1); its output is above')
  t.notMatch(dev.stderr() + dev.stdout(), noStackTrace, 'no stack trace')
  t.ok(existsSync(join(dev.devDir, 'redis.log')), 'Redis had been started')
  t.same(leftovers(dev.devDir), [], 'and everything it started is gone')
})

t.test('Redis dying while it runs stops everything, with one line', async (t) => {
  const dev = runLauncher(t, { PORT: String(await freePort()) })
  await dev.waitFor(/Restarts when a source file changes/)
  const redis = leftovers(dev.devDir).find((process) => process.includes('redis-server'))
  t.ok(redis, 'redis-server runs')
  process.kill(Number(redis!.split(' ')[0]), 'SIGKILL')
  t.equal(await dev.exited, 1)
  t.match(dev.problems().at(-1), /^latchkey dev: redis-server stopped unexpectedly \(exit code \d+\); stopping everything$/)
  t.same(leftovers(dev.devDir), [], 'FerretDB and the server stopped too')
  t.same(readdirSync(dev.devDir).sort(), ['ferretdb', 'ferretdb.log', 'jwt-secret', 'redis', 'redis.log'])
})
