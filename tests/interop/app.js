// The Express side of the interop tests: express-session + connect-mongo, exactly as
// published on npm (versions pinned by package-lock.json), against the test's database.
//
// Started by tests/test_interop.py as `node app.js` with:
//   MONGODB_URI     the test database (mongodb://127.0.0.1:PORT/t_xxx)
//   SESSION_CONFIG  JSON: {secret: [...], stringify, transformId: "sha256" | null,
//                   timestamps, touchAfter, ttl, autoRemove, maxAge (ms) | null,
//                   crypto: {kind: "webcrypto" | "kruptein", secret} | null}
// It listens on 127.0.0.1, a port chosen by the system, and prints one line
// `listening <port>` once the store is ready (its TTL index made, if any).
'use strict'

const crypto = require('node:crypto')
const express = require('express')
const session = require('express-session')
const { MongoStore, createWebCryptoAdapter } = require('connect-mongo')

const config = JSON.parse(process.env.SESSION_CONFIG || '{}')

const storeOptions = {
  mongoUrl: process.env.MONGODB_URI,
  collectionName: 'sessions',
  stringify: config.stringify !== false,
  timestamps: config.timestamps === true,
  touchAfter: config.touchAfter || 0,
  ttl: config.ttl || 14 * 24 * 3600,
  autoRemove: config.autoRemove || 'native',
}
if (config.transformId === 'sha256') {
  storeOptions.transformId = (sid) => crypto.createHash('sha256').update(sid).digest('hex')
}
if (config.crypto && config.crypto.kind === 'webcrypto') {
  storeOptions.cryptoAdapter = createWebCryptoAdapter({ secret: config.crypto.secret })
} else if (config.crypto && config.crypto.kind === 'kruptein') {
  storeOptions.crypto = { secret: config.crypto.secret } // the legacy option
}
const store = MongoStore.create(storeOptions)

const app = express()
app.use(
  session({
    store,
    secret: config.secret || ['interop secret'],
    name: 'connect.sid',
    resave: false,
    saveUninitialized: false,
    cookie: {
      maxAge: config.maxAge === undefined ? 3600 * 1000 : config.maxAge,
      sameSite: 'lax',
      httpOnly: true,
      path: '/',
    },
  }),
)

app.post('/login', (req, res, next) => {
  req.session.regenerate((err) => {
    if (err) return next(err)
    req.session.user = req.query.user
    // What passport and friends leave in a session: keys the Python side never reads.
    req.session.passport = { user: req.query.user }
    req.session.loginAt = new Date()
    res.type('text').send('welcome')
  })
})

app.get('/', (req, res) => {
  req.session.n = (req.session.n || 0) + 1
  res.type('text').send(String(req.session.n))
})

app.get('/whoami', (req, res) => {
  res.type('text').send(req.session.user || 'anonymous')
})

// The session as stored (without its cookie), the id, and the cookie, as JSON.
app.get('/peek', (req, res) => {
  const data = {}
  for (const [key, value] of Object.entries(req.session)) {
    if (key !== 'cookie') data[key] = value
  }
  res.json({ id: req.sessionID, session: data, cookie: req.session.cookie.toJSON() })
})

app.post('/logout', (req, res, next) => {
  req.session.destroy((err) => {
    if (err) return next(err)
    res.type('text').send('bye')
  })
})

// Errors (a session that fails to decrypt, say) as a plain 500 with the message.
app.use((err, req, res, next) => {
  res.status(500).type('text').send(`error: ${err && err.message ? err.message : err}`)
})

// Wait for the store's collection (and its TTL index with autoRemove "native").
store.length((err) => {
  if (err) {
    console.error(`store failed: ${err.message}`)
    process.exit(1)
  }
  const server = app.listen(0, '127.0.0.1', () => {
    console.log(`listening ${server.address().port}`)
  })
  const stop = () => {
    server.close()
    store.close().finally(() => process.exit(0))
  }
  process.on('SIGTERM', stop)
  process.on('SIGINT', stop)
})
