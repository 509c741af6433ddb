import t from 'tap'
import { redisKeys } from '../../../services/infrastructure/redis-keys.js'
import { buildApp, codeFrom, json, startStack, tokenFrom, uniqueEmail } from '../../helper.js'

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

t.test('15.4: after the back-off, parallel guesses are not all evaluated: one is, the rest wait', async (t) => {
  const app = await buildApp(t, stack, { EMAIL_COOLDOWN: '0', EMAIL_HOURLY_LIMIT: '100000' })
  const email = uniqueEmail('parallel')
  await app.inject({ method: 'POST', url: '/auth/magic-link', payload: { email } })
  const token = tokenFrom(await stack.smtp.waitForMail(email))
  await app.inject({ method: 'POST', url: '/auth/signup', payload: { token, email, name: 'P', password: 'correct horse battery' } })
  const login = async () => await app.inject({ method: 'POST', url: '/auth/login', payload: { email, password: 'wrong' } })

  for (let i = 0; i < 6; i++) await login()
  await sleep(1_100) // the first back-off (1 s) is over
  const before = app.passwords.verificationCount()
  const burst = await Promise.all(Array.from({ length: 4 }, login))
  t.same(burst.map((response) => response.statusCode).sort(), [401, 429, 429, 429], 'one guess answered, three told to wait')
  t.equal(app.passwords.verificationCount() - before, 1, 'exactly one password was checked')
  t.ok(burst.filter((response) => response.statusCode === 429).every((response) => Number(response.headers['retry-after']) >= 1), 'the others carry Retry-After')

  // The same holds for codes: after the back-off, one parallel guess is compared, the rest wait.
  await app.inject({ method: 'POST', url: '/auth/otp', payload: { email } })
  const code = codeFrom(await stack.smtp.waitForMail(email, { count: 2 }))
  const wrong = code === '000000' ? '111111' : '000000'
  await sleep(2_100) // the second back-off (2 s) is over
  const address = app.addressKey(email)
  const guesses = await Promise.all(Array.from({ length: 4 }, async () => await app.inject({ method: 'POST', url: '/auth/otp/verify', payload: { email, code: wrong } })))
  const evaluated = guesses.filter((response) => json(response).code !== 'OTP_LOCKED')
  t.equal(evaluated.length, 1, `one code guess evaluated (${guesses.map((response) => json(response).code).join(', ')})`)
  t.equal(await stack.redis.admin.hget(redisKeys.otp(address), 'a'), '1', 'the code counted one attempt')
})
