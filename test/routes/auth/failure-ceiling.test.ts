import t from 'tap'
import { redisKeys } from '../../../services/infrastructure/redis-keys.js'
import { buildApp, json, startStack, tokenFrom, uniqueEmail } from '../../helper.js'

const stack = await startStack(t)
const sleep = async (ms: number) => await new Promise((resolve) => setTimeout(resolve, ms))

t.test('consecutive failures back off exponentially after five, for known and unknown addresses alike', async (t) => {
  const app = await buildApp(t, stack, { EMAIL_COOLDOWN: '0' })
  const known = uniqueEmail('known')
  await app.inject({ method: 'POST', url: '/auth/magic-link', payload: { email: known } })
  const token = tokenFrom(await stack.smtp.waitForMail(known))
  await app.inject({ method: 'POST', url: '/auth/signup', payload: { token, email: known, name: 'K', password: 'correct horse battery' } })

  for (const email of [known, uniqueEmail('unknown')]) {
    const login = async (password: string) => await app.inject({ method: 'POST', url: '/auth/login', payload: { email, password } })
    const statuses = []
    for (let i = 0; i < 6; i++) statuses.push((await login('wrong')).statusCode)
    t.same(statuses, [401, 401, 401, 401, 401, 401], `${email}: six failures are answered normally`)
    const backingOff = await login('correct horse battery')
    t.equal(backingOff.statusCode, 429, 'the next check waits, even with the right password')
    t.equal(json(backingOff).code, 'RATE_LIMITED')
    t.equal(backingOff.headers['retry-after'], '1', 'first back-off is one second')
    await sleep(1_100)
    t.equal((await login('wrong')).statusCode, 401, 'allowed again after the back-off')
    const second = await login('wrong')
    t.equal(second.statusCode, 429)
    t.equal(second.headers['retry-after'], '2', 'and the back-off doubles')
  }
})

t.test('the ceiling refuses checks for a day, and a magic-link sign-in clears it', async (t) => {
  const app = await buildApp(t, stack, { EMAIL_COOLDOWN: '0', FAILURE_CEILING: '6' })
  const email = uniqueEmail('ceiling')
  await app.inject({ method: 'POST', url: '/auth/magic-link', payload: { email } })
  const signupToken = tokenFrom(await stack.smtp.waitForMail(email))
  await app.inject({ method: 'POST', url: '/auth/signup', payload: { token: signupToken, email, name: 'C', password: 'correct horse battery' } })

  for (let i = 0; i < 6; i++) await app.inject({ method: 'POST', url: '/auth/login', payload: { email, password: 'wrong' } })
  const refused = await app.inject({ method: 'POST', url: '/auth/login', payload: { email, password: 'correct horse battery' } })
  t.equal(refused.statusCode, 429)
  t.ok(Number(refused.headers['retry-after']) > 86_000, `refused for a day (Retry-After ${refused.headers['retry-after']})`)
  t.ok(await stack.redis.admin.pttl(redisKeys.verifyFailures(app.addressKey(email))) > 0, 'remembered with a TTL, never forever')

  await app.inject({ method: 'POST', url: '/auth/magic-link', payload: { email } })
  const loginToken = tokenFrom(await stack.smtp.waitForMail(email, { count: 2 }))
  t.equal((await app.inject({ method: 'POST', url: '/auth/magic-link/consume', payload: { token: loginToken } })).statusCode, 200, 'a magic link still signs in')
  t.equal((await app.inject({ method: 'POST', url: '/auth/login', payload: { email, password: 'correct horse battery' } })).statusCode, 200, 'and clears the ceiling')
})
