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

``flask.session`` is a ``SessionMixin`` to mypy; :func:`get_session` gives the
same object typed, a :class:`FlaskSession` whose methods are typed blocking
calls (``get_session().regenerate()``). Nothing is saved when the response is a
server error (5xx), which is also what Flask answers for a view that raised.
"""

from __future__ import annotations

# ruff: noqa: E402
import weakref
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, NoReturn, cast

# The framework first: without it, say which extra installs it (the imports follow).
from mongosession._extras import require

require("flask", extra="flask", feature="mongosession.flask")

from flask import Flask
from flask import session as flask_session
from flask.sessions import NullSession, SessionInterface, SessionMixin
from flask.wrappers import Request, Response
from typing_extensions import Unpack
from werkzeug.exceptions import HTTPException, ServiceUnavailable, default_exceptions

from mongosession._errors import (
    ConfigurationError,
    ConfigurationTypeError,
    MongoSessionError,
    StoreUnavailable,
)
from mongosession.store.synchronous.store import MongoStore
from mongosession.web.config import SessionConfig, SessionOptions
from mongosession.web.failures import NO_STORE, UNAVAILABLE_TEXT, Failure
from mongosession.web.session import Session
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

    def get_headers(self, *args: Any, **kwargs: Any) -> list[tuple[str, str]]:
        """werkzeug's headers, and ``Cache-Control: no-store`` as every failure has."""
        return [*super().get_headers(*args, **kwargs), ("Cache-Control", NO_STORE[1])]


def _http_error(failure: Failure) -> HTTPException:
    # The failure as werkzeug's exception for its status, raised out of the view,
    # so that Flask answers it (and @app.errorhandler(409) and the like apply).
    if failure.status == 503:
        return SessionUnavailable()  # still a StoreUnavailable: a view may catch it
    return default_exceptions[failure.status](failure.text)


@contextmanager
def _fails_closed(exchange: Exchange) -> Iterator[None]:
    # A view's own session call that the store refuses answers as the load and
    # the final save do, never a 500: 503 when it cannot reach the database,
    # 409 for a same-key concurrent change or a session that ended meanwhile,
    # 403 over the session limit (werkzeug's, with the store's error as __cause__).
    try:
        yield
    except SessionUnavailable:
        raise
    except MongoSessionError as exc:
        failure = exchange.failure(exc)  # logs it
        if failure is None:
            raise
        raise _http_error(failure) from exc


class FlaskSession(Session[Exchange], SessionMixin):
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
        with _fails_closed(self.exchange):
            self.exchange.regenerate(keep_data=keep_data)

    def destroy(self) -> None:
        """Delete the record now; the cookie is cleared and the session starts empty."""
        with _fails_closed(self.exchange):
            self.exchange.destroy()

    def reload(self) -> bool:
        """Re-read from the store; False (and an empty session) when it is gone."""
        with _fails_closed(self.exchange):
            return self.exchange.reload()

    def save(self) -> bool:
        """Save now rather than at the end of the request."""
        with _fails_closed(self.exchange):
            return self.exchange.save()

    def touch(self) -> None:
        """Restart the cookie's lifetime (``max_age``) from now."""
        with _fails_closed(self.exchange):
            self.exchange.touch()

    @property
    def exchange(self) -> Exchange:
        """The request's :class:`~mongosession.web.synchronous.exchange.Exchange` (its session I/O)."""
        return self._exchange


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
    current: object = flask_session._get_current_object()  # type: ignore[attr-defined]
    if isinstance(current, FlaskSession):
        return current
    if isinstance(current, UnavailableSession):
        raise SessionUnavailable()
    raise RuntimeError("no mongosession session here: is MongoSession(app) installed?")


class MongoSessionInterface(SessionInterface):
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

    def __init__(
        self,
        store: MongoStore,
        secret: str | list[str] | None = None,
        **options: Unpack[SessionOptions],
    ) -> None:
        if not isinstance(store, MongoStore):
            raise ConfigurationTypeError(
                "MongoSessionInterface needs a MongoStore (blocking) store"
            )
        self.store = store
        self.secret = secret
        self.options = options
        self._configs: weakref.WeakKeyDictionary[Flask, SessionConfig] = weakref.WeakKeyDictionary()

    def config_for(self, app: Flask) -> SessionConfig:
        """The session options for ``app``, from its config and this interface's arguments.

        Raises:
            ConfigurationError: no secret (set ``SECRET_KEY`` or pass
                ``secret=``), or an option that cannot work.
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
            raise ConfigurationError(
                "mongosession needs a secret: set SECRET_KEY (or MONGOSESSION_SECRET), "
                "or pass secret= to MongoSessionInterface"
            )
        return SessionConfig.from_options(secret, options)

    def open_session(self, app: Flask, request: Request) -> FlaskSession | UnavailableSession:
        """Load the request's session (one query with a valid cookie, none without)."""
        config = self.config_for(app)
        headers = request.headers
        exchange = Exchange.for_request(
            self.store,
            config,
            lambda name: headers.get(name),
            https=request.scheme == "https",
            session_class=FlaskSession,
            request=request,
        )
        try:
            return cast(FlaskSession, exchange.load())
        except StoreUnavailable as exc:
            if exchange.failure(exc) is None:  # logs it
                raise
            return UnavailableSession()

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        """Save, touch or destroy as the session's state requires; add the cookie headers.

        After a server error (5xx) nothing is saved and no cookie is sent
        (:func:`~mongosession.web.rules.saves_after`).
        """
        if not isinstance(session, FlaskSession):
            return
        self._apply_permanent(app, session)
        headers, failure = session.exchange.commit(session, response.status_code)
        if failure is not None:
            _replace(response, failure)
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


def _replace(response: Response, failure: Failure) -> None:
    # save_session cannot return another response: turn this one into the failure.
    response.headers.clear()
    response.status_code = failure.status
    response.set_data(failure.text)
    response.mimetype = "text/plain"
    _add(response, failure.headers)


def _add(response: Response, headers: Iterable[tuple[str, str]]) -> None:
    for name, value in headers:
        response.headers.add(name, value)


class MongoSession:
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

    def __init__(
        self,
        app: Flask | None = None,
        *,
        store: MongoStore | None = None,
        secret: str | list[str] | None = None,
        **options: Unpack[SessionOptions],
    ) -> None:
        self.store = store
        self.secret = secret
        self.options = options
        self.interface: MongoSessionInterface | None = None
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> MongoSessionInterface:
        """Install the session interface on ``app``; checks the configuration now."""
        store = self.store if self.store is not None else _store_from_config(app.config)
        interface = MongoSessionInterface(store, self.secret, **self.options)
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
        raise ConfigurationError(
            "set MONGOSESSION_URI (mongodb://host/database), or pass store= to MongoSession"
        )
    return MongoStore(**arguments)
