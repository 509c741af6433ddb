import t from 'tap'
import { open, seal } from '../../../services/tokens/token-crypto.js'

t.test('open() requires the full 16-byte GCM tag: a truncated tag is refused', async (t) => {
  const box = seal('the secret', 'a purpose', 'the private key')
  t.equal(open('the secret', 'a purpose', box), 'the private key', 'the box as sealed opens')
  const [iv, tag, body] = box.split('.')
  const full = Buffer.from(tag!, 'base64url')
  t.equal(full.length, 16, 'seal() writes a 16-byte tag')
  for (const bytes of [4, 8, 12, 15]) {
    // A prefix of the right tag: AES-GCM without a fixed tag length accepts it (a 4-byte tag is
    // forged in about 2^32 tries).
    const truncated = [iv, full.subarray(0, bytes).toString('base64url'), body].join('.')
    t.equal(open('the secret', 'a purpose', truncated), null, `a ${bytes}-byte prefix of the right tag is refused`)
  }
  const longer = [iv, Buffer.concat([full, Buffer.alloc(1)]).toString('base64url'), body].join('.')
  t.equal(open('the secret', 'a purpose', longer), null, 'a longer tag too')
  t.equal(open('another secret', 'a purpose', box), null, 'and a wrong secret, as before')
})
