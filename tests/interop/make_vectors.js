// Writes vectors.json: payloads encrypted by connect-mongo's own adapters, which
// tests/test_interop_formats.py decodes without Node. Run again only to refresh them:
//   node tests/interop/make_vectors.js > tests/interop/vectors.json
'use strict'

const { createKrupteinAdapter, createWebCryptoAdapter } = require('connect-mongo')

// What connect-mongo encrypts: the session's JSON (express-session's cookie included).
const session = JSON.stringify({
  cookie: { originalMaxAge: 3600000, expires: '2026-11-23T04:00:00.000Z', httpOnly: true, path: '/' },
  user: 'zoë',
  passport: { user: 'zoë' },
})

const cases = {
  webcrypto: () => createWebCryptoAdapter({ secret: 'squirrel' }),
  webcrypto_base64url: () => createWebCryptoAdapter({ secret: 'squirrel', encoding: 'base64url' }),
  webcrypto_options: () =>
    createWebCryptoAdapter({
      secret: 'squirrel',
      encoding: 'hex',
      ivLength: 16,
      salt: 'pepper',
      iterations: 1000,
    }),
  kruptein: () => createKrupteinAdapter({ secret: 'squirrel' }),
  kruptein_options: () => createKrupteinAdapter({ secret: 'squirrel', encodeas: 'hex', hashing: 'sha256' }),
}

;(async () => {
  const out = { plaintext: session }
  for (const [name, make] of Object.entries(cases)) {
    out[name] = await make().encrypt(session)
  }
  console.log(JSON.stringify(out, null, 2))
})()
