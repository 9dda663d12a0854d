// The Node baseline: express + express-session + connect-mongo, one process.
// The same four routes as bench/apps (see bench/apps/__init__.py), configured as
// connect-mongo's README shows: resave and saveUninitialized off, a cookie maxAge.
"use strict";

const express = require("express");
const session = require("express-session");
const { MongoStore } = require("connect-mongo");

const uri = process.env.BENCH_DB_URI;
const maxAgeMs = Number(process.env.BENCH_MAX_AGE || "86400") * 1000;
const touchAfter = Number(process.env.BENCH_TOUCH_AFTER || "0");

const app = express();
app.set("etag", false);
app.set("x-powered-by", false);
app.use(
  session({
    secret: process.env.BENCH_SECRET || "bench secret",
    resave: false,
    saveUninitialized: false,
    cookie: { maxAge: maxAgeMs, sameSite: "lax" },
    store: MongoStore.create({ mongoUrl: uri, collectionName: "sessions", touchAfter }),
  }),
);

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

app.get("/read", (req, res) => {
  res.type("text/plain").send(req.session.user || "anonymous");
});

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
