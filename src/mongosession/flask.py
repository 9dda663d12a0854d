"""Flask sessions stored in MongoDB, with express-session's semantics.

Flask's ``session`` proxy works unchanged; the object behind it is a
:class:`FlaskSession` (a :class:`~mongosession._session.Session`, so it has
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
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, NoReturn, cast

from flask import Flask
from flask.sessions import NullSession, SessionInterface, SessionMixin
from flask.wrappers import Request, Response
from werkzeug.exceptions import Conflict, Forbidden, ServiceUnavailable

from mongosession._errors import MongoSessionError, StoreUnavailable
from mongosession.store.synchronous.store import MongoStore
from mongosession.web.config import SessionConfig
from mongosession.web.failures import UNAVAILABLE_TEXT, failure_status, is_secure
from mongosession.web.session import Session
from mongosession.web.synchronous.exchange import Exchange

__all__ = [
    "FlaskSession",
    "MongoSession",
    "MongoSessionInterface",
    "SessionUnavailable",
    "UnavailableSession",
]

#: Flask's cookie settings, as session options (``MONGOSESSION_OPTIONS`` overrides them).
_COOKIE_SETTINGS = {
    "SESSION_COOKIE_NAME": "name",
    "SESSION_COOKIE_DOMAIN": "domain",
    "SESSION_COOKIE_HTTPONLY": "http_only",
    "SESSION_COOKIE_SECURE": "secure",
    "SESSION_COOKIE_SAMESITE": "same_site",
    "SESSION_COOKIE_PARTITIONED": "partitioned",
}


class SessionUnavailable(ServiceUnavailable, StoreUnavailable):
    """Raised when a request uses a session the store could not load: HTTP 503.

    A werkzeug ``HTTPException``, so Flask answers 503 (and
    ``@app.errorhandler(503)`` applies), and a :class:`StoreUnavailable`.
    """

    description = UNAVAILABLE_TEXT


@contextmanager
def _fails_closed() -> Iterator[None]:
    # A view's own session call that the store refuses answers as the load and
    # the final save do, never a 500: 503 when it cannot reach the database
    # (SessionUnavailable is still a StoreUnavailable, so a view may catch it),
    # 409 for a same-key concurrent change, 403 over the session limit (werkzeug's
    # Conflict and Forbidden, with the store's error as __cause__).
    try:
        yield
    except SessionUnavailable:
        raise
    except MongoSessionError as exc:
        failure = failure_status(exc)  # logs it
        if failure is None:
            raise
        status, text = failure
        if status == 409:
            raise Conflict(text) from exc
        if status == 403:
            raise Forbidden(text) from exc
        raise SessionUnavailable() from exc


class FlaskSession(Session, SessionMixin):
    """The session behind Flask's ``session`` proxy: our Session plus Flask's SessionMixin.

    ``permanent`` is Flask's: True gives the cookie ``PERMANENT_SESSION_LIFETIME``,
    False a browser-session cookie (or the ``max_age`` option). Changes are
    found by comparing content, nested ones included, so setting ``modified``
    is never needed; setting it to True forces a save anyway.
    """

    @property
    def new(self) -> bool:  # type: ignore[override]
        """True when the client does not hold this session's cookie yet (new or regenerated)."""
        return bool(self.exchange.state.cookie_sid != self.id)

    @property
    def modified(self) -> bool:
        """True when the data or the id changed during this request."""
        return self.exchange.state.modified(self)

    @modified.setter
    def modified(self, value: bool) -> None:
        if value:
            self.exchange.state.saved_fp = None  # not saved as it is: the commit writes it

    # The session's own store calls, failing closed (503) like the load and the save.
    def regenerate(self, *, keep_data: bool = True) -> None:
        """New id, old record deleted, data kept (``keep_data=False`` drops it)."""
        with _fails_closed():
            self.exchange.regenerate(keep_data=keep_data)

    def destroy(self) -> None:
        """Delete the record now; the cookie is cleared and the session starts empty."""
        with _fails_closed():
            self.exchange.destroy()

    def reload(self) -> bool:
        """Re-read from the store; False (and an empty session) when it is gone."""
        with _fails_closed():
            return self.exchange.reload()

    def save(self) -> bool:
        """Save now rather than at the end of the request."""
        with _fails_closed():
            return self.exchange.save()

    def touch(self) -> None:
        """Restart the cookie's lifetime (``max_age``) from now."""
        with _fails_closed():
            self.exchange.touch()

    @property
    def exchange(self) -> Exchange:
        """The request's :class:`~mongosession.web.synchronous.exchange.Exchange` (its session I/O)."""
        return cast(Exchange, self._exchange)


class UnavailableSession(NullSession):
    """What ``session`` is when the store could not load it: any use raises 503.

    Reads fail too: an empty session here would be a silently anonymous user.
    A request that never touches the session is served normally.
    """

    def _fail(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise SessionUnavailable()

    __getitem__ = get = __contains__ = __iter__ = __len__ = keys = values = items = _fail
    __setitem__ = __delitem__ = clear = pop = popitem = update = setdefault = _fail
    regenerate = destroy = reload = save = touch = _fail
    del _fail


def _text_secret(value: str | bytes) -> str:
    # Flask allows a bytes SECRET_KEY (os.urandom); latin-1 maps it 1:1 to a str.
    return value.decode("latin-1") if isinstance(value, bytes) else value


class MongoSessionInterface(SessionInterface):
    """A Flask ``SessionInterface`` over a :class:`MongoStore`.

    Args:
        store: the :class:`MongoStore` (blocking; Flask views are blocking).
        secret: the signing secret or a list (the first signs, all verify).
            Default: ``MONGOSESSION_SECRET``, else ``SECRET_KEY`` followed by
            ``SECRET_KEY_FALLBACKS``.
        **options: session options (``max_age``, ``rolling``, ``resave``,
            ``save_uninitialized``, ``header``, ...). Default: Flask's
            ``SESSION_COOKIE_*`` settings, then ``MONGOSESSION_OPTIONS``.

    A store that cannot answer gives 503: on first use of a session it could
    not load, or in place of the response when the final write fails.
    Nothing is saved when the response is a server error (5xx).
    """

    def __init__(
        self, store: MongoStore, secret: str | list[str] | None = None, **options: Any
    ) -> None:
        if not isinstance(store, MongoStore):
            raise TypeError("MongoSessionInterface needs a MongoStore (blocking) store")
        self.store = store
        self.secret = secret
        self.options = options
        self._configs: weakref.WeakKeyDictionary[Flask, SessionConfig] = weakref.WeakKeyDictionary()

    def config_for(self, app: Flask) -> SessionConfig:
        """The session options for ``app``, from its config and this interface's arguments.

        Raises:
            RuntimeError: no secret (set ``SECRET_KEY`` or pass ``secret=``).
            ValueError: an invalid option.
        """
        config = self._configs.get(app)
        if config is None:
            config = self._configs[app] = self._build_config(app)
        return config

    def _build_config(self, app: Flask) -> SessionConfig:
        settings = app.config
        options: dict[str, Any] = {
            option: settings[key] for key, option in _COOKIE_SETTINGS.items() if key in settings
        }
        options["path"] = settings.get("SESSION_COOKIE_PATH") or settings.get(
            "APPLICATION_ROOT", "/"
        )
        options["domain"] = options.get("domain") or None
        # Flask's default is no SameSite attribute; ours (and browsers') is Lax.
        same_site = options.get("same_site")
        options["same_site"] = same_site.lower() if isinstance(same_site, str) else "lax"
        options.update(settings.get("MONGOSESSION_OPTIONS") or {})
        options.update(self.options)
        secret: Any = self.secret or settings.get("MONGOSESSION_SECRET")
        if not secret:
            keys = [settings.get("SECRET_KEY"), *(settings.get("SECRET_KEY_FALLBACKS") or ())]
            secret = [_text_secret(key) for key in keys if key]
        if not secret:
            raise RuntimeError(
                "mongosession needs a secret: set SECRET_KEY (or MONGOSESSION_SECRET), "
                "or pass secret= to MongoSessionInterface"
            )
        return SessionConfig(secret=secret, **options)

    def open_session(self, app: Flask, request: Request) -> FlaskSession | UnavailableSession:
        """Load the request's session (one query with a valid cookie, none without)."""
        config = self.config_for(app)
        headers = request.headers
        exchange = Exchange(
            self.store,
            config,
            cookie_header=headers.get("Cookie"),
            header_value=headers.get(config.header) if config.header else None,
            secure_request=is_secure(
                config,
                https=request.scheme == "https",
                forwarded_proto=headers.get("X-Forwarded-Proto"),
            ),
            session_class=FlaskSession,
        )
        try:
            return cast(FlaskSession, exchange.load())
        except StoreUnavailable as exc:
            failure_status(exc)  # logs it
            return UnavailableSession()

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        """Save, touch or destroy as the session's state requires; add the cookie headers."""
        if not isinstance(session, FlaskSession) or response.status_code >= 500:
            return
        self._apply_permanent(app, session)
        try:
            headers = session.exchange.commit(session)
        except MongoSessionError as exc:
            failure = failure_status(exc)
            if failure is None:
                raise
            _replace(response, *failure)
            return
        for name, value in headers:
            if name == "vary":
                response.vary.add(value)
            elif name == "cache-control":  # no-store, merged into the view's own
                response.cache_control.no_store = True
            else:
                response.headers.add(name, value)

    def _apply_permanent(self, app: Flask, session: FlaskSession) -> None:
        # Only when the view set `session.permanent`: otherwise the cookie is
        # the options' (or whatever the view set through `session.cookie`).
        permanent: Any = dict.get(session, "_permanent")
        if permanent is None:
            return
        seconds = (
            app.permanent_session_lifetime.total_seconds()
            if permanent
            else self.config_for(app).max_age
        )
        wanted = None if seconds is None else int(seconds * 1000)
        if session.cookie.original_max_age != wanted:
            session.cookie.max_age = seconds


def _replace(response: Response, status: int, text: str) -> None:
    # save_session cannot return another response: turn this one into the error.
    response.headers.clear()
    response.status_code = status
    response.set_data(text)
    response.mimetype = "text/plain"
    response.headers["Cache-Control"] = "no-store"


class MongoSession:
    """The Flask extension: ``MongoSession(app)`` or ``ext = MongoSession(); ext.init_app(app)``.

    Reads ``app.config``:

    - ``MONGOSESSION_URI``: the MongoDB URI, with the database (``mongodb://host/app``);
    - ``MONGOSESSION_STORE``: more :class:`MongoStore` arguments (``{"ttl": 3600}``);
    - ``MONGOSESSION_OPTIONS``: session options (``{"rolling": True}``);
    - ``MONGOSESSION_SECRET``: the signing secret(s); default ``SECRET_KEY`` and
      ``SECRET_KEY_FALLBACKS``;
    - Flask's ``SESSION_COOKIE_*`` and ``PERMANENT_SESSION_LIFETIME``.

    Pass ``store=`` to use a store you made; ``**options`` override the config.
    """

    def __init__(
        self, app: Flask | None = None, *, store: MongoStore | None = None, **options: Any
    ) -> None:
        self.store = store
        self.options = options
        self.interface: MongoSessionInterface | None = None
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> MongoSessionInterface:
        """Install the session interface on ``app``; checks the configuration now."""
        store = self.store if self.store is not None else _store_from_config(app.config)
        interface = MongoSessionInterface(store, **self.options)
        interface.config_for(app)  # a bad option or a missing secret fails at start-up
        app.session_interface = interface
        app.extensions["mongosession"] = interface
        self.interface = interface
        return interface


def _store_from_config(settings: Mapping[str, Any]) -> MongoStore:
    arguments = dict(settings.get("MONGOSESSION_STORE") or {})
    uri = settings.get("MONGOSESSION_URI")
    if uri:
        arguments.setdefault("uri", uri)
    if "uri" not in arguments and "client" not in arguments:
        raise RuntimeError(
            "set MONGOSESSION_URI (mongodb://host/database), or pass store= to MongoSession"
        )
    return MongoStore(**arguments)
