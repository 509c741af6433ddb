import t from 'tap'
import { buildApp, json, startStack, uniqueEmail } from '../helper.js'

const stack = await startStack(t)
const asJson = { accept: 'application/json' }

t.test('/dev/inbox as JSON: the latest emails with the link\'s token and the code picked out', async (t) => {
  const dev = await buildApp(t, stack, { NODE_ENV: 'development', SMTP_URL: '', EMAIL_COOLDOWN: '0' })
  t.same(json(await dev.inject({ method: 'GET', url: '/dev/inbox', headers: asJson })), { messages: [] }, 'empty at first')

  const ada = uniqueEmail('inbox.ada')
  const bob = uniqueEmail('inbox.bob')
  await dev.inject({ method: 'POST', url: '/auth/magic-link', payload: { email: ada } })
  await dev.inject({ method: 'POST', url: '/auth/otp', payload: { email: bob } })
  await dev.inject({ method: 'POST', url: '/auth/otp', payload: { email: ada } })

  const response = await dev.inject({ method: 'GET', url: '/dev/inbox', headers: asJson })
  t.equal(response.statusCode, 200)
  t.match(response.headers['content-type'], /^application\/json/)
  t.equal(response.headers['cache-control'], 'no-store')
  const { messages } = json(response)
  t.same(messages.map((mail: { to: string }) => mail.to), [ada, bob, ada], 'newest first')

  const [code, , link] = messages
  t.match(code, { to: ada, link: null, token: null, code: /^[0-9]{6}$/, subject: /Your Latchkey code/ })
  t.match(link, { to: ada, code: null, token: /^[A-Za-z0-9_-]{43}$/, link: /^http:\/\/latchkey\.test\/auth\/magic-link\/verify\?token=/ })
  t.equal(new URL(link.link).searchParams.get('token'), link.token, 'the token is the link\'s')
  t.ok(link.text.includes(link.link), 'and the link is the one in the email')
  t.ok(code.text.includes(code.code), 'the code is the one in the email')

  // The token and code work: the JSON is what the curl tour (docs/api-tour.md) reads.
  const look = await dev.inject({ method: 'GET', url: `/auth/magic-link/verify?token=${link.token}` })
  t.match(json(look), { valid: true, purpose: 'signup', email: ada })
  const signedIn = await dev.inject({ method: 'POST', url: '/auth/otp/verify', payload: { email: ada, code: code.code } })
  t.equal(signedIn.statusCode, 200)

  const filtered = json(await dev.inject({ method: 'GET', url: `/dev/inbox?to=${encodeURIComponent(bob.toUpperCase())}`, headers: asJson }))
  t.same(filtered.messages.map((mail: { to: string }) => mail.to), [bob], '?to= keeps one address (any case)')
  const bad = await dev.inject({ method: 'GET', url: '/dev/inbox?to=nobody', headers: asJson })
  t.match(json(bad), { statusCode: 400, code: 'VALIDATION_FAILED', field: 'querystring.to' })

  const page = await dev.inject({ method: 'GET', url: '/dev/inbox', headers: { accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8' } })
  t.match(page.headers['content-type'], /^text\/html/, 'a browser still gets the page')
  const curl = await dev.inject({ method: 'GET', url: '/dev/inbox', headers: { accept: '*/*' } })
  t.match(curl.headers['content-type'], /^text\/html/, 'so does a client that asks for nothing in particular')
})

t.test('DNS rebinding: in development, a Host that is neither loopback nor APP_URL\'s is refused', async (t) => {
  const dev = await buildApp(t, stack, { NODE_ENV: 'development', SMTP_URL: '' })
  const inbox = async (host: string) => await dev.inject({ method: 'GET', url: '/dev/inbox', headers: { ...asJson, host } })
  for (const host of ['localhost:3000', 'localhost', '127.0.0.1:3000', '127.1.2.3', '[::1]:3000', 'app.localhost:3000', 'LATCHKEY.test', 'latchkey.test:8080']) {
    t.equal((await inbox(host)).statusCode, 200, `${host}: served`)
  }
  for (const host of ['rebind.attacker.example', 'rebind.attacker.example:3000', 'localhost.attacker.example', '127.0.0.1.nip.io', 'latchkey.test.attacker.example']) {
    const refused = await inbox(host)
    t.same([refused.statusCode, json(refused).code], [403, 'HOST_NOT_ALLOWED'], `${host}: refused`)
    t.notMatch(refused.body, /messages/)
  }
  const signIn = await dev.inject({ method: 'POST', url: '/auth/otp', headers: { host: 'rebind.attacker.example:3000' }, payload: { email: uniqueEmail('rebind') } })
  t.equal(signIn.statusCode, 403, 'the API too')

  const notDev = await buildApp(t, stack)
  t.equal((await notDev.inject({ method: 'GET', url: '/health', headers: { host: 'api.example.com' } })).statusCode, 200, 'outside development any Host is served (the proxy decides)')
})
