"""Flask sessions stored in MongoDB, with express-session's semantics.

Flask's ``session`` proxy works unchanged; the object behind it is a
:class:`FlaskSession` (a :class:`~mongosession.Session`, so it has
``.id``, ``.cookie``, ``.regenerate()``, ``.destroy()``... as blocking calls,
and Flask's ``SessionMixin``, so ``permanent``, ``new`` and ``modified`` work)::

    from flask import Flask, session
    from mongosession.flask import MongoSession

    app = Flask(__name__)
    app.config["SECRET_KEY"] = "change me"
    app.config["MONGOSESSION_URI"] = "mongodb://localhost:27017/app"
    MongoSession(app)

    @app.post("/login")
    def login():
        session.regenerate()          # new id, old record deleted, data kept
        session["user"] = "alice"
        return "welcome"

Or set the interface yourself:
``app.session_interface = MongoSessionInterface(MongoStore(uri=...), secret=...)``.

``flask.session`` is a ``SessionMixin`` to mypy; :func:`get_session` gives the
same object typed, a :class:`FlaskSession` whose methods are typed blocking
calls (``get_session().regenerate()``). Nothing is saved when the response is a
server error (5xx), which is also what Flask answers for a view that raised.
"""

from __future__ import annotations

# ruff: noqa: E402
from typing import cast

# The framework first: without it, say which extra installs it (the imports follow).
from mongosession._extras import require

require("flask", extra="flask", feature="mongosession.flask")

from flask import Flask
from flask import session as flask_session
from flask.sessions import SessionInterface, SessionMixin
from flask.wrappers import Request, Response

from mongosession._errors import StoreUnavailable
from mongosession.store.devices import DeviceSession
from mongosession.store.synchronous.store import MongoStore
from mongosession.web import flasklike
from mongosession.web.config import SessionOptions
from mongosession.web.flasklike import SessionUnavailable, UnavailableSession
from mongosession.web.synchronous.exchange import Exchange

__all__ = [
    "FlaskSession",
    "MongoSession",
    "MongoSessionInterface",
    "SessionOptions",
    "SessionUnavailable",
    "UnavailableSession",
    "get_session",
]


class FlaskSession(flasklike.SessionBase[Exchange]):
    """The session behind Flask's ``session`` proxy: our Session plus Flask's SessionMixin.

    ``permanent`` is Flask's: True gives the cookie ``PERMANENT_SESSION_LIFETIME``,
    False a browser-session cookie (or the ``max_age`` option). Changes are
    found by comparing content, nested ones included, so setting ``modified``
    is never needed; setting it to True forces a save anyway.
    """

    # The session's own store calls, failing closed (503) like the load and the save.
    def regenerate(self, *, keep_data: bool = True) -> None:
        """New id, old record deleted, data kept (``keep_data=False`` drops it)."""
        with flasklike.fails_closed(self.exchange):
            self.exchange.regenerate(keep_data=keep_data)

    def destroy(self) -> None:
        """Delete the record now; the cookie is cleared and the session starts empty."""
        with flasklike.fails_closed(self.exchange):
            self.exchange.destroy()

    def reload(self) -> bool:
        """Re-read from the store; False (and an empty session) when it is gone."""
        with flasklike.fails_closed(self.exchange):
            return self.exchange.reload()

    def save(self) -> bool:
        """Save now rather than at the end of the request."""
        with flasklike.fails_closed(self.exchange):
            return self.exchange.save()

    def touch(self) -> None:
        """Restart the cookie's lifetime (``max_age``) from now."""
        with flasklike.fails_closed(self.exchange):
            self.exchange.touch()

    def devices(self) -> list[DeviceSession]:
        """This user's sessions, most recently active first (:meth:`Session.devices`)."""
        with flasklike.fails_closed(self.exchange):
            return self.exchange.devices()

    def revoke_device(self, handle: str) -> bool:
        """End this user's session named by ``handle``; whether one ended."""
        with flasklike.fails_closed(self.exchange):
            return self.exchange.revoke_device(handle)

    def revoke_other_devices(self) -> int:
        """End every other session of this user ("sign out everywhere else"); how many."""
        with flasklike.fails_closed(self.exchange):
            return self.exchange.revoke_other_devices()


def get_session() -> FlaskSession:
    """The current request's session, typed: the object behind ``flask.session``.

    ``flask.session`` is a ``SessionMixin`` to mypy; this is the same session as
    a :class:`FlaskSession`, whose methods are typed blocking calls. Example::

        from mongosession.flask import get_session

        @app.post("/login")
        def login() -> str:
            get_session().regenerate()
            session["user"] = "alice"
            return "welcome"

    Raises:
        SessionUnavailable: the store could not load the session (HTTP 503).
        RuntimeError: outside a request, or the app's session interface is not
            mongosession's.
    """
    return FlaskSession._current(flask_session)


class MongoSessionInterface(flasklike.InterfaceBase[Flask, MongoStore], SessionInterface):
    """A Flask ``SessionInterface`` over a :class:`MongoStore`.

    Args:
        store: the :class:`MongoStore` (blocking; Flask views are blocking).
        secret: the signing secret or a list (the first signs, all verify).
            Default: ``MONGOSESSION_SECRET``, else ``SECRET_KEY`` followed by
            ``SECRET_KEY_FALLBACKS``.
        **options: session options (:class:`~mongosession.web.config.SessionOptions`:
            ``max_age``, ``rolling``, ``resave``, ``save_uninitialized``,
            ``header``, ...). Default: Flask's ``SESSION_COOKIE_*`` settings,
            then ``MONGOSESSION_OPTIONS``.

    A store that cannot answer gives 503: on first use of a session it could
    not load, or in place of the response when the final write fails.
    Nothing is saved when the response is a server error (5xx).

    Raises:
        ConfigurationTypeError: ``store`` is not a :class:`MongoStore`.
    """

    _store_class = MongoStore
    _wrong_store = "MongoSessionInterface needs a MongoStore (blocking) store"

    def open_session(self, app: Flask, request: Request) -> FlaskSession | UnavailableSession:
        """Load the request's session (one query with a valid cookie, none without)."""
        exchange = Exchange.for_request(
            self.store,
            self.config_for(app),
            flasklike.request_header(request.headers),
            https=request.scheme == "https",
            session_class=FlaskSession,
            request=request,
            peer=lambda: request.remote_addr,
        )
        try:
            return cast(FlaskSession, exchange.load())
        except StoreUnavailable as exc:
            return self._unavailable(exchange, exc)

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        """Save, touch or destroy as the session's state requires; add the cookie headers.

        After a server error (5xx) nothing is saved and no cookie is sent
        (:func:`~mongosession.web.rules.saves_after`).
        """
        if not isinstance(session, FlaskSession):
            return
        self._apply_permanent(app, session)
        self._finish(response, *session.exchange.commit(session, response.status_code))


class MongoSession(flasklike.ExtensionBase[Flask, MongoStore, MongoSessionInterface]):
    """The Flask extension: ``MongoSession(app)`` or ``ext = MongoSession(); ext.init_app(app)``.

    Reads ``app.config``:

    - ``MONGOSESSION_URI``: the MongoDB URI, with the database (``mongodb://host/app``);
    - ``MONGOSESSION_STORE``: more :class:`MongoStore` arguments (``{"ttl": 3600}``);
    - ``MONGOSESSION_OPTIONS``: session options (``{"rolling": True}``);
    - ``MONGOSESSION_SECRET``: the signing secret(s); default ``SECRET_KEY`` and
      ``SECRET_KEY_FALLBACKS``;
    - Flask's ``SESSION_COOKIE_*`` and ``PERMANENT_SESSION_LIFETIME``.

    Pass ``store=`` to use a store you made, ``secret=`` for the signing
    secret(s); ``**options`` (the session options,
    :class:`~mongosession.web.config.SessionOptions`) override the config.
    """

    _interface_class = MongoSessionInterface

    def init_app(self, app: Flask) -> MongoSessionInterface:
        """Install the session interface on ``app``; checks the configuration now."""
        app.session_interface = interface = self._interface_for(app)
        return interface
