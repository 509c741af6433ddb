import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import semver from 'semver'
import t from 'tap'

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
const read = (file: string): string => readFileSync(join(root, file), 'utf8')

const declared: string = JSON.parse(read('package.json')).engines.node
const lowest = semver.minVersion(declared)!.version
const lock: { packages: Record<string, { engines?: { node?: string } | string[], dev?: boolean }> } = JSON.parse(read('package-lock.json'))

t.test('every installed package supports the lowest Node the project declares (npm ci gives no EBADENGINE)', async (t) => {
  const refusing = Object.entries(lock.packages)
    .filter(([path]) => path !== '')
    .flatMap(([path, entry]) => {
      const range = Array.isArray(entry.engines) ? undefined : entry.engines?.node
      return range === undefined || semver.satisfies(lowest, range, { includePrerelease: true }) ? [] : [`${path.replace(/^.*node_modules\//, '')} (node ${range})`]
    })
  t.same(refusing, [], `packages that refuse Node ${lowest}`)
  t.ok(semver.satisfies(process.version, declared), `this machine's Node ${process.version} is within ${declared}`)
})

t.test('the Docker image runs the Node major the project declares', async (t) => {
  const images = [...read('Dockerfile').matchAll(/^FROM\s+node:(\d+)(\S*)/gm)]
  t.ok(images.length > 0, 'the Dockerfile builds on node images')
  for (const [line, major] of images) {
    t.ok(semver.satisfies(`${major}.99.0`, declared) && semver.major(lowest) === Number(major), `${line} matches engines ${declared}`)
  }
})
