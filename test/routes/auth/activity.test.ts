import t from 'tap'
import { bearer, buildApp, json, signUp, startStack, tokenFrom, uniqueEmail } from '../../helper.js'
import { browser } from '../pages/page-client.js'

/** GET /auth/activity and the account page's "Recent activity" (issue 21 item 6). */
const stack = await startStack(t)

t.test('your own events, newest first, paged; nobody else\'s', async (t) => {
  const app = await buildApp(t, stack, { EMAIL_COOLDOWN: '0', EMAIL_HOURLY_LIMIT: '100000' }, { events: { background: false } })
  const email = uniqueEmail('activity')
  const ada = await signUp(app, stack, email)
  const other = await signUp(app, stack)

  // Settled on read: the sign-in that made this very token is listed at once.
  const first = json(await app.inject({ method: 'GET', url: '/auth/activity', headers: bearer(ada.accessToken) }))
  t.same(first.events.map((event: { type: string }) => event.type).sort(), ['session.created', 'user.created'])
  t.equal(first.next, null)
  t.ok(first.events.every((event: { userId: string }) => event.userId === ada.user.id), 'only the caller\'s')

  for (let i = 0; i < 22; i++) t.equal((await app.inject({ method: 'PATCH', url: '/auth/me', headers: bearer(ada.accessToken), payload: { name: `Ada ${i}` } })).statusCode, 200)
  const page1 = json(await app.inject({ method: 'GET', url: '/auth/activity', headers: bearer(ada.accessToken) }))
  t.equal(page1.events.length, 20)
  t.type(page1.next, 'string')
  const page2 = json(await app.inject({ method: 'GET', url: `/auth/activity?cursor=${encodeURIComponent(page1.next as string)}`, headers: bearer(ada.accessToken) }))
  t.equal(page2.events.length, 4)
  t.equal(page2.next, null)
  t.equal(new Set([...page1.events, ...page2.events].map((event: { id: string }) => event.id)).size, 24, 'each event once')

  t.equal((await app.inject({ method: 'GET', url: '/auth/activity' })).statusCode, 401)
  t.equal((await app.inject({ method: 'GET', url: '/auth/activity?limit=5', headers: bearer(ada.accessToken) })).statusCode, 400, 'unknown query fields are refused')
  const theirs = json(await app.inject({ method: 'GET', url: '/auth/activity', headers: bearer(other.accessToken) }))
  t.equal(theirs.events.length, 2)

  // The account page lists the same events as "Recent activity".
  const before = stack.smtp.inbox(email).length
  await app.inject({ method: 'POST', url: '/auth/magic-link', payload: { email } })
  const token = tokenFrom(await stack.smtp.waitForMail(email, { count: before + 1 }))
  const signedIn = json(await app.inject({ method: 'POST', url: '/auth/magic-link/consume', headers: { 'user-agent': 'Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0' }, payload: { token } }))
  const person = browser(app)
  person.jar.set('lk_at', signedIn.accessToken)
  person.jar.set('lk_rt', signedIn.refreshToken)
  const page = await person.request({ method: 'GET', url: '/account' })
  t.equal(page.statusCode, 200)
  t.match(page.body, /<h2 id="activity-heading">Recent activity<\/h2>/)
  t.match(page.body, /Signed in with an email link on Firefox on Linux, near 127\.0\.0\.x/)
  t.match(page.body, /Account details changed/)
})
