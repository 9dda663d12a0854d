// Decrypts payloads with connect-mongo's own adapters, for tests/test_interop.py.
// stdin: JSON [{adapter: "webcrypto" | "kruptein", options: {...}, payload}, ...]
// stdout: JSON [{plaintext} | {error}, ...] in the same order.
'use strict'

const { createKrupteinAdapter, createWebCryptoAdapter } = require('connect-mongo')

const make = { webcrypto: createWebCryptoAdapter, kruptein: createKrupteinAdapter }

let input = ''
process.stdin.setEncoding('utf8')
process.stdin.on('data', (chunk) => {
  input += chunk
})
process.stdin.on('end', async () => {
  const out = []
  for (const { adapter, options, payload } of JSON.parse(input)) {
    try {
      out.push({ plaintext: await make[adapter](options).decrypt(payload) })
    } catch (err) {
      out.push({ error: String(err && err.message ? err.message : err) })
    }
  }
  console.log(JSON.stringify(out))
})
