/**
 * A client written only against the types openapi-typescript generates from the served
 * /openapi.json (`./api.js` is generated next to this file by test/plugins/openapi-client.test.ts;
 * it is not in the repository). It makes every sign-in call, refreshes and lists sessions. The
 * test type-checks it with the project's TypeScript (a route that changes a name or a shape this
 * program uses fails the check) and then runs it against the real app.
 *
 * `.mts`, outside the project's own type-check (tsconfig includes *.ts), because `./api.js`
 * exists only while the test runs; the import is type-only, so the program runs without it.
 */
import type { operations, paths } from './api.js'

type Method = 'get' | 'post' | 'patch' | 'delete'
type Operation<P extends keyof paths, M extends Method> = paths[P][M] & { responses: object }
type JsonOf<T> = T extends { content: { 'application/json': infer Body } } ? Body : never
type BodyOf<O> = O extends { requestBody: infer R } ? JsonOf<R> : O extends { requestBody?: infer R } ? JsonOf<NonNullable<R>> : never
type QueryOf<O> = O extends { parameters: { query?: infer Q } } ? NonNullable<Q> : never
type PathOf<O> = O extends { parameters: { path: infer A } } ? A : never
type HeadersOf<O> = O extends { parameters: { header?: infer H } } ? NonNullable<H> : never

interface Call<O> {
  body?: BodyOf<O>
  query?: QueryOf<O>
  path?: PathOf<O>
  headers?: HeadersOf<O>
  accessToken?: string
}

/** One call, typed end to end by its path, method and the status it expects. */
export async function call<P extends keyof paths, M extends Method, S extends keyof Operation<P, M>['responses'] & number> (
  baseUrl: string, method: M, path: P, status: S, options: Call<Operation<P, M>> = {}
): Promise<JsonOf<Operation<P, M>['responses'][S]>> {
  const filled = String(path).replace(/\{(\w+)\}/g, (_, name: string) => encodeURIComponent(String((options.path as Record<string, unknown>)[name])))
  const url = new URL(filled, baseUrl)
  for (const [name, value] of Object.entries(options.query ?? {})) url.searchParams.set(name, String(value))
  const headers: Record<string, string> = { accept: 'application/json', ...(options.headers as Record<string, string> | undefined) }
  if (options.body !== undefined) headers['content-type'] = 'application/json'
  if (options.accessToken !== undefined) headers.authorization = `Bearer ${options.accessToken}`
  const response = await fetch(url, { method: method.toUpperCase(), headers, body: options.body === undefined ? undefined : JSON.stringify(options.body) })
  if (response.status !== status) throw new Error(`${method.toUpperCase()} ${filled}: expected ${status}, got ${response.status} ${await response.text()}`)
  return (response.status === 204 ? null : await response.json()) as JsonOf<Operation<P, M>['responses'][S]>
}

/** The operations this program relies on, by the names generators give them. */
export const operationIds = [
  'requestMagicLink', 'verifyMagicLink', 'signUp', 'consumeMagicLink', 'requestCode', 'verifyCode',
  'logInWithPassword', 'pollCrossDeviceOutcome', 'refreshTokens', 'listSessions'
] as const satisfies ReadonlyArray<keyof operations>

/** Where the program reads what the service emailed. */
export interface Mailbox {
  linkToken: (email: string) => Promise<string>
  code: (email: string) => Promise<string>
}

type SignedIn = JsonOf<operations['consumeMagicLink']['responses'][200]>

/** Every way to sign in, then a refresh and the list of sessions. */
export async function signInTour (baseUrl: string, email: string, mailbox: Mailbox) {
  const password = 'correct horse battery staple'
  const signedIn: SignedIn[] = []

  // Magic link for a new address: look at the link, then create the account with it.
  await call(baseUrl, 'post', '/auth/magic-link', 202, { body: { email } })
  const signupToken = await mailbox.linkToken(email)
  const link = await call(baseUrl, 'get', '/auth/magic-link/verify', 200, { query: { token: signupToken } })
  if (link.purpose !== 'signup') throw new Error(`a new address gets a signup link, not ${link.purpose}`)
  signedIn.push(await call(baseUrl, 'post', '/auth/signup', 201, { body: { email, name: 'Ada Lovelace', password, token: signupToken } }))

  // Magic link for the existing account.
  await call(baseUrl, 'post', '/auth/magic-link', 202, { body: { email } })
  signedIn.push(await call(baseUrl, 'post', '/auth/magic-link/consume', 200, { body: { token: await mailbox.linkToken(email) } }))

  // Emailed code.
  await call(baseUrl, 'post', '/auth/otp', 202, { body: { email } })
  const byCode = await call(baseUrl, 'post', '/auth/otp/verify', 200, { body: { email, code: await mailbox.code(email) } })
  if (byCode.created) throw new Error('the account exists already')
  signedIn.push(byCode)

  // Password set at signup.
  signedIn.push(await call(baseUrl, 'post', '/auth/login', 200, { body: { email, password } }))

  // Cross-device: this device asks and waits; the approval happens on another device.
  const ticket = await call(baseUrl, 'post', '/auth/magic-link', 202, { body: { email, crossDevice: true } })
  if (ticket.requestId === undefined || ticket.deviceSecret === undefined) throw new Error('a cross-device request answers its id and secret')
  const outcome = await call(baseUrl, 'get', '/auth/magic-link/requests/{id}/outcome', 200, {
    path: { id: ticket.requestId }, query: { wait: '0' }, headers: { 'x-device-secret': ticket.deviceSecret }
  })

  // Refresh the last pair, then list the sessions with the new access token.
  const last = signedIn[signedIn.length - 1]!
  const refreshed = await call(baseUrl, 'post', '/auth/refresh', 200, { body: { refreshToken: last.refreshToken } })
  const sessions = await call(baseUrl, 'get', '/auth/sessions', 200, { accessToken: refreshed.accessToken })
  return {
    userIds: signedIn.map(({ user }) => user.id),
    crossDevice: outcome.status,
    sessions: sessions.length,
    current: sessions.filter((session) => session.current).length,
    expiresIn: refreshed.expiresIn
  }
}
