"""mongosession's Flask adapter (served by gunicorn): ``bench.apps.flask_app:app``."""

from __future__ import annotations

from datetime import timedelta

from flask import Flask, session

from mongosession import MongoStore
from mongosession.flask import MongoSession

from . import MAX_AGE, SECRET, TOUCH_AFTER, URI, add_flask_routes

app = Flask(__name__)
app.config["SECRET_KEY"] = SECRET
app.config["PERMANENT_SESSION_LIFETIME"] = timedelta(seconds=MAX_AGE)
MongoSession(app, store=MongoStore(uri=URI, touch_after=TOUCH_AFTER), max_age=MAX_AGE)


add_flask_routes(app, regenerate=lambda: session.regenerate())  # type: ignore[attr-defined]
