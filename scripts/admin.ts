/**
 * The admin API's account actions from a shell on a server, with the same environment as the
 * service and through the same services (services/admin/user-admin.ts):
 *
 *   npm run admin -- find ada@example.com             # the account (exact address, any case), or
 *                                                     # the accounts whose address starts with it
 *   npm run admin -- disable ada@example.com [--reason "ticket 4521"]
 *   npm run admin -- enable ada@example.com
 *   npm run admin -- sign-out ada@example.com         # every session ends (as logout-all)
 *   npm run admin -- delete ada@example.com --yes     # the account and all it owns (as DELETE /auth/me)
 *
 * Each action prints one JSON line and takes effect on the next request on every instance (it
 * needs Redis and MongoDB, as the service does). Each is recorded as an `admin.action` event
 * (`data.via: "script"`, with the operating-system user) and, for disable and enable, as
 * `user.disabled` / `user.enabled`. Exit code 1 with a one-line reason when the address has no
 * account or something is missing.
 * In production, after `npm run build`: `node dist/scripts/admin.js <command> <address>`.
 */
import { userInfo } from 'node:os'
import { parseArgs } from 'node:util'
import { createUserAdmin } from '../services/admin/user-admin.js'
import { createAccountService } from '../services/accounts/accounts.js'
import { createFailureCeiling } from '../services/accounts/failure-ceiling.js'
import { createPasswordHasher } from '../services/accounts/passwords.js'
import { createUserService } from '../services/accounts/users.js'
import { createAddressKeyer } from '../services/email/email-address.js'
import { createAuditLog } from '../services/events/audit-log.js'
import { loadConfigOrExit } from '../services/infrastructure/config.js'
import { createMetrics } from '../services/infrastructure/metrics.js'
import { createModels } from '../services/models/index.js'
import { createRevocationService } from '../services/sessions/revocation.js'
import { createSessionService } from '../services/sessions/sessions.js'
import { deriveKey } from '../services/tokens/token-crypto.js'
import { connectMongo } from '../plugins/external/mongoose.js'
import { connectRedis, createRedisClient } from '../plugins/external/redis.js'

const COMMANDS = ['find', 'disable', 'enable', 'sign-out', 'delete'] as const
type Command = typeof COMMANDS[number]

function usage (problem: string): never {
  console.error(`${problem}\nusage: npm run admin -- <${COMMANDS.join('|')}> <address> [--reason text] [--yes]`)
  process.exit(2)
}

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { reason: { type: 'string' }, yes: { type: 'boolean', default: false } }
})
const [command, address] = positionals
if (command === undefined || !(COMMANDS as readonly string[]).includes(command)) usage(`unknown command: ${command ?? '(none)'}`)
if (address === undefined || address.trim() === '') usage('an address is required')
if (command === 'delete' && !values.yes) usage('delete removes the account and everything it owns: add --yes')
if (values.reason !== undefined && (values.reason.length < 1 || values.reason.length > 500)) usage('--reason must be 1 to 500 characters')

const config = loadConfigOrExit(process.env)
const clock = { now: Date.now }
const metrics = createMetrics()
const connection = await connectMongo(config)
const redis = createRedisClient(config)
try {
  await connectRedis(redis, config.REDIS_URL)
  const models = createModels(connection)
  const revocation = createRevocationService({ redis, models, clock, metrics, accessTokenTtl: config.ACCESS_TOKEN_TTL, userCacheTtl: config.USER_CACHE_TTL })
  const sessions = createSessionService({
    models,
    revocation,
    clock,
    metrics,
    signAccessToken: () => { throw new Error('the admin script signs no tokens') },
    accessTokenTtl: config.ACCESS_TOKEN_TTL,
    refreshTokenTtl: config.REFRESH_TOKEN_TTL,
    reuseGrace: config.REFRESH_REUSE_GRACE
  })
  const users = createUserService({ models })
  const accounts = createAccountService({
    models,
    users,
    sessions,
    revocation,
    passwords: createPasswordHasher(),
    failureCeiling: createFailureCeiling({ redis, ceiling: config.FAILURE_CEILING, clock }),
    addressKey: createAddressKeyer(deriveKey(config.JWT_SECRET, 'latchkey address keys')),
    clock,
    metrics
  })
  const auditLog = createAuditLog({ models, clock })
  const admin = createUserAdmin({ models, revocation, sessions, accounts, auditLog, clock })
  const actor = { via: 'script' as const }

  const found = await admin.findUserByEmail(address)
  const operator = userInfo().username
  await auditLog.record({
    type: 'admin.action',
    data: {
      via: 'script',
      operator,
      command: command as Command,
      ...(found !== null && { targetUserId: found.id }),
      ...(found === null && command === 'find' && { query: address.trim().toLowerCase() }),
      ...(command === 'disable' && values.reason !== undefined && { reason: values.reason })
    }
  })

  if (command === 'find') {
    if (found !== null) {
      console.log(JSON.stringify(await admin.getUser(found.id)))
    } else {
      const { users: matches, next } = await admin.listUsers({ q: address, limit: 20 })
      if (matches.length === 0) {
        console.error(`no account has an address starting with ${address.trim().toLowerCase()}`)
        process.exitCode = 1
      }
      for (const match of matches) console.log(JSON.stringify(match))
      if (next !== null) console.error('(more: narrow the prefix)')
    }
  } else if (found === null) {
    console.error(`no account with the address ${address.trim().toLowerCase()}`)
    process.exitCode = 1
  } else if (command === 'disable') {
    console.log(JSON.stringify(await admin.disableUser(found.id, values.reason, actor)))
  } else if (command === 'enable') {
    console.log(JSON.stringify(await admin.enableUser(found.id, actor)))
  } else if (command === 'sign-out') {
    await admin.signOutEverywhere(found.id)
    console.log(JSON.stringify({ id: found.id, email: found.email, signedOut: true }))
  } else {
    await admin.deleteUser(found.id)
    console.log(JSON.stringify({ id: found.id, email: found.email, deleted: true }))
  }
} finally {
  redis.disconnect()
  await connection.close()
}
