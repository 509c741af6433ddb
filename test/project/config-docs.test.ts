import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { configDocsPath, configProperties, renderConfigDocs } from '../../scripts/generate-config-docs.js'

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..')

t.test('docs/configuration.md is what the configuration schema gives (run `npm run docs:config` after changing it)', async (t) => {
  t.equal(readFileSync(configDocsPath, 'utf8'), renderConfigDocs())
})

t.test('every setting in the schema has a meaning, a row on the page and a line in .env.example', async (t) => {
  const page = readFileSync(configDocsPath, 'utf8')
  const example = readFileSync(join(root, '.env.example'), 'utf8')
  const properties = configProperties()
  t.ok(properties.length > 30, `${properties.length} settings`)
  for (const { name, schema } of properties) {
    t.ok(typeof schema.description === 'string' && schema.description.length > 0, `${name} has a description`)
    t.match(page, new RegExp(`^\\| \`${name}\` \\|`, 'm'), `${name} has a row`)
    t.match(example, new RegExp(`^${name}=`, 'm'), `${name} is in .env.example`)
  }
})

t.test('each row shows the schema\'s default, the values it takes and its meaning', async (t) => {
  const page = renderConfigDocs()
  t.match(page, /^\| `OTP_TTL` \| `600` \| an integer ≥ 1 \(seconds\) \| one-time code lifetime \|$/m, 'default, unit and meaning of a setting')
  t.match(page, /^\| `JWT_SECRET` \| \*\*required\*\* \| at least 32 characters \|/m, 'a setting without a default is required')
  t.match(page, /^\| `KEY_ENCRYPTION_SECRET` \| unset \|/m, 'an optional setting without a default is unset')
  t.match(page, /^\| `LOG_LEVEL` \| `info` \| one of `fatal`, `error`, /m, 'a union lists its values')
})
