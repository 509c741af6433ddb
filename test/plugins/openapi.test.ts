import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import SwaggerParser from '@apidevtools/swagger-parser'
import { createConfig, lintFromString } from '@redocly/openapi-core'
import { Type } from '@sinclair/typebox'
import { Ajv2020 } from 'ajv/dist/2020.js'
import Fastify from 'fastify'
import fp from 'fastify-plugin'
import t from 'tap'
import ts from 'typescript'
import swaggerPlugin, { securitySchemes } from '../../plugins/external/swagger.js'
import { DEVICE_COOKIE, DEVICE_SECRET_HEADER } from '../../routes/auth/cross-device.js'
import { ACCESS_COOKIE } from '../../routes/pages/page-session.js'
import { apiTypes } from '../../scripts/openapi-types.js'
import { ErrorCodes } from '../../services/infrastructure/errors.js'
import { errors } from '../../services/infrastructure/error-responses.js'
import { buildApp, codeFrom, startStack, tokenFrom, uniqueEmail } from '../helper.js'

/**
 * The served OpenAPI document as the tools people use read it (docs/openapi.md): valid for
 * swagger-parser and Redocly's `recommended` rules, every schema valid JSON Schema 2020-12, and
 * every operation, whichever helper added it, named, tagged, with its callers and its 2xx and 4xx
 * declared. A client generated from it with openapi-typescript compiles and signs in.
 */
const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
const stack = await startStack(t)
// Every optional part on: introspection, and (in development) the dev inbox.
const app = await buildApp(t, stack, { INTROSPECTION_SECRET: 'i'.repeat(40), EMAIL_COOLDOWN: '0', ADMIN_API_KEYS: 'a'.repeat(40) })
const dev = await buildApp(t, stack, { NODE_ENV: 'development', SMTP_URL: '', APP_URL: 'http://localhost:3000' })
const served = (await app.inject({ method: 'GET', url: '/openapi.json' })).json()
const development = (await dev.inject({ method: 'GET', url: '/openapi.json' })).json()

type Doc = Record<string, any>
interface TourReport { userIds: string[], crossDevice: string, sessions: number, current: number, expiresIn: number }
type Tour = (baseUrl: string, email: string, mailbox: { linkToken: (email: string) => Promise<string>, code: (email: string) => Promise<string> }) => Promise<TourReport>
interface Operation { name: string, path: string, method: string, operation: any }
const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace']
const operationsOf = (document: Doc): Operation[] => Object.entries<Record<string, any>>(document.paths ?? {}).flatMap(([path, item]) =>
  Object.entries<any>(item).filter(([method]) => METHODS.includes(method))
    .map(([method, operation]) => ({ name: `${method.toUpperCase()} ${path}`, path, method, operation })))

/** The warnings we keep on purpose, each explained in docs/openapi.md under its rule id. */
const deliberate: Record<string, (operation: Operation | undefined, document: Doc) => boolean> = {
  // A page form answers 303 See Other on success (Post/Redirect/Get): there is no 2xx to document.
  'operation-2xx-response': (found) => found !== undefined && found.method === 'post' && found.operation.tags?.includes('pages') === true &&
    found.operation.responses['303'] !== undefined,
  // In development the server is this machine: APP_URL is http://localhost:3000.
  'no-server-example.com': (_found, document) => document.servers?.every((server: { url: string }) => new URL(server.url).hostname === 'localhost') === true
}

const redoclyConfig = await createConfig({ extends: ['recommended'] })
async function redoclyProblems (document: Doc) {
  const problems = await lintFromString({ source: JSON.stringify(document), absoluteRef: '/openapi.json', config: redoclyConfig })
  return problems.map((problem) => {
    const pointer = problem.location[0]?.pointer ?? ''
    const [, path, method] = /^#\/paths\/([^/]+)\/([a-z]+)/.exec(pointer) ?? []
    const found = path === undefined ? undefined : operationsOf(document).find((operation) => operation.path === path.replaceAll('~1', '/').replaceAll('~0', '~') && operation.method === method)
    return { rule: problem.ruleId, severity: problem.severity, where: `${pointer}: ${problem.message}`, found }
  })
}

/** What is wrong with each operation, by the rules every route follows (COMMON rules; SPEC §3 error shape). */
function ruleBreaks (document: Doc): string[] {
  const problems: string[] = []
  const schemes = document.components?.securitySchemes ?? {}
  const declaredTags = new Map<string, string | undefined>((document.tags ?? []).map((tag: { name: string, description?: string }) => [tag.name, tag.description]))
  const seen = new Map<string, string>()
  for (const { name, operation } of operationsOf(document)) {
    const id = operation.operationId
    if (typeof id !== 'string' || !/^[a-z]+(?:[A-Z][a-z0-9]*)+$/.test(id)) problems.push(`${name}: operationId ${id} is not camelCase verb+noun`)
    else if (seen.has(id)) problems.push(`${name}: operationId ${id} is also ${seen.get(id)}`)
    else seen.set(id, name)
    if (!Array.isArray(operation.tags) || operation.tags.length === 0) problems.push(`${name}: no tag`)
    for (const tag of operation.tags ?? []) {
      const description = declaredTags.get(tag)
      if (description === undefined || description === '') problems.push(`${name}: tag "${tag}" is not declared with a description (tags in plugins/external/swagger.ts)`)
    }
    if (!Array.isArray(operation.security)) {
      problems.push(`${name}: no security (BearerSecurity, [{ adminKey: [] }], ... or [] when public)`)
    } else {
      for (const requirement of operation.security) {
        for (const scheme of Object.keys(requirement)) if (schemes[scheme] === undefined) problems.push(`${name}: security scheme ${scheme} is not defined`)
      }
      const credentials = operation.security.flatMap((requirement: object) => Object.keys(requirement))
      if (credentials.some((scheme: string) => ['bearerAuth', 'adminKey', 'introspectionSecret'].includes(scheme)) && operation.responses['401'] === undefined) {
        problems.push(`${name}: takes a credential but documents no 401`)
      }
    }
    const statuses = Object.keys(operation.responses ?? {})
    const page = operation.tags?.includes('pages') === true
    if (!statuses.some((status) => /^2/.test(status)) && !(page && statuses.includes('303'))) problems.push(`${name}: no 2xx response`)
    if (!statuses.some((status) => /^4/.test(status))) problems.push(`${name}: no 4xx response`)
    for (const status of statuses.filter((status) => /^[45]/.test(status))) {
      const content = operation.responses[status].content ?? {}
      const json = content['application/json']?.schema
      if (json === undefined) {
        if (!page) problems.push(`${name} ${status}: not the JSON error shape`)
        continue
      }
      const required = new Set(json.required ?? [])
      if (!['statusCode', 'code', 'error', 'message'].every((field) => required.has(field) && json.properties?.[field] !== undefined)) {
        problems.push(`${name} ${status}: not the error shape {statusCode, code, error, message} (use errors({...}))`)
      }
      const codes = Object.values<any>(content['application/json'].examples ?? {}).map(({ value }) => value.code)
      if (codes.length === 0 || !codes.every((code) => code in ErrorCodes)) problems.push(`${name} ${status}: codes ${codes.join(', ')} are not SPEC error codes`)
    }
    const body = operation.requestBody?.content?.['application/json']?.schema
    if (body?.type === 'object' && body.additionalProperties !== false) problems.push(`${name}: the JSON body is not closed (additionalProperties: false)`)
  }
  return problems
}

t.test('swagger-parser accepts the served document (and the development one)', async (t) => {
  for (const [label, document] of Object.entries({ served, development })) {
    await t.resolves(SwaggerParser.validate(structuredClone(document)), `${label}: valid`)
  }
  t.match(served, { openapi: /^3\.1\./, info: { license: { name: String } } })
  t.ok(served.info.license.identifier !== undefined || served.info.license.url !== undefined, 'the license says which (SPDX identifier or URL)')
  t.same(served.servers, [{ url: 'http://latchkey.test', description: 'This deployment (APP_URL)' }], 'the server is the deployment\'s own APP_URL')
})

t.test('Redocly recommended: no error; every warning is one kept on purpose and explained in docs/openapi.md', async (t) => {
  const explained = readFileSync(join(root, 'docs', 'openapi.md'), 'utf8')
  for (const rule of Object.keys(deliberate)) t.match(explained, `\`${rule}\``, `docs/openapi.md explains ${rule}`)
  for (const [label, document] of Object.entries({ served, development })) {
    const problems = await redoclyProblems(document)
    t.same(problems.filter(({ severity }) => severity === 'error').map(({ rule, where }) => `${rule} ${where}`), [], `${label}: no error`)
    const unexplained = problems.filter(({ rule, found }) => deliberate[rule]?.(found, document) !== true)
    t.same(unexplained.map(({ rule, where }) => `${rule} ${where}`), [], `${label}: ${problems.length} warnings, each deliberate`)
  }
  const devWarnings = (await redoclyProblems(development)).map(({ rule }) => rule)
  t.ok(devWarnings.includes('no-server-example.com'), 'a localhost server is flagged (development only)')
})

t.test('every schema in the document is valid JSON Schema 2020-12 where it stands (strict)', async (t) => {
  for (const [label, document] of Object.entries({ served, development })) {
    const schemas: Array<[string, unknown]> = []
    const keywords = new Set(['example'])
    const walk = (node: unknown): void => {
      if (Array.isArray(node)) { node.forEach(walk); return }
      if (typeof node !== 'object' || node === null) return
      for (const [key, value] of Object.entries(node)) { if (key.startsWith('x-')) keywords.add(key); walk(value) }
    }
    for (const { name, operation } of operationsOf(document)) {
      for (const parameter of operation.parameters ?? []) schemas.push([`${name} ${parameter.in} ${parameter.name}`, parameter.schema])
      for (const [type, media] of Object.entries<any>(operation.requestBody?.content ?? {})) schemas.push([`${name} body ${type}`, media.schema])
      for (const [status, response] of Object.entries<any>(operation.responses)) {
        for (const [type, media] of Object.entries<any>(response.content ?? {})) schemas.push([`${name} ${status} ${type}`, media.schema])
        for (const [header, value] of Object.entries<any>(response.headers ?? {})) schemas.push([`${name} ${status} header ${header}`, value.schema])
      }
    }
    for (const [component, schema] of Object.entries(document.components?.schemas ?? {})) schemas.push([`#/components/schemas/${component}`, schema])
    walk(schemas.map(([, schema]) => schema))
    const ajv = new Ajv2020({ strict: true, validateFormats: false, keywords: [...keywords] })
    for (const [component, schema] of Object.entries(document.components?.schemas ?? {})) ajv.addSchema(schema as object, `#/components/schemas/${component}`)
    const invalid: string[] = []
    for (const [where, schema] of schemas) {
      try { ajv.compile(schema as object) } catch (error) { invalid.push(`${where}: ${(error as Error).message}`) }
    }
    t.same(invalid, [], `${label}: ${schemas.length} schemas compile`)
    t.ok(schemas.length >= 150, `${label}: ${schemas.length} schemas checked`)
  }
})

t.test('every operation, whoever added it: operationId, tags, security, a 2xx and its 4xx in the error shape', async (t) => {
  for (const [label, document] of Object.entries({ served, development })) {
    t.same(ruleBreaks(document), [], `${label}: ${operationsOf(document).length} operations follow the rules`)
  }
  t.ok(operationsOf(development).some(({ path }) => path === '/dev/inbox'), 'the development document has the dev inbox')
  t.notOk(operationsOf(served).some(({ path }) => path.startsWith('/dev/')), 'and only it')
  t.ok(operationsOf(served).some(({ operation }) => operation.tags.includes('pages')), 'the built-in pages are documented (tag pages)')

  // Stable names: a client generated yesterday still finds these operations today.
  const names: Record<string, string> = {
    requestMagicLink: 'POST /auth/magic-link',
    verifyMagicLink: 'GET /auth/magic-link/verify',
    signUp: 'POST /auth/signup',
    consumeMagicLink: 'POST /auth/magic-link/consume',
    requestCode: 'POST /auth/otp',
    verifyCode: 'POST /auth/otp/verify',
    logInWithPassword: 'POST /auth/login',
    streamCrossDeviceOutcome: 'GET /auth/magic-link/requests/{id}/events',
    pollCrossDeviceOutcome: 'GET /auth/magic-link/requests/{id}/outcome',
    refreshTokens: 'POST /auth/refresh',
    logOut: 'POST /auth/logout',
    logOutEverywhere: 'POST /auth/logout-all',
    listSessions: 'GET /auth/sessions',
    revokeSession: 'DELETE /auth/sessions/{id}',
    getAccount: 'GET /auth/me',
    updateAccount: 'PATCH /auth/me',
    deleteAccount: 'DELETE /auth/me',
    introspectToken: 'POST /auth/introspect',
    getJwks: 'GET /.well-known/jwks.json',
    checkLiveness: 'GET /health',
    checkReadiness: 'GET /ready',
    getMetrics: 'GET /metrics',
    listTodos: 'GET /todos',
    createTodo: 'POST /todos',
    updateTodo: 'PATCH /todos/{id}',
    deleteTodo: 'DELETE /todos/{id}'
  }
  const byId = Object.fromEntries(operationsOf(served).map(({ name, operation }) => [operation.operationId, name]))
  for (const [id, name] of Object.entries(names)) t.equal(byId[id], name, `${id} is ${name}`)

  const security = (name: string) => operationsOf(served).find((operation) => operation.name === name)?.operation.security
  t.same(security('POST /auth/otp'), [], 'a public route says so')
  t.same(security('GET /auth/sessions'), [{ bearerAuth: [] }])
  t.same(security('POST /auth/introspect'), [{ introspectionSecret: [] }])
  t.same(security('GET /auth/magic-link/requests/{id}/outcome'), [{ deviceSecret: [] }])
  t.same(security('GET /account'), [{ pageSession: [] }])
})

t.test('declared security is what the routes do: without credentials a secured route answers 401, a public one never asks for a token', async (t) => {
  // The code each scheme refuses a missing credential with; the admin routes (not landed yet) may pick theirs.
  const refusals: Record<string, (code: unknown) => boolean> = {
    bearerAuth: (code) => code === 'TOKEN_MISSING',
    introspectionSecret: (code) => code === 'CLIENT_UNAUTHORIZED',
    adminKey: (code) => typeof code === 'string' && code in ErrorCodes
  }
  let checked = 0
  for (const { name, path, method, operation } of operationsOf(served)) {
    if (operation.tags.includes('pages')) continue // pages redirect to sign-in instead (303), with their own cookies
    const schemes: string[] = operation.security.flatMap((requirement: object) => Object.keys(requirement))
    const url = path.replace(/\{[^}]+\}/g, '0123456789abcdef01234567')
    const response = await app.inject({ method: method.toUpperCase() as 'GET', url, payload: ['post', 'patch', 'put'].includes(method) ? {} : undefined })
    const code = response.headers['content-type']?.toString().startsWith('application/json') === true ? response.json().code : undefined
    if (schemes.length === 0) {
      t.not(code, 'TOKEN_MISSING', `${name} is public: it does not ask for a token (${response.statusCode})`)
    } else if (schemes.every((scheme) => scheme in refusals)) {
      t.same([response.statusCode, schemes.some((scheme) => refusals[scheme]!(code))], [401, true], `${name} (${schemes.join(', ')}) → 401 ${code}`)
    } else {
      continue // the device secret: a wait without it is refused as gone (410), not told which part was wrong
    }
    checked++
  }
  t.ok(checked >= 20, `${checked} operations checked`)
})

t.test('the security schemes name the header and cookies the routes read; unused schemes stay out', async (t) => {
  t.equal(served.components.securitySchemes.deviceSecret.name.toLowerCase(), DEVICE_SECRET_HEADER)
  t.equal(served.components.securitySchemes.deviceCookie.name, DEVICE_COOKIE)
  t.equal(served.components.securitySchemes.pageSession.name, ACCESS_COOKIE)
  t.same(served.components.securitySchemes.adminKey, securitySchemes.adminKey, 'with ADMIN_API_KEYS the admin routes take the admin key')
  t.match(securitySchemes.adminKey, { type: 'http', scheme: 'bearer' })
  const devDocument = (await dev.inject({ method: 'GET', url: '/openapi.json' })).json()
  t.notOk(devDocument.components.securitySchemes.adminKey, 'without ADMIN_API_KEYS no route takes it: the scheme is left out')
  t.notOk(devDocument.tags.some((tag: { name: string }) => tag.name === 'admin'), 'and so is the admin tag')
})

t.test('a new route is held to the same rules: the checks fail on one that breaks them and pass once it follows them', async (t) => {
  /** The swagger plugin alone, with one admin route, as a helper adding routes would write it. */
  async function documentWith (schema: Record<string, unknown>): Promise<Doc> {
    const fastify = Fastify()
    t.teardown(async () => { await fastify.close() })
    await fastify.register(fp(async (instance) => { instance.decorate('config', { APP_URL: 'https://auth.latchkey.dev/' } as never) }, { name: 'config' }))
    await fastify.register(swaggerPlugin)
    fastify.get('/admin/users', { schema: { ...schema, response: { 200: Type.Object({ users: Type.Array(Type.String()) }), ...(schema.response as object) } } }, async () => ({ users: [] }))
    await fastify.ready()
    return fastify.swagger() as Doc
  }

  const careless = await documentWith({ tags: ['admin'], summary: 'Users', description: 'All users', response: {} })
  const breaks = ruleBreaks(careless)
  t.ok(breaks.some((problem) => /operationId undefined/.test(problem)), 'no name: reported')
  t.ok(breaks.some((problem) => /no security/.test(problem)), 'no security: reported')
  t.ok((await redoclyProblems(careless)).some(({ rule, severity }) => rule === 'security-defined' && severity === 'error'), 'Redocly refuses it too')

  const careful = await documentWith({
    tags: ['admin'],
    operationId: 'listUsers',
    security: [{ adminKey: [] }],
    summary: 'Users',
    description: 'All users',
    response: errors({ 401: 'TOKEN_MISSING, TOKEN_INVALID' })
  })
  t.same(ruleBreaks(careful), [], 'named, secured, with its 401: no rule broken')
  t.same((await redoclyProblems(careful)).map(({ rule, where }) => `${rule} ${where}`), [], 'and Redocly has nothing to say')
  t.match(careful.components.securitySchemes, { adminKey: { type: 'http', scheme: 'bearer' } }, 'the admin key appears once a route uses it')
  t.same(careful.servers, [{ url: 'https://auth.latchkey.dev', description: 'This deployment (APP_URL)' }], 'APP_URL without its trailing slash')
  t.same(careful.tags.map(({ name }: { name: string }) => name), ['admin'], 'only the tags in use')
})

t.test('a client generated with openapi-typescript type-checks against the served document, and signs in every way', async (t) => {
  const directory = mkdtempSync(join(tmpdir(), 'latchkey-openapi-'))
  t.teardown(() => { rmSync(directory, { recursive: true, force: true }) })
  const program = join(directory, 'sign-in-tour.mts')
  copyFileSync(join(root, 'test', 'plugins', 'openapi-client', 'sign-in-tour.mts'), program)

  // The project's compiler settings (strict, noUncheckedIndexedAccess...), with Node's types for fetch.
  const { config } = ts.readConfigFile(join(root, 'tsconfig.json'), ts.sys.readFile)
  const { options } = ts.parseJsonConfigFileContent(config, ts.sys, root)
  const compilerOptions = { ...options, noEmit: true, rootDir: directory, typeRoots: [join(root, 'node_modules', '@types')], types: ['node'] }
  const host = ts.createCompilerHost(compilerOptions)
  let previous: ts.Program | undefined // a second check reuses what did not change (the libraries)
  const check = (types: string): string[] => {
    writeFileSync(join(directory, 'api.d.ts'), types)
    previous = ts.createProgram([program], compilerOptions, host, previous)
    return ts.getPreEmitDiagnostics(previous).map((diagnostic) => ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n'))
  }

  const types = await apiTypes(served)
  t.match(types, /export interface operations/, 'operations by operationId')
  t.same(check(types), [], 'the tour compiles against the generated types')

  // A route that changes shape breaks the build of its clients: here the refresh answers `token`.
  const changed = structuredClone(served)
  const refreshed = changed.paths['/auth/refresh'].post.responses['200'].content['application/json'].schema
  refreshed.properties.token = refreshed.properties.accessToken
  delete refreshed.properties.accessToken
  refreshed.required = refreshed.required.map((field: string) => field === 'accessToken' ? 'token' : field)
  t.match(check(await apiTypes(changed)), [/accessToken/], 'the tour no longer compiles when a field it reads is renamed')

  // And it runs: the same program, against the app listening on a port.
  const address = await app.listen({ port: 0, host: '127.0.0.1' })
  const seen = new Map<string, number>()
  const next = async (email: string) => {
    const count = (seen.get(email) ?? 0) + 1
    seen.set(email, count)
    return await stack.smtp.waitForMail(email, { count })
  }
  // The import in the program is type-only: it runs without the generated file.
  const { signInTour } = await import(join(root, 'test', 'plugins', 'openapi-client', 'sign-in-tour.mts')) as { signInTour: Tour }
  const email = uniqueEmail('openapi.tour')
  const report = await signInTour(address, email, { linkToken: async (to) => tokenFrom(await next(to)), code: async (to) => codeFrom(await next(to)) })
  t.equal(new Set(report.userIds).size, 1, 'every sign-in is the same user')
  t.equal(report.userIds.length, 4, 'magic-link signup, magic-link login, code, password')
  t.equal(report.crossDevice, 'pending', 'the cross-device request waits for its approval')
  t.same([report.sessions, report.current], [4, 1], 'four sessions listed, the refreshed one current')
  t.ok(report.expiresIn > 0)
})
