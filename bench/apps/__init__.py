"""The applications the HTTP benchmark serves: the same four routes in each.

- ``POST /login?user=NAME``: regenerate the session (new id, old record deleted),
  then store the user, a small profile and a counter;
- ``GET /read``: read the user (the session is not modified, so it is touched);
- ``POST /write``: increment the counter (the session is rewritten);
- ``GET /health``: no session use at all.

Configuration comes from the environment: ``BENCH_DB_URI`` (with the database),
``BENCH_SECRET``, ``BENCH_MAX_AGE`` (seconds) and ``BENCH_TOUCH_AFTER`` (seconds).
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
TOUCH_AFTER = float(os.environ.get("BENCH_TOUCH_AFTER", "0"))


def profile(user: str) -> dict[str, Any]:
    """What a login stores besides the user name (a few hundred bytes, as real apps do)."""
    return {
        "name": f"User {user}",
        "email": f"{user}@example.com",
        "roles": ["customer"],
        "locale": "en-GB",
    }


def add_flask_routes(app: Flask, regenerate: Callable[[], object]) -> None:
    """The four routes on a Flask ``app``; ``regenerate()`` is each library's own call."""
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

    @app.post("/write")
    def write() -> str:
        session["n"] = session.get("n", 0) + 1
        return str(session["n"])

    @app.get("/health")
    def health() -> str:
        return "ok"
