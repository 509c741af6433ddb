import t from 'tap'
import { coarseIp, describeDevice, sameNetwork } from '../../../services/links/cross-device-describe.js'

t.test('describeDevice: browser and system, or an honest unknown', async (t) => {
  t.equal(describeDevice('Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36'), 'Chrome on macOS')
  t.equal(describeDevice('Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0'), 'Firefox on Windows')
  t.equal(describeDevice('Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1'), 'Safari on iOS')
  t.equal(describeDevice('Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/140.0.0.0 Safari/537.36'), 'Chrome on Linux')
  t.equal(describeDevice('curl/8.5.0'), 'an unknown device')
  t.equal(describeDevice(''), 'an unknown device')
  t.equal(describeDevice(undefined), 'an unknown device')
  t.equal(describeDevice('x'.repeat(100_000)), 'an unknown device', 'a huge header is cut before parsing')
  t.equal(describeDevice('Tap 42 now/1.0 (this is you)'), 'an unknown device', "a phisher's text never becomes a browser name")
  t.equal(describeDevice('Mozilla/5.0 (Macintosh) Pick 42/1.0 Safari'), 'Safari on macOS', 'only names from the tables')
})

t.test('coarseIp: a /24 of IPv4, a /48 of IPv6, never the whole address', async (t) => {
  t.equal(coarseIp('203.0.113.7'), '203.0.113.x')
  t.equal(coarseIp('::ffff:198.51.100.200'), '198.51.100.x', 'IPv4-mapped IPv6 counts as IPv4')
  t.equal(coarseIp('2001:db8:85a3::8a2e:370:7334'), '2001:db8:85a3::/48')
  t.equal(coarseIp('2001:db8::1'), '2001:db8:0::/48')
  t.equal(coarseIp('::1'), '0:0:0::/48')
  t.equal(coarseIp('fe80::1%eth0'), 'fe80:0:0::/48', 'a zone id is dropped')
  t.equal(coarseIp('not an address'), 'an unknown network')
  t.equal(coarseIp('1:2:3:4:5:6:7:8:9'), 'an unknown network')
  t.equal(coarseIp(undefined), 'an unknown network')
})

t.test('sameNetwork: the same /24 or /48 is one network; IPv4 and IPv6 differ; unknown compares to nothing', async (t) => {
  t.equal(sameNetwork(coarseIp('203.0.113.7'), coarseIp('203.0.113.250')), true)
  t.equal(sameNetwork(coarseIp('203.0.113.7'), coarseIp('203.0.114.7')), false, 'the next /24 is another network')
  t.equal(sameNetwork(coarseIp('::ffff:203.0.113.7'), coarseIp('203.0.113.9')), true, 'IPv4-mapped is IPv4')
  t.equal(sameNetwork(coarseIp('2001:db8:1:2::1'), coarseIp('2001:db8:1:ffff::9')), true, 'one /48')
  t.equal(sameNetwork(coarseIp('2001:db8:1::1'), coarseIp('2001:db8:2::1')), false)
  t.equal(sameNetwork(coarseIp('203.0.113.7'), coarseIp('2001:db8:1::1')), false, 'IPv4 against IPv6')
  t.equal(sameNetwork(coarseIp(undefined), coarseIp('203.0.113.7')), null, 'nothing to compare')
  t.equal(sameNetwork(coarseIp('203.0.113.7'), coarseIp('garbage')), null)
})
