import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'

/**
 * Layers point one way: routes/ may import plugins/ and services/, plugins/ may import services/,
 * services/ imports neither. A module that imports upwards (plugins/external/swagger.ts once took
 * the error schemas from routes/) ties a lower layer to the routes it is meant to serve.
 */
const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..')

const filesUnder = (folder: string): string[] =>
  readdirSync(join(root, folder), { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith('.ts'))
    .map((entry) => relative(root, join(entry.parentPath, entry.name)))

/** The project folders a module's relative imports (static, re-exports, dynamic) land in. */
export function importedFolders (file: string, source: string): Array<{ specifier: string, folder: string }> {
  const specifiers = [
    ...source.matchAll(/^\s*(?:import|export)\s[^'"]*?\bfrom\s*['"]([^'"]+)['"]/gm),
    ...source.matchAll(/^\s*import\s*['"]([^'"]+)['"]/gm),
    ...source.matchAll(/\bimport\(\s*['"]([^'"]+)['"]\s*\)/g)
  ].map((match) => match[1]!).filter((specifier) => specifier.startsWith('.'))
  return specifiers.map((specifier) => ({ specifier, folder: relative(root, resolve(root, dirname(file), specifier)).split(/[\\/]/)[0]! }))
}

const forbidden: Record<string, string[]> = {
  plugins: ['routes'],
  services: ['plugins', 'routes']
}

t.test('the import scanner sees every form of import (so the rule below can fail)', async (t) => {
  const sample = [
    "import { errors } from '../../routes/error-responses.js'",
    "import type { X } from '../../routes/schemas.js'",
    "export { y } from '../../routes/y.js'",
    "import '../../routes/side-effect.js'",
    "const z = await import('../../routes/z.js')",
    "import fp from 'fastify-plugin'",
    "import { ok } from '../../services/infrastructure/errors.js'"
  ].join('\n')
  t.same(importedFolders('plugins/external/x.ts', sample).map(({ folder }) => folder).sort(), ['routes', 'routes', 'routes', 'routes', 'routes', 'services'])
})

t.test('no module under plugins/ imports from routes/, none under services/ from plugins/ or routes/', async (t) => {
  let checked = 0
  for (const [layer, above] of Object.entries(forbidden)) {
    for (const file of filesUnder(layer)) {
      checked++
      const upward = importedFolders(file, readFileSync(join(root, file), 'utf8')).filter(({ folder }) => above.includes(folder))
      t.same(upward.map(({ specifier }) => specifier), [], `${file} imports nothing from ${above.join(' or ')}/`)
    }
  }
  t.ok(checked >= 50, `${checked} modules checked`)
})
