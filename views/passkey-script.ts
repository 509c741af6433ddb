/**
 * The passkey ceremonies of the pages (GET /assets/passkeys.js), on top of @simplewebauthn/browser
 * (GET /assets/simplewebauthn-browser.js, the library's own UMD bundle). No token ever reaches this
 * script: every call is same-origin with the HttpOnly session cookies and the page's CSRF token.
 *
 * - Start page: "Sign in with a passkey" (a modal ceremony) and autofill (conditional mediation on the
 *   email field, `autocomplete="username webauthn"`) where the browser has it.
 * - Account page: "Add a passkey" (sends the browser to re-authenticate first when the sign-in is old).
 * - Re-authentication page: "Confirm with a passkey".
 *
 * A ceremony that is cancelled, fails or never settles (a guard timer aborts it) leaves the page
 * usable with a message saying what happened. After PASSKEY_INVALID for a credential the server does
 * not know, PublicKeyCredential.signalUnknownCredential (where the browser has it) tells the password
 * manager to drop it.
 */
export const PASSKEY_SCRIPT = `'use strict'
;(function () {
  var lib = window.SimpleWebAuthnBrowser
  var roots = document.querySelectorAll('.passkey-only')
  if (lib === undefined || roots.length === 0 || !lib.browserSupportsWebAuthn()) return
  for (var i = 0; i < roots.length; i++) roots[i].hidden = false

  /** How long a prompt may stay open before the page gives up on it (ms; the attribute lets a test shorten it). */
  var guardMs = function () { return Number(document.documentElement.getAttribute('data-passkey-timeout') || 120000) }
  var status = document.getElementById('passkey-status')
  var cancel = document.getElementById('passkey-cancel')
  var csrfField = document.querySelector('input[name="csrf"]')
  var csrf = csrfField === null ? '' : csrfField.value
  var say = function (text, isError) {
    if (status === null) return
    status.textContent = text
    status.className = isError ? 'notice error' : 'muted'
    status.setAttribute('role', isError ? 'alert' : 'status')
  }

  function post (url, body) {
    return fetch(url, { method: 'POST', credentials: 'same-origin', headers: { 'content-type': 'application/json', accept: 'application/json' }, body: JSON.stringify(body) })
      .then(function (response) {
        return response.text().then(function (text) {
          var data = {}
          try { data = text === '' ? {} : JSON.parse(text) } catch (e) { data = {} }
          return { status: response.status, data: data }
        })
      })
  }

  /** Runs a ceremony with a guard: a prompt that never settles is aborted and reported as a timeout. */
  function guarded (start) {
    var timer
    var timeout = new Promise(function (resolve, reject) {
      timer = setTimeout(function () {
        try { lib.WebAuthnAbortService.cancelCeremony() } catch (e) {}
        var error = new Error('timeout'); error.name = 'PasskeyTimeout'; reject(error)
      }, guardMs())
    })
    return Promise.race([start(), timeout]).then(function (value) { clearTimeout(timer); return value }, function (error) { clearTimeout(timer); throw error })
  }

  function ceremonyMessage (error) {
    var name = error && error.name
    if (name === 'PasskeyTimeout') return 'The passkey prompt did not finish in time. Nothing was changed; try again.'
    if (name === 'NotAllowedError' || name === 'AbortError') return 'The passkey prompt was cancelled or timed out. Nothing was changed; try again.'
    if (name === 'InvalidStateError') return 'This device already has a passkey for your account.'
    if (name === 'SecurityError') return 'Passkeys cannot be used on this address.'
    return 'Something went wrong with the passkey. Nothing was changed; try again.'
  }

  function busy (button, on) {
    if (button !== null) { button.disabled = on; button.setAttribute('aria-busy', on ? 'true' : 'false') }
    // Its wrapper is hidden (the stylesheet's display:inline-block on buttons beats their own hidden attribute).
    if (cancel !== null) cancel.parentElement.hidden = !on
  }
  if (cancel !== null) {
    cancel.addEventListener('click', function () {
      try { lib.WebAuthnAbortService.cancelCeremony() } catch (e) {}
    })
  }

  function signalUnknown (rpId, credentialId) {
    var PKC = window.PublicKeyCredential
    if (PKC && typeof PKC.signalUnknownCredential === 'function') {
      PKC.signalUnknownCredential({ rpId: rpId, credentialId: credentialId }).catch(function () {})
    }
  }

  /** An assertion (sign-in or re-authentication) sent to \`url\`; resolves with the server's answer. */
  function assertion (url, useAutofill) {
    return post('/auth/passkeys/login/options', {}).then(function (options) {
      if (options.status !== 200) throw Object.assign(new Error('options'), { name: 'ServerError' })
      var start = function () { return lib.startAuthentication({ optionsJSON: options.data, useBrowserAutofill: useAutofill }) }
      return (useAutofill ? start() : guarded(start)).then(function (credential) {
        return post(url, { csrf: csrf, credential: credential }).then(function (answer) {
          if (answer.status === 401 && answer.data.unknownCredential === true) signalUnknown(options.data.rpId, credential.id)
          return answer
        })
      })
    })
  }

  function signedIn (answer) {
    if (answer.status === 200 && answer.data.redirect) { say('Signed in. Opening your account…', false); window.location.assign(answer.data.redirect); return true }
    if (answer.status === 401) say('This passkey was not accepted: it may have been deleted from your account. Sign in with your email instead.', true)
    else if (answer.status === 403 && answer.data.code === 'ACCOUNT_DISABLED') say('This account is disabled.', true)
    else if (answer.status === 429) say('Too many tries. Wait a minute and try again.', true)
    else say('The passkey could not be checked just now. Try again shortly.', true)
    return false
  }

  // Start page: a button, and autofill on the email field where the browser offers it.
  var signInButton = document.getElementById('passkey-signin')
  if (signInButton !== null) {
    signInButton.addEventListener('click', function () {
      busy(signInButton, true)
      say('Waiting for your passkey…', false)
      assertion('/signin/passkey', false).then(function (answer) {
        if (!signedIn(answer)) busy(signInButton, false)
      }, function (error) { busy(signInButton, false); say(ceremonyMessage(error), true) })
    })
    if (typeof lib.browserSupportsWebAuthnAutofill === 'function') {
      lib.browserSupportsWebAuthnAutofill().then(function (autofill) {
        if (!autofill) return
        assertion('/signin/passkey', true).then(signedIn, function () { /* autofill cancelled (e.g. by the button): nothing to say */ })
      })
    }
  }

  // Account page: add a passkey.
  var addButton = document.getElementById('passkey-add')
  if (addButton !== null) {
    addButton.addEventListener('click', function () {
      busy(addButton, true)
      say('Follow your browser\\'s prompt to create the passkey…', false)
      post('/account/passkeys/options', { csrf: csrf }).then(function (options) {
        if (options.status === 403 && options.data.code === 'REAUTH_REQUIRED') { window.location.assign('/account/reauthenticate?next=passkeys'); return }
        if (options.status !== 200) throw Object.assign(new Error('options'), { name: 'ServerError' })
        return guarded(function () { return lib.startRegistration({ optionsJSON: options.data }) }).then(function (credential) {
          return post('/account/passkeys', { csrf: csrf, credential: credential }).then(function (answer) {
            if (answer.status === 201) { say('Passkey added.', false); window.location.assign('/account?done=passkey-added#passkeys'); return }
            if (answer.status === 403 && answer.data.code === 'REAUTH_REQUIRED') { window.location.assign('/account/reauthenticate?next=passkeys'); return }
            busy(addButton, false)
            say('The passkey could not be added. Try again.', true)
          })
        })
      }).catch(function (error) { busy(addButton, false); say(ceremonyMessage(error), true) })
    })
  }

  // Re-authentication page: confirm with a passkey.
  var reauthButton = document.getElementById('passkey-reauth')
  if (reauthButton !== null) {
    reauthButton.addEventListener('click', function () {
      busy(reauthButton, true)
      say('Waiting for your passkey…', false)
      assertion('/account/reauthenticate/passkey', false).then(function (answer) {
        if (answer.status === 200) { window.location.assign(reauthButton.getAttribute('data-next')); return }
        busy(reauthButton, false)
        say(answer.status === 401 ? 'This passkey was not accepted. Use one of your own passkeys, or a code by email.' : 'The passkey could not be checked just now. Try again shortly.', true)
      }, function (error) { busy(reauthButton, false); say(ceremonyMessage(error), true) })
    })
  }
})()
`
