/**
 * The pages' colours meet WCAG 2.2 contrast, computed from the palette itself (relative luminance
 * and contrast ratio as WCAG defines them), in light and dark: text 4.5:1 (1.4.3), input borders
 * and the focus ring 3:1 against the card they sit on (1.4.11). axe-core checks text contrast in
 * the browser tests too, but not borders or the focus ring: this test does.
 */
import t from 'tap'
import { PALETTE, STYLESHEET } from '../../views/layout.js'

const channel = (value: number): number => {
  const c = value / 255
  return c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4
}
const rgb = (hex: string): [number, number, number] => {
  const n = parseInt(hex.slice(1), 16)
  return [n >> 16, (n >> 8) & 255, n & 255]
}
const luminance = (hex: string): number => {
  const [r, g, b] = rgb(hex).map(channel) as [number, number, number]
  return 0.2126 * r + 0.7152 * g + 0.0722 * b
}
const contrast = (a: string, b: string): number => {
  const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x) as [number, number]
  return (hi + 0.05) / (lo + 0.05)
}
/** color-mix(in srgb, top p%, base): the tinted background of notices. */
const mix = (top: string, share: number, base: string): string => {
  const [a, b] = [rgb(top), rgb(base)]
  return '#' + a.map((v, i) => Math.round(v * share + b[i]! * (1 - share)).toString(16).padStart(2, '0')).join('')
}

t.test('the contrast formula gives the known figures of the issue', async (t) => {
  t.equal(contrast('#d9e2ec', '#ffffff').toFixed(2), '1.31', 'the old input border on white')
  t.equal(contrast('#ffffff', '#7aa2f7').toFixed(2), '2.52', 'the old dark-mode button: white on #7aa2f7')
  t.equal(contrast('#000000', '#ffffff'), 21)
})

for (const [name, scheme] of Object.entries(PALETTE)) {
  t.test(`${name} scheme`, async (t) => {
    const check = (what: string, fg: string, bg: string, minimum: number): void => {
      const ratio = contrast(fg, bg)
      t.ok(ratio >= minimum, `${what}: ${fg} on ${bg} is ${ratio.toFixed(2)}:1 (needs ${minimum}:1)`)
    }
    for (const surface of ['card', 'bg'] as const) {
      check(`text on ${surface}`, scheme.fg, scheme[surface], 4.5)
      check(`muted text on ${surface}`, scheme.muted, scheme[surface], 4.5)
      check(`links on ${surface}`, scheme.accent, scheme[surface], 4.5)
      check(`error text on ${surface}`, scheme.danger, scheme[surface], 4.5)
    }
    check('button text', scheme.onAccent, scheme.accent, 4.5)
    check('danger button text', scheme.onDanger, scheme.danger, 4.5)
    check('input border', scheme.field, scheme.card, 3)
    check('input border in error', scheme.danger, scheme.card, 3)
    check('focus ring', scheme.focus, scheme.card, 3)
    check('text in a notice', scheme.fg, mix(scheme.accent, 0.08, scheme.card), 4.5)
    check('muted text in a notice', scheme.muted, mix(scheme.accent, 0.08, scheme.card), 4.5)
    check('error text in an error notice', scheme.danger, mix(scheme.danger, 0.08, scheme.card), 4.5)
  })
}

t.test('the stylesheet draws borders and the focus ring with those colours', async (t) => {
  t.match(STYLESHEET, /input\{[^}]*border:1px solid var\(--field\)/, 'input borders use --field')
  t.match(STYLESHEET, /input:focus,button:focus-visible,a:focus-visible\{outline:3px solid var\(--focus\)/, 'a solid 3px focus ring in --focus')
  t.match(STYLESHEET, /button,a\.button\{[^}]*background:var\(--accent\);color:var\(--on-accent\)/, 'button text uses --on-accent')
  t.notMatch(STYLESHEET, /#fff(?![0-9a-f])|color:#/, 'no colour outside the palette')
  t.match(STYLESHEET, /main\{[^}]*overflow-wrap:anywhere/, 'long words (addresses) wrap inside the card')
})
