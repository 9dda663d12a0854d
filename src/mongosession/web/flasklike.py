"""What the Flask and Quart adapters share: Quart is Flask's API on asyncio.

Both read the same app config (``MONGOSESSION_*``, Flask's ``SESSION_COOKIE_*``,
``SECRET_KEY`` and ``SECRET_KEY_FALLBACKS``, ``PERMANENT_SESSION_LIFETIME``), answer
a session failure with the same werkzeug exception, give Flask's ``SessionMixin``
the same ``new``, ``modified`` and ``permanent``, and write the commit's headers
into a werkzeug-style response the same way. Everything here is pure; the I/O
(blocking in ``mongosession.flask``, awaited in ``mongosession.quart``) stays in
the adapters. Imported only by them, after their framework is known installed.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import timedelta
from typing import TYPE_CHECKING, Any, ClassVar, Generic, NoReturn, Protocol, TypeVar, cast

from flask.sansio.app import App
from flask.sessions import NullSession, SessionMixin
from typing_extensions import Self, Unpack
from werkzeug.datastructures import Headers, HeaderSet, ResponseCacheControl
from werkzeug.exceptions import HTTPException, ServiceUnavailable, default_exceptions

from mongosession._errors import (
    ConfigurationError,
    ConfigurationTypeError,
    MongoSessionError,
    StoreUnavailable,
)
from mongosession.web.config import SessionConfig, SessionOptions
from mongosession.web.failures import NO_STORE, UNAVAILABLE_TEXT, Failure
from mongosession.web.session import E, Session

if TYPE_CHECKING:
    from mongosession.web.asynchronous.exchange import AsyncExchange, HeaderGetter
    from mongosession.web.synchronous.exchange import Exchange

#: Flask's cookie settings (Quart's too), as session options (``MONGOSESSION_OPTIONS`` overrides them).
COOKIE_SETTINGS = {
    "SESSION_COOKIE_NAME": "name",
    "SESSION_COOKIE_DOMAIN": "domain",
    "SESSION_COOKIE_HTTPONLY": "http_only",
    "SESSION_COOKIE_SECURE": "secure",
    "SESSION_COOKIE_SAMESITE": "same_site",
    "SESSION_COOKIE_PARTITIONED": "partitioned",
}

AppT = TypeVar("AppT", bound=App)
StoreT = TypeVar("StoreT")


class SessionUnavailable(ServiceUnavailable, StoreUnavailable):
    """Raised when a request uses a session the store could not load: HTTP 503.

    A werkzeug ``HTTPException``, so Flask (or Quart) answers 503 (and
    ``@app.errorhandler(503)`` applies), and a :class:`StoreUnavailable`.
    """

    description = UNAVAILABLE_TEXT

    def get_headers(self, *args: Any, **kwargs: Any) -> list[tuple[str, str]]:
        """werkzeug's headers, and ``Cache-Control: no-store`` as every failure has."""
        return [*super().get_headers(*args, **kwargs), ("Cache-Control", NO_STORE[1])]


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


def http_error(failure: Failure) -> HTTPException:
    """The failure as werkzeug's exception for its status, to raise out of the view.

    The framework answers it (and ``@app.errorhandler(409)`` and the like apply);
    a 503 is a :class:`SessionUnavailable`, still a :class:`StoreUnavailable` that
    a view may catch.
    """
    if failure.status == 503:
        return SessionUnavailable()
    return default_exceptions[failure.status](failure.text)


@contextmanager
def fails_closed(exchange: Exchange | AsyncExchange) -> Iterator[None]:
    """Around a view's own session call: a refusal answers as the load and the save do.

    Never a 500: 503 when the store cannot reach the database, 409 for a same-key
    concurrent change or a session that ended meanwhile, 403 over the session
    limit (werkzeug's, with the store's error as ``__cause__``). A plain ``with``
    serves a coroutine too (``with fails_closed(x): await call()``): deciding
    the answer does no I/O.
    """
    try:
        yield
    except SessionUnavailable:
        raise
    except MongoSessionError as exc:
        failure = exchange.failure(exc)  # logs it
        if failure is None:
            raise
        raise http_error(failure) from exc


class SessionBase(Session[E], SessionMixin):
    """Our Session plus Flask's SessionMixin, over the exchange ``E`` (blocking or async).

    What :class:`~mongosession.flask.FlaskSession` and
    :class:`~mongosession.quart.QuartSession` share: ``new``, ``modified`` (and
    Flask's own ``permanent``) answered from the request's state.
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

    @property
    def exchange(self) -> E:
        """The request's exchange (its session I/O)."""
        return self._exchange

    @classmethod
    def _current(cls, proxy: Any) -> Self:
        """The session behind the framework's ``session`` proxy: the adapters' ``get_session()``.

        503 (:class:`SessionUnavailable`) when the store could not load it; a
        RuntimeError when there is none of ours.
        """
        current: object = proxy._get_current_object()
        if isinstance(current, cls):
            return current
        if isinstance(current, UnavailableSession):
            raise SessionUnavailable()
        raise RuntimeError("no mongosession session here: is MongoSession(app) installed?")


def request_header(headers: Headers) -> HeaderGetter:
    """A request's werkzeug ``Headers`` as the exchange reads them (``Cookie`` lines joined)."""

    def header(name: str) -> str | None:
        if name == "cookie":  # HTTP/2 may send the cookies as several fields
            return "; ".join(headers.getlist("Cookie")) or None
        value: str | None = headers.get(name)
        return value

    return header


def _text_secret(value: str | bytes) -> str:
    # Flask allows a bytes SECRET_KEY (os.urandom); latin-1 maps it 1:1 to a str.
    return value.decode("latin-1") if isinstance(value, bytes) else value


def config_from_settings(
    settings: Mapping[str, Any], secret: str | list[str] | None, options: SessionOptions
) -> SessionConfig:
    """The session options from an app's config, then ``secret`` and ``options`` over it.

    Raises:
        ConfigurationError: no secret (set ``SECRET_KEY`` or pass ``secret=``), or
            an option that cannot work.
    """
    merged: dict[str, Any] = {
        option: settings[key] for key, option in COOKIE_SETTINGS.items() if key in settings
    }
    merged["path"] = settings.get("SESSION_COOKIE_PATH") or settings.get("APPLICATION_ROOT", "/")
    merged["domain"] = merged.get("domain") or None
    # Flask's default is no SameSite attribute; ours (and browsers') is Lax.
    same_site = merged.get("same_site")
    merged["same_site"] = same_site.lower() if isinstance(same_site, str) else "lax"
    merged.update(settings.get("MONGOSESSION_OPTIONS") or {})
    merged.update(options)
    secrets: Any = secret or settings.get("MONGOSESSION_SECRET")
    if not secrets:
        keys = [settings.get("SECRET_KEY"), *(settings.get("SECRET_KEY_FALLBACKS") or ())]
        secrets = [_text_secret(key) for key in keys if key]
    if not secrets:
        raise ConfigurationError(
            "mongosession needs a secret: set SECRET_KEY (or MONGOSESSION_SECRET), "
            "or pass secret= to MongoSessionInterface"
        )
    return SessionConfig.from_options(secrets, merged)


def store_arguments(settings: Mapping[str, Any]) -> dict[str, Any]:
    """The store's arguments from an app's config (``MONGOSESSION_STORE``, ``MONGOSESSION_URI``).

    Raises:
        ConfigurationError: neither a URI nor a client.
    """
    arguments = dict(settings.get("MONGOSESSION_STORE") or {})
    uri = settings.get("MONGOSESSION_URI")
    if uri:
        arguments.setdefault("uri", uri)
    if "uri" not in arguments and "client" not in arguments:
        raise ConfigurationError(
            "set MONGOSESSION_URI (mongodb://host/database), or pass store= to MongoSession"
        )
    return arguments


class WerkzeugLikeResponse(Protocol):
    """What a session interface writes to: werkzeug's response, or Quart's."""

    status_code: int

    @property
    def headers(self) -> Headers: ...
    @property
    def vary(self) -> HeaderSet: ...
    @property
    def cache_control(self) -> ResponseCacheControl: ...
    @property
    def mimetype(self) -> str | None: ...
    @mimetype.setter
    def mimetype(self, value: str) -> None: ...
    def set_data(self, value: str, /) -> None: ...


class InterfaceBase(Generic[AppT, StoreT]):
    """What the Flask and Quart ``MongoSessionInterface`` share: the store, the options of each app.

    Args:
        store: the adapter's store (``_store_class``: blocking for Flask, async for Quart).
        secret: the signing secret or a list; default from the app's config.
        **options: session options over the app's config.

    Raises:
        ConfigurationTypeError: ``store`` is not a ``_store_class``.
    """

    #: The store class the adapter's I/O needs, and what to say about another.
    _store_class: ClassVar[type[Any]]
    _wrong_store: ClassVar[str]

    def __init__(
        self,
        store: StoreT,
        secret: str | list[str] | None = None,
        **options: Unpack[SessionOptions],
    ) -> None:
        if not isinstance(store, self._store_class):
            raise ConfigurationTypeError(self._wrong_store)
        self.store = store
        self.secret = secret
        self.options = options
        self._configs: weakref.WeakKeyDictionary[AppT, SessionConfig] = weakref.WeakKeyDictionary()

    def config_for(self, app: AppT) -> SessionConfig:
        """The session options for ``app``, from its config and this interface's arguments.

        Raises:
            ConfigurationError: no secret (set ``SECRET_KEY`` or pass
                ``secret=``), or an option that cannot work.
        """
        config = self._configs.get(app)
        if config is None:
            config = self._configs[app] = config_from_settings(
                app.config, self.secret, self.options
            )
        return config

    def _apply_permanent(self, app: AppT, session: SessionBase[Any]) -> None:
        """Give the cookie the lifetime ``session.permanent`` asks for, if the view set it.

        Otherwise the cookie is the options' (or whatever the view set through
        ``session.cookie``).
        """
        permanent: Any = dict.get(session, "_permanent")
        if permanent is None:
            return
        lifetime: timedelta = app.permanent_session_lifetime
        seconds = lifetime.total_seconds() if permanent else self.config_for(app).max_age
        wanted = None if seconds is None else int(seconds * 1000)
        if session.cookie.original_max_age != wanted:
            session.cookie.max_age = seconds

    @staticmethod
    def _unavailable(
        exchange: Exchange | AsyncExchange, exc: StoreUnavailable
    ) -> UnavailableSession:
        """The session of a request whose load failed (logged): its first use raises 503."""
        if exchange.failure(exc) is None:  # logs it
            raise exc
        return UnavailableSession()

    @staticmethod
    def _finish(
        response: WerkzeugLikeResponse,
        headers: Iterable[tuple[str, str]],
        failure: Failure | None,
    ) -> None:
        """Write the commit's outcome into ``response``: its headers, or the failure instead."""
        if failure is not None:
            # save_session cannot return another response: turn this one into the failure.
            response.headers.clear()
            response.status_code = failure.status
            response.set_data(failure.text)
            response.mimetype = "text/plain"
            for name, value in failure.headers:
                response.headers.add(name, value)
            return
        for name, value in headers:
            if name == "vary":
                response.vary.add(value)
            elif name == "cache-control":  # no-store, merged into the view's own
                response.cache_control.no_store = True
            else:
                response.headers.add(name, value)


InterfaceT = TypeVar("InterfaceT", bound=InterfaceBase[Any, Any])


class ExtensionBase(Generic[AppT, StoreT, InterfaceT]):
    """What the Flask and Quart ``MongoSession`` extensions share: their arguments.

    ``MongoSession(app)`` or ``ext = MongoSession(); ext.init_app(app)``; each
    adapter's :meth:`init_app` installs its interface (``_interface_class``).
    """

    _interface_class: ClassVar[type[InterfaceBase[Any, Any]]]

    def __init__(
        self,
        app: AppT | None = None,
        *,
        store: StoreT | None = None,
        secret: str | list[str] | None = None,
        **options: Unpack[SessionOptions],
    ) -> None:
        self.store = store
        self.secret = secret
        self.options = options
        self.interface: InterfaceT | None = None
        if app is not None:
            self.init_app(app)

    def init_app(self, app: AppT) -> InterfaceT:
        """Install the session interface on ``app``; checks the configuration now."""
        raise NotImplementedError

    def _interface_for(self, app: AppT) -> InterfaceT:
        # The store (``store=``, or one from the config), its interface, and the
        # configuration checked now: a bad option or a missing secret fails at
        # start-up, before the app has the interface.
        store = self.store
        if store is None:
            store = self._interface_class._store_class(**store_arguments(app.config))
        interface = cast("InterfaceT", self._interface_class(store, self.secret, **self.options))
        interface.config_for(app)
        app.extensions["mongosession"] = interface
        self.interface = interface
        return interface
