// The Node side of the conformance tests: connect-mongo (and express-session) exactly as
// tests/interop/package-lock.json pins them, driven by a JSON request on stdin.
//
//   node _node_store.js store  < {uri, db, collection, mode, ops}
//   node _node_store.js seed   < {uri, db, collection, mode, secret, maxAge}
//
// `store` runs `ops` one after the other against one MongoStore and prints, as canonical
// Extended JSON, {results: [{value} | {error}], events: [[event, sid], ...]}.
// `mode` holds connect-mongo's options in the tests' terms:
//   stringify, ttl, touchAfter, timestamps, autoRemove, autoRemoveInterval (minutes),
//   writeOperationOptions, transformId: "sha256" | "prefix:<p>" | null,
//   crypto: {kind: "webcrypto" | "kruptein", secret, options} | null
// An op is {op: "set", sid, session} | {op: "get", sid} | {op: "touch", sid, cookie}
// (the session last read by "get", its cookie replaced, as express-session touches it)
// | {op: "destroy", sid} | {op: "all"} | {op: "length"} | {op: "clear"}
// | {op: "sleep", ms} | {op: "indexes"} | {op: "plaintexts"} (each stored payload,
// decrypted by the mode's adapter). A session's `cookie` arrives in its JSON form and is
// rebuilt as an express-session Cookie, so connect-mongo serialises what it would get
// from express-session (attributes left undefined stay undefined).
//
// `seed` serves an Express app (express-session + connect-mongo, `mode` as above) on a
// loopback port, asks it GET /write twice with one cookie, and prints {cookie, views}.
'use strict'

const path = require('node:path')
const crypto = require('node:crypto')
const { createRequire } = require('node:module')

const INTEROP_DIR =
  process.env.CONFORMANCE_INTEROP_DIR || path.resolve(__dirname, '..', 'interop')
const requireInterop = createRequire(path.join(INTEROP_DIR, 'package.json'))
const { MongoStore, createKrupteinAdapter, createWebCryptoAdapter } = requireInterop('connect-mongo')
const expressSession = requireInterop('express-session')
const { BSON } = requireInterop('mongodb')
const { EJSON } = BSON

const EVENTS = ['create', 'update', 'set', 'touch', 'destroy']

function readStdin() {
  return new Promise((resolve, reject) => {
    let text = ''
    process.stdin.setEncoding('utf8')
    process.stdin.on('data', (chunk) => (text += chunk))
    process.stdin.on('end', () => resolve(text))
    process.stdin.on('error', reject)
  })
}

function adapterOf(spec) {
  if (!spec) return {}
  if (spec.kind === 'webcrypto') {
    return { cryptoAdapter: createWebCryptoAdapter({ secret: spec.secret, ...(spec.options || {}) }) }
  }
  if (spec.kind === 'kruptein') {
    return { crypto: { secret: spec.secret, ...(spec.options || {}) } } // the legacy option
  }
  throw new Error(`unknown crypto kind ${spec.kind}`)
}

// The adapter connect-mongo encrypts with in this mode (the legacy `crypto` option is
// kruptein through createKrupteinAdapter), to decrypt any stored payload.
function decryptorOf(spec) {
  if (!spec) return null
  if (spec.kind === 'kruptein') return createKrupteinAdapter({ secret: spec.secret, ...(spec.options || {}) })
  return adapterOf(spec).cryptoAdapter
}

function transformOf(name) {
  if (!name) return undefined
  if (name === 'sha256') {
    return (sid) => crypto.createHash('sha256').update(sid).digest('hex')
  }
  if (name.startsWith('prefix:')) {
    const prefix = name.slice('prefix:'.length)
    return (sid) => `${prefix}${sid}`
  }
  throw new Error(`unknown transformId ${name}`)
}

function storeOptions(request) {
  const mode = request.mode || {}
  const options = {
    mongoUrl: request.uri,
    dbName: request.db,
    collectionName: request.collection,
    stringify: mode.stringify !== false,
    ttl: mode.ttl || 14 * 24 * 3600,
    touchAfter: mode.touchAfter || 0,
    timestamps: mode.timestamps === true,
    autoRemove: mode.autoRemove || 'native',
    ...adapterOf(mode.crypto),
  }
  if (mode.autoRemoveInterval !== undefined) options.autoRemoveInterval = mode.autoRemoveInterval
  if (mode.writeOperationOptions) options.writeOperationOptions = mode.writeOperationOptions
  const transformId = transformOf(mode.transformId)
  if (transformId) options.transformId = transformId
  return options
}

// The JSON form of a cookie (what express-session's toJSON gives, undefined dropped)
// back into an express-session Cookie.
function cookieOf(json) {
  const cookie = new expressSession.Cookie()
  cookie.expires = json.expires ? new Date(json.expires) : null
  cookie.originalMaxAge = json.originalMaxAge === undefined ? null : json.originalMaxAge
  for (const key of ['partitioned', 'priority', 'secure', 'httpOnly', 'domain', 'path', 'sameSite']) {
    if (key in json) cookie[key] = json[key]
  }
  return cookie
}

function sessionOf(data) {
  const session = {}
  for (const [key, value] of Object.entries(data)) {
    session[key] = key === 'cookie' && value && typeof value === 'object' ? cookieOf(value) : value
  }
  return session
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

function call(store, method, ...args) {
  return new Promise((resolve, reject) => {
    store[method](...args, (err, value) => (err ? reject(err) : resolve(value)))
  })
}

async function runStore(request) {
  const store = MongoStore.create(storeOptions(request))
  const unacknowledged = (request.mode || {}).writeOperationOptions?.w === 0
  const events = []
  for (const event of EVENTS) store.on(event, (sid) => events.push([event, sid]))
  const lastGet = new Map()
  const results = []
  try {
    const collection = await store.collectionP
    for (const op of request.ops) {
      try {
        let value = null
        switch (op.op) {
          case 'set':
            await call(store, 'set', op.sid, sessionOf(op.session))
            break
          case 'get':
            value = await call(store, 'get', op.sid)
            lastGet.set(op.sid, value)
            break
          case 'touch': {
            const session = { ...(lastGet.get(op.sid) || {}) }
            session.cookie = cookieOf(op.cookie)
            await call(store, 'touch', op.sid, session)
            break
          }
          case 'destroy':
            await call(store, 'destroy', op.sid)
            break
          case 'all':
            value = await call(store, 'all')
            break
          case 'length':
            value = await call(store, 'length')
            break
          case 'clear':
            await call(store, 'clear')
            break
          case 'sleep':
            await sleep(op.ms)
            break
          case 'indexes':
            value = await collection.listIndexes().toArray()
            break
          case 'plaintexts': {
            value = {}
            const adapter = decryptorOf((request.mode || {}).crypto)
            const decrypt = adapter ? (s) => adapter.decrypt(s) : null
            for (const doc of await collection.find({}).toArray()) {
              value[doc._id] = decrypt && typeof doc.session === 'string'
                ? await decrypt(doc.session)
                : doc.session
            }
            break
          }
          default:
            throw new Error(`unknown op ${op.op}`)
        }
        if (unacknowledged && ['set', 'touch', 'destroy', 'clear'].includes(op.op)) {
          await sleep(100) // w: 0 answers before the server has applied the write
        }
        results.push({ value: value === undefined ? null : value })
      } catch (err) {
        results.push({ error: String(err && err.message ? err.message : err) })
      }
    }
  } finally {
    await store.close()
  }
  return { results, events }
}

async function runSeed(request) {
  const express = requireInterop('express')
  const store = MongoStore.create(storeOptions(request))
  await store.collectionP
  const app = express()
  app.use(
    expressSession({
      secret: request.secret,
      resave: false,
      saveUninitialized: false,
      rolling: true,
      cookie: { maxAge: request.maxAge },
      store,
    }),
  )
  app.get('/write', (req, res) => {
    req.session.views = (req.session.views ?? 0) + 1
    req.session.payload = { nested: 'value' }
    res.status(200).json({ views: req.session.views })
  })
  const server = await new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s))
  })
  try {
    const base = `http://127.0.0.1:${server.address().port}`
    const first = await fetch(`${base}/write`)
    const cookie = (first.headers.getSetCookie()[0] || '').split(';')[0]
    await first.json()
    const second = await fetch(`${base}/write`, { headers: { cookie } })
    const body = await second.json()
    return { cookie, views: body.views }
  } finally {
    server.close()
    await store.close()
  }
}

async function main() {
  const command = process.argv[2]
  const request = EJSON.parse(await readStdin()) // relaxed: numbers arrive as JS numbers
  const output = command === 'seed' ? await runSeed(request) : await runStore(request)
  process.stdout.write(EJSON.stringify(output, { relaxed: false }))
}

main().catch((err) => {
  process.stderr.write(`${err && err.stack ? err.stack : err}\n`)
  process.exit(1)
})
