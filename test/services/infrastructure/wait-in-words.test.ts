import t from 'tap'
import { waitInWords, withWait } from '../../../services/infrastructure/wait-in-words.js'

t.test('a Retry-After delay in words', async (t) => {
  t.equal(waitInWords(1), '1 second')
  t.equal(waitInWords(0.2), '1 second', 'never "0 seconds"')
  t.equal(waitInWords(58), '58 seconds')
  t.equal(waitInWords(120), '2 minutes')
  t.equal(waitInWords(900), '15 minutes')
  t.equal(waitInWords(86_400), '24 hours')
})

t.test('"try again later" becomes the real wait', async (t) => {
  t.equal(withWait('Too many emails to this address; try again later', 58), 'Too many emails to this address; try again in 58 seconds')
  t.equal(withWait('Too many wrong codes', 600), 'Too many wrong codes (try again in 10 minutes)')
})
