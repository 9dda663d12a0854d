"""Flask-Session 0.8's MongoDB backend (served by gunicorn): ``bench.apps.flask_session_app:app``.

Configured as its documentation shows, defaults kept: permanent sessions, refreshed
(rewritten) on every request (``SESSION_REFRESH_EACH_REQUEST``, Flask's default).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Flask, current_app, session
from flask_session import Session
from pymongo import MongoClient

from . import MAX_AGE, SECRET, URI, add_flask_routes

client: MongoClient[dict[str, Any]] = MongoClient(URI)

app = Flask(__name__)
app.config.update(
    SECRET_KEY=SECRET,
    PERMANENT_SESSION_LIFETIME=timedelta(seconds=MAX_AGE),
    SESSION_TYPE="mongodb",
    SESSION_MONGODB=client,
    SESSION_MONGODB_DB=client.get_default_database().name,
    SESSION_MONGODB_COLLECT="sessions",
)
Session(app)


add_flask_routes(
    app,
    regenerate=lambda: current_app.session_interface.regenerate(session),  # type: ignore[attr-defined]
)
