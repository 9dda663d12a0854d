"""mongosession's Flask adapter (served by gunicorn): ``bench.apps.flask_app:app``.

Two Flask apps on one store client, as in ``asgi_app``: ``/touch`` goes to the
one whose store has ``touch_after=0``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import timedelta
from typing import Any

from flask import Flask, session

from mongosession import MongoStore
from mongosession.flask import MongoSession

from . import MAX_AGE, SECRET, TOUCH_AFTER, URI, add_flask_routes


def _app(store: MongoStore) -> Flask:
    app = Flask(__name__)
    app.config["SECRET_KEY"] = SECRET
    app.config["PERMANENT_SESSION_LIFETIME"] = timedelta(seconds=MAX_AGE)
    MongoSession(app, store=store, max_age=MAX_AGE)
    add_flask_routes(app, regenerate=lambda: session.regenerate())  # type: ignore[attr-defined]
    return app


store = MongoStore(uri=URI, touch_after=TOUCH_AFTER)
main = _app(store)
touching = _app(MongoStore(client=store.client, touch_after=0))


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    """``/touch`` to the ``touch_after=0`` app, everything else to the main one."""
    target = touching if environ.get("PATH_INFO") == "/touch" else main
    return target(environ, start_response)
