import t from 'tap'
import { createVerifiedTokenCache } from '../../../services/tokens/verified-token-cache.js'

const claimsUntil = (expSeconds: number) => ({ sub: 'u', sid: 's', jti: 'j', iat: expSeconds - 900, exp: expSeconds })

t.test('an entry never outlives the token exp, even in use', async (t) => {
  let now = 1_000_000_000_000
  const cache = createVerifiedTokenCache({ maxIdleMs: 60_000, now: () => now })
  const exp = now / 1000 + 10 // expires in 10 s, well inside the 60 s cap
  cache.set('token', claimsUntil(exp))
  t.same(cache.get('token'), claimsUntil(exp), 'served while live')
  now = exp * 1000 - 1
  t.ok(cache.get('token'), 'still served 1 ms before exp')
  now = exp * 1000
  t.equal(cache.get('token'), undefined, 'gone at exp: the verifier decides (TOKEN_EXPIRED) from then on')
  t.equal(cache.size, 0, 'and dropped')
})

t.test('an entry in use lives until exp; one idle for maxIdleMs is dropped; an expired token is never stored', async (t) => {
  let now = 1_000_000_000_000
  const cache = createVerifiedTokenCache({ maxIdleMs: 60_000, now: () => now })
  const exp = now / 1000 + 900
  cache.set('token', claimsUntil(exp))
  for (let i = 0; i < 12; i++) {
    now += 59_999
    t.ok(cache.get('token'), 'used again within the idle time: still cached')
  }
  cache.set('idle', claimsUntil(exp))
  now += 59_999
  t.ok(cache.get('token'))
  now += 60_000
  t.equal(cache.get('idle'), undefined, 'gone after maxIdleMs unused')
  t.ok(now < exp * 1000)
  cache.set('stale', claimsUntil(now / 1000))
  t.equal(cache.get('stale'), undefined)
  t.equal(cache.size, 1, 'only the token in use is left')
})

t.test('bounded: full of live entries, a newcomer is not cached; expired ones make room; only the exact string hits', async (t) => {
  let now = 1_000_000_000_000
  const cache = createVerifiedTokenCache({ maxEntries: 3, maxIdleMs: 60_000, now: () => now })
  for (const token of ['a', 'b', 'c', 'd']) cache.set(token, claimsUntil(now / 1000 + 900))
  t.equal(cache.size, 3)
  t.ok(cache.get('a'), 'live entries stay')
  t.equal(cache.get('d'), undefined, 'the newcomer was not cached')
  t.equal(cache.get('a '), undefined, 'no normalisation: another string is another token')
  now += 30_000
  t.ok(cache.get('a'), 'a is used again')
  cache.set('e', claimsUntil(now / 1000 + 900))
  t.equal(cache.get('e'), undefined, 'still full of entries in use')
  now += 30_000
  cache.set('e', claimsUntil(now / 1000 + 900))
  t.ok(cache.get('e'), 'the ones left idle make room')
  t.ok(cache.get('a'), 'the one used meanwhile stays')
  t.equal(cache.size, 2)
})

t.test('a round-robin over more tokens than fit still hits at capacity / tokens (evicting the oldest would never hit)', async (t) => {
  const now = 1_000_000_000_000
  const cache = createVerifiedTokenCache({ maxEntries: 100, now: () => now })
  const tokens = Array.from({ length: 101 }, (_, i) => `token-${i}`)
  let hits = 0
  for (let pass = 0; pass < 10; pass++) {
    for (const token of tokens) {
      if (cache.get(token) !== undefined) hits++
      else cache.set(token, claimsUntil(now / 1000 + 900))
    }
  }
  t.equal(hits, 9 * 100, 'every pass after the first: 100 of 101 hit')
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
