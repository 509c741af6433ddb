/**
 * The cross-device pages' own stylesheet and the waiting screen's script, served from our origin
 * (GET /assets/cross-device.css, /assets/cross-device.js): the CSP allows no inline style or script.
 * Both build on the main stylesheet's variables.
 */
export const CROSS_DEVICE_STYLES = `
.match{font:700 3.2rem/1 ui-monospace,monospace;letter-spacing:.08em;text-indent:.08em;text-align:center;margin:1rem auto;padding:.9rem 0;width:9rem;border:2px solid var(--accent);border-radius:.75rem}
input.match-input{font:700 2rem/1 ui-monospace,monospace;letter-spacing:.2em;text-align:center;width:7rem}
dl.where{display:grid;grid-template-columns:auto 1fr;gap:.3rem .8rem;margin:1rem 0}
dl.where dt{font-weight:600}
dl.where dd{margin:0;overflow-wrap:anywhere}
.notice.warn{border-color:var(--danger);background:color-mix(in srgb,var(--danger) 8%,transparent)}
.who{overflow-wrap:anywhere}
label.check{display:flex;gap:.5rem;align-items:center;font-weight:400;margin-top:1rem}
label.check input{width:auto;margin:0}
`

/**
 * Live updates for the waiting screen. An EventSource on the request's stream (the HttpOnly
 * device cookie goes with it); on a final event the page reloads itself, and the reload (a GET
 * with the cookie) shows the outcome, or signs in and lands on /account. No token ever reaches
 * this script. Without JavaScript, the page's <noscript> refresh does the same every 5 s.
 */
export const CROSS_DEVICE_SCRIPT = `'use strict'
;(function () {
  var root = document.querySelector('[data-events]')
  if (root === null || typeof window.EventSource !== 'function') return
  var status = document.getElementById('status')
  var countdown = document.getElementById('countdown')
  // Relative to this page's load, so a wrong clock on this device does not matter.
  var deadline = Date.now() + 1000 * Number(root.getAttribute('data-expires-in'))
  var page = root.getAttribute('data-page')
  var say = function (text) { if (status !== null) status.textContent = text }
  var reload = function () { window.location.replace(page) }
  var events = new window.EventSource(root.getAttribute('data-events'))
  var finish = function (text) { events.close(); say(text); reload() }
  events.addEventListener('approved', function () { finish('Approved. Signing you in…') })
  events.addEventListener('denied', function () { finish('The request was denied.') })
  events.addEventListener('expired', function () { finish('The request has expired.') })
  events.addEventListener('unavailable', function () { events.close(); say('Connection lost. Trying again…'); setTimeout(reload, 3000) })
  events.addEventListener('error', function () {
    if (events.readyState === window.EventSource.CLOSED) { say('Connection lost. Trying again…'); setTimeout(reload, 5000) }
  })
  var tick = function () {
    var left = Math.max(0, Math.round((deadline - Date.now()) / 1000))
    if (countdown !== null) countdown.textContent = Math.floor(left / 60) + ':' + String(left % 60).padStart(2, '0')
    if (left === 0) { clearInterval(timer); setTimeout(reload, 3000) } // the stream says 'expired' first, normally
  }
  var timer = setInterval(tick, 1000)
  tick()
})()
`
