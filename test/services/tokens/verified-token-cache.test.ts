import t from 'tap'
import { createVerifiedTokenCache } from '../../../services/tokens/verified-token-cache.js'

const claimsUntil = (expSeconds: number) => ({ sub: 'u', sid: 's', jti: 'j', iat: expSeconds - 900, exp: expSeconds })

t.test('an entry never outlives the token exp, even inside the age cap', async (t) => {
  let now = 1_000_000_000_000
  const cache = createVerifiedTokenCache({ maxAgeMs: 60_000, now: () => now })
  const exp = now / 1000 + 10 // expires in 10 s, well inside the 60 s cap
  cache.set('token', claimsUntil(exp))
  t.same(cache.get('token'), claimsUntil(exp), 'served while live')
  now = exp * 1000 - 1
  t.ok(cache.get('token'), 'still served 1 ms before exp')
  now = exp * 1000
  t.equal(cache.get('token'), undefined, 'gone at exp: the verifier decides (TOKEN_EXPIRED) from then on')
  t.equal(cache.size, 0, 'and dropped')
})

t.test('an entry lives at most maxAgeMs, and an already expired token is never stored', async (t) => {
  let now = 1_000_000_000_000
  const cache = createVerifiedTokenCache({ maxAgeMs: 60_000, now: () => now })
  cache.set('token', claimsUntil(now / 1000 + 900))
  now += 59_999
  t.ok(cache.get('token'))
  now += 1
  t.equal(cache.get('token'), undefined, 'gone after the age cap')
  cache.set('stale', claimsUntil(now / 1000))
  t.equal(cache.get('stale'), undefined)
  t.equal(cache.size, 0)
})

t.test('bounded: the oldest entry is dropped past maxEntries; only the exact string hits', async (t) => {
  const now = 1_000_000_000_000
  const cache = createVerifiedTokenCache({ maxEntries: 3, now: () => now })
  for (const token of ['a', 'b', 'c', 'd']) cache.set(token, claimsUntil(now / 1000 + 900))
  t.equal(cache.size, 3)
  t.equal(cache.get('a'), undefined, 'the oldest went first')
  t.ok(cache.get('d'))
  t.equal(cache.get('d '), undefined, 'no normalisation: another string is another token')
})

t.test('cached claims cannot be changed by a caller', async (t) => {
  const now = 1_000_000_000_000
  const cache = createVerifiedTokenCache({ now: () => now })
  const claims = claimsUntil(now / 1000 + 900)
  cache.set('token', claims)
  claims.sub = 'someone else'
  t.equal(cache.get('token')!.sub, 'u', 'stored as a copy')
  t.throws(() => { (cache.get('token') as { sub: string }).sub = 'x' }, 'and frozen')
})
