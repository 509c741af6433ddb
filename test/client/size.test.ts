/**
 * The browser client stays small: bundled and minified by esbuild (the one tsx runs on) with
 * nothing left out but the optional @simplewebauthn/browser (which the client never imports: it is
 * passed in), gzipped with node:zlib, under 6 KB.
 */
import { gzipSync } from 'node:zlib'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { build } from 'esbuild'
import t from 'tap'

const LIMIT = 6 * 1024
const entry = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'client', 'src', 'index.ts')

t.test('the client is under 6 KB minified and gzipped, with no runtime dependency', async (t) => {
  const result = await build({ entryPoints: [entry], bundle: true, minify: true, format: 'esm', target: 'es2022', platform: 'browser', write: false, metafile: true })
  const code = result.outputFiles[0]!.contents
  const gzipped = gzipSync(code, { level: 9 }).length
  t.comment(`client: ${code.length} bytes minified, ${gzipped} bytes gzipped`)
  t.ok(gzipped < LIMIT, `${gzipped} bytes gzipped < ${LIMIT}`)
  const inputs = Object.keys(result.metafile.inputs)
  t.ok(inputs.every((input) => input.startsWith('client/src/')), `only its own sources are bundled (${inputs.join(', ')})`)
})
