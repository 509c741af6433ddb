import { hash, verify } from '@node-rs/argon2'
import t from 'tap'
import { ARGON2_OPTIONS } from '../../../services/accounts/passwords.js'
import { buildApp, json, signUp, startStack, tokenFrom, uniqueEmail } from '../../helper.js'

const stack = await startStack(t)
const app = await buildApp(t, stack)

async function signUpWithPassword (email: string, password: string) {
  await app.inject({ method: 'POST', url: '/auth/magic-link', payload: { email } })
  const token = tokenFrom(await stack.smtp.waitForMail(email))
  return await app.inject({ method: 'POST', url: '/auth/signup', payload: { token, email, name: 'Pat', password } })
}

const login = async (email: string, password: string) => await app.inject({ method: 'POST', url: '/auth/login', payload: { email, password } })

t.test('a password set at signup signs in; the hash is argon2id at OWASP strength', async (t) => {
  const email = uniqueEmail('pw')
  t.equal((await signUpWithPassword(email, 'correct horse battery')).statusCode, 201)
  const ok = await login(email.toUpperCase(), 'correct horse battery')
  t.equal(ok.statusCode, 200)
  t.match(json(ok), { user: { email }, accessToken: String, refreshToken: String, expiresIn: 900 })
  const stored = await app.mongo.models.User.findOne({ email }).lean()
  t.match(stored?.passwordHash, /^\$argon2id\$v=19\$m=19456,t=2,p=1\$/)
  t.notOk(JSON.stringify(stored).includes('correct horse battery'))
})

t.test('every failure is the same 401 INVALID_CREDENTIALS', async (t) => {
  const email = uniqueEmail('pw-fail')
  await signUpWithPassword(email, 'correct horse battery')
  const passwordless = await signUp(app, stack)
  const failures = [
    await login(email, 'wrong password'),
    await login(uniqueEmail('unknown'), 'correct horse battery'),
    await login(passwordless.user.email, 'anything at all')
  ]
  for (const response of failures) {
    t.equal(response.statusCode, 401)
    t.same(json(response), json(failures[0]!), 'identical body')
  }
  t.equal(json(failures[0]!).code, 'INVALID_CREDENTIALS')
})

t.test('password rules at signup: 8 to 128 characters', async (t) => {
  t.equal((await signUpWithPassword(uniqueEmail('short'), 'seven77')).statusCode, 400)
  t.equal((await signUpWithPassword(uniqueEmail('long'), 'x'.repeat(129))).statusCode, 400)
  t.equal((await signUpWithPassword(uniqueEmail('max'), 'x'.repeat(128))).statusCode, 201)
})

t.test('invariant 9b: an unknown address costs one argon2 hash too (no timing oracle)', async (t) => {
  const email = uniqueEmail('timing')
  await signUpWithPassword(email, 'correct horse battery')
  const median = (values: number[]) => values.sort((a, b) => a - b)[Math.floor(values.length / 2)]!
  // Wrong guesses on one address back off after a few (the failure ceiling), so each timed
  // failure on the known address is followed by a correct login, and unknown addresses are fresh.
  const sample = async (address: () => string) => {
    const times: number[] = []
    for (let i = 0; i < 9; i++) {
      const target = address()
      const started = performance.now()
      await login(target, 'wrong password')
      times.push(performance.now() - started)
      if (target === email) await login(email, 'correct horse battery')
    }
    return median(times)
  }
  // What one argon2 verification costs on this machine right now.
  const reference = await hash('reference password', ARGON2_OPTIONS)
  const argon2Times: number[] = []
  for (let i = 0; i < 9; i++) {
    const started = performance.now()
    await verify(reference, 'wrong password')
    argon2Times.push(performance.now() - started)
  }
  const oneHash = median(argon2Times)

  await sample(() => uniqueEmail('warm-up')) // the decoy hash is made on first use
  const known = await sample(() => email)
  const unknown = await sample(() => uniqueEmail('nobody'))
  t.ok(known > 0.7 * oneHash, `a wrong password runs argon2 (${known.toFixed(1)} ms; one verification ${oneHash.toFixed(1)} ms)`)
  t.ok(unknown > 0.7 * oneHash, `an unknown address runs argon2 too (${unknown.toFixed(1)} ms)`)
  t.ok(unknown / known > 0.6 && unknown / known < 1.6, `medians are close: known ${known.toFixed(1)} ms, unknown ${unknown.toFixed(1)} ms`)
})
