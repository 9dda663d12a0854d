"""The applications the HTTP benchmark serves: the same five routes in each.

- ``POST /login?user=NAME``: start a session (regenerated: a new id) holding the
  user, a small profile and a counter; the harness logs in once per cookie it
  hands the load generator;
- ``GET /read``: read the user; the session is not modified and, inside the
  store's ``touch_after`` window, not written either (one read);
- ``GET /touch``: read the user, and move the session's expiry (one read, one
  write): a read outside ``touch_after``, or Django's save of an unmodified session;
- ``POST /write``: increment the counter (one read, one write of the session);
- ``GET /health``: no session use at all.

A store whose touch policy is a setting (``touch_after`` in mongosession and
connect-mongo) serves ``/touch`` with a second instance of its session layer on
the same collection and client, configured with ``touch_after=0``; the other
routes use ``touch_after = BENCH_TOUCH_AFTER`` (a day by default).

Configuration comes from the environment: ``BENCH_DB_URI`` (with the database),
``BENCH_SECRET``, ``BENCH_MAX_AGE`` (seconds), ``BENCH_TOUCH_AFTER`` (seconds) and
``BENCH_NEAR_CACHE`` (the near cache's ``max_staleness`` in seconds; unset: no cache)
and ``BENCH_MIN_POOL`` (the PyMongo client's ``minPoolSize`` for the mongosession ASGI
app, as docs/deployment.md advises for asyncio servers under many concurrent requests;
unset: PyMongo's default, 0).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flask import Flask

URI = os.environ.get("BENCH_DB_URI", "")
SECRET = os.environ.get("BENCH_SECRET", "bench secret")
MAX_AGE = float(os.environ.get("BENCH_MAX_AGE", "86400"))
#: The ``touch_after`` of every route but ``/touch`` (which uses 0).
TOUCH_AFTER = float(os.environ.get("BENCH_TOUCH_AFTER", "86400"))
#: The near cache's ``max_staleness`` (seconds) for the mongosession stacks; unset: off.
NEAR_CACHE = float(os.environ["BENCH_NEAR_CACHE"]) if os.environ.get("BENCH_NEAR_CACHE") else None
#: ``minPoolSize`` of the mongosession ASGI app's client; 0: PyMongo's default.
MIN_POOL = int(os.environ.get("BENCH_MIN_POOL") or 0)


def profile(user: str) -> dict[str, Any]:
    """What a login stores besides the user name (a few hundred bytes, as real apps do)."""
    return {
        "name": f"User {user}",
        "email": f"{user}@example.com",
        "roles": ["customer"],
        "locale": "en-GB",
    }


def add_flask_routes(app: Flask, regenerate: Callable[[], object]) -> None:
    """The routes on a Flask ``app``; ``regenerate()`` is each library's own call.

    ``/touch`` reads like ``/read``: whether it writes is the session layer's
    configuration (see the module's docstring).
    """
    from flask import request, session

    @app.post("/login")
    def login() -> str:
        regenerate()
        user = request.args["user"]
        session["user"] = user
        session["profile"] = profile(user)
        session["n"] = 0
        return "ok"

    @app.get("/read")
    def read() -> str:
        return str(session.get("user", "anonymous"))

    @app.get("/touch")
    def touch() -> str:
        return str(session.get("user", "anonymous"))

    @app.post("/write")
    def write() -> str:
        session["n"] = session.get("n", 0) + 1
        return str(session["n"])

    @app.get("/health")
    def health() -> str:
        return "ok"
