"""mongosession's Flask adapter (served by gunicorn): ``bench.apps.flask_app:app``."""

from __future__ import annotations

from datetime import timedelta

from flask import Flask, request, session

from mongosession import MongoStore
from mongosession.flask import MongoSession

from . import MAX_AGE, SECRET, TOUCH_AFTER, URI, profile

app = Flask(__name__)
app.config["SECRET_KEY"] = SECRET
app.config["PERMANENT_SESSION_LIFETIME"] = timedelta(seconds=MAX_AGE)
MongoSession(app, store=MongoStore(uri=URI, touch_after=TOUCH_AFTER), max_age=MAX_AGE)


@app.post("/login")
def login() -> str:
    session.regenerate()  # type: ignore[attr-defined]
    user = request.args["user"]
    session["user"] = user
    session["profile"] = profile(user)
    session["n"] = 0
    return "ok"


@app.get("/read")
def read() -> str:
    return str(session.get("user", "anonymous"))


@app.post("/write")
def write() -> str:
    session["n"] = session.get("n", 0) + 1
    return str(session["n"])


@app.get("/health")
def health() -> str:
    return "ok"
