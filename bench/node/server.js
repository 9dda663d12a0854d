// The Node baseline: express + express-session + connect-mongo, one process.
// The same routes as bench/apps (see bench/apps/__init__.py), configured as
// connect-mongo's README shows: resave and saveUninitialized off, a cookie maxAge.
// touchAfter is the store's setting, so /touch goes through a second
// express-session on the same collection whose store has touchAfter: 0 (a read
// moves the expiry); every other route uses touchAfter = BENCH_TOUCH_AFTER.
"use strict";

const express = require("express");
const session = require("express-session");
const { MongoStore } = require("connect-mongo");

const uri = process.env.BENCH_DB_URI;
const maxAgeMs = Number(process.env.BENCH_MAX_AGE || "86400") * 1000;
const touchAfter = Number(process.env.BENCH_TOUCH_AFTER || "86400");

function sessions(store) {
  return session({
    secret: process.env.BENCH_SECRET || "bench secret",
    resave: false,
    saveUninitialized: false,
    cookie: { maxAge: maxAgeMs, sameSite: "lax" },
    store,
  });
}

const mainStore = MongoStore.create({ mongoUrl: uri, collectionName: "sessions", touchAfter });
const main = sessions(mainStore);
const touching = sessions(
  MongoStore.create({ clientPromise: mainStore.clientP, collectionName: "sessions", touchAfter: 0 }),
);

const app = express();
app.set("etag", false);
app.set("x-powered-by", false);
app.use((req, res, next) => (req.path === "/touch" ? touching : main)(req, res, next));

function profile(user) {
  return { name: `User ${user}`, email: `${user}@example.com`, roles: ["customer"], locale: "en-GB" };
}

app.post("/login", (req, res, next) => {
  req.session.regenerate((err) => {
    if (err) return next(err);
    const user = String(req.query.user);
    req.session.user = user;
    req.session.profile = profile(user);
    req.session.n = 0;
    res.type("text/plain").send("ok");
  });
});

function read(req, res) {
  res.type("text/plain").send(req.session.user || "anonymous");
}

app.get("/read", read);
app.get("/touch", read);

app.post("/write", (req, res) => {
  req.session.n = (req.session.n || 0) + 1;
  res.type("text/plain").send(String(req.session.n));
});

app.get("/health", (req, res) => {
  res.type("text/plain").send("ok");
});

const server = app.listen(Number(process.env.PORT), "127.0.0.1");
process.on("SIGTERM", () => {
  server.close();
  process.exit(0);
});
