"""Litestar sessions in MongoDB: ``plugins=[MongoSessionPlugin(store, secret=...)]``.

A Litestar plugin that installs mongosession's session middleware, its failure
answers and its start-up hook. Litestar's own ``request.session`` works unchanged;
the object behind it is a :class:`~mongosession.Session` with express-session's
semantics, the same as the ASGI middleware's (:func:`get_session` gives it typed,
an :data:`~mongosession.AsyncSession` whose methods are awaitable)::

    from litestar import Litestar, Request, get, post
    from mongosession import AsyncMongoStore
    from mongosession.litestar import MongoSessionPlugin, get_session

    @get("/")
    async def home(request: Request) -> str:
        request.session["visits"] = request.session.get("visits", 0) + 1
        return str(request.session["visits"])

    @post("/login", status_code=200)
    async def login(request: Request) -> str:
        await get_session(request).regenerate()   # new id, data kept
        request.session["user"] = "alice"
        return "welcome"

    store = AsyncMongoStore(uri="mongodb://localhost:27017/app")
    app = Litestar([home, login], plugins=[MongoSessionPlugin(store, secret="change me")])

Why not Litestar's ``ServerSideSessionConfig`` with a ``Store``: a Litestar store
keeps opaque bytes by key (``get``/``set``/``delete``, no compare-and-swap), and
its session backend rewrites the whole value on every response, with no way to
regenerate the id. mongosession's guarantees need more from a save: update-only
(a session destroyed meanwhile stays gone), merged with concurrent changes to
other keys, and a regenerate that checks the old session is still live. So the
plugin puts mongosession's own middleware over the shared session layer instead.

The session is read before the handler (one query with a valid cookie, none
without) and written when the response starts (at most one write), so a failure
can still become an error response: 503 when the store is unavailable (fail
closed), 409 for a same-key concurrent change or a session that ended while the
request ran, 403 over the store's ``max_sessions_per_user``. A response with
status 500 or more, or a handler that raises, saves nothing.
``request.set_session(data)`` replaces the session's data; ``request.clear_session()``
destroys the session when the response starts (as ``await session.destroy()``).
"""

from __future__ import annotations

# ruff: noqa: E402
from collections.abc import Mapping
from typing import Any, cast

# The framework first: without it, say which extra installs it (the imports follow).
from mongosession._extras import require

require("litestar", extra="litestar", feature="mongosession.litestar")

from litestar import Request, Response
from litestar.config.app import AppConfig
from litestar.connection import ASGIConnection
from litestar.enums import MediaType
from litestar.exceptions.responses import create_debug_response, create_exception_response
from litestar.middleware import DefineMiddleware
from litestar.plugins import InitPluginProtocol
from litestar.serialization import decode_json, encode_json
from litestar.types import Empty
from litestar.types import Scope as LitestarScope
from litestar.utils import get_serializer_from_scope
from typing_extensions import Unpack

from mongosession._errors import ConfigurationTypeError, MongoSessionError
from mongosession.store.asynchronous.store import AsyncMongoStore
from mongosession.web.asgi_support import (
    ASGIApp,
    Receive,
    Scope,
    Send,
    exchange_for,
    prepare_store,
    serve,
)
from mongosession.web.asynchronous.exchange import AsyncExchange, Headers
from mongosession.web.config import SessionConfig, SessionOptions
from mongosession.web.failures import Failure, failure_for
from mongosession.web.rules import saves_after
from mongosession.web.session import AsyncSession, Session

__all__ = ["AsyncSession", "MongoSessionPlugin", "Session", "SessionOptions", "get_session"]

#: The scope key of one request's session bookkeeping (a :class:`_RequestSession`).
_SLOT = "mongosession"


class _RequestSession:
    """One request's exchange, and whether its end has been carried out (or must not be)."""

    __slots__ = ("done", "exchange")

    def __init__(self, exchange: AsyncExchange) -> None:
        self.exchange = exchange
        self.done = False


def _slot(scope: Mapping[str, Any]) -> _RequestSession | None:
    slot = scope.get(_SLOT)
    return slot if isinstance(slot, _RequestSession) else None


def get_session(connection: ASGIConnection[Any, Any, Any, Any]) -> AsyncSession:
    """The request's session, typed (``request.session`` is a plain dict to mypy).

    Takes a Litestar ``Request`` or ``WebSocket``. Its methods are awaitable::

        @post("/login", status_code=200)
        async def login(request: Request) -> str:
            await get_session(request).regenerate()
            request.session["user"] = "alice"
            return "welcome"

    Raises:
        RuntimeError: no mongosession session here (the plugin is not installed,
            or the request is outside the cookie's ``path``).
    """
    session = connection.scope.get("session")
    if not isinstance(session, Session):
        raise RuntimeError(
            "no mongosession Session here: is MongoSessionPlugin in the app's plugins?"
        )
    return session


def _session_data(scope: Scope, value: Any) -> Mapping[str, Any]:
    # request.set_session() takes a dict or a data container (a dataclass, a
    # msgspec Struct, a pydantic model): stored as Litestar's own backends store
    # it, through the app's JSON serializer.
    if isinstance(value, Mapping):
        return value
    serializer = get_serializer_from_scope(cast("LitestarScope", scope))
    data = decode_json(encode_json(value, serializer))
    if not isinstance(data, dict):
        raise TypeError(f"the session must be a mapping, not {type(value).__name__}")
    return data


class _SessionMiddleware:
    """The ASGI middleware the plugin installs (through ``DefineMiddleware``)."""

    def __init__(self, app: ASGIApp, *, store: AsyncMongoStore, config: SessionConfig) -> None:
        self.app = app
        self.store = store
        self.config = config

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        config = self.config
        path = _routed_request_path(scope)
        if scope["type"] not in ("http", "websocket") or not path.startswith(config.path):
            await self.app(scope, receive, send)
            return
        exchange = exchange_for(self.store, config, scope, request=scope)
        slot = _RequestSession(exchange)
        scope[_SLOT] = slot

        async def commit(status: int) -> tuple[Headers, Failure | None]:
            if slot.done:  # ended already: a session call failed (_after_exception)
                return [], None
            slot.done = True
            return await _commit(scope, exchange, status)

        try:
            await serve(self.app, scope, receive, send, exchange, commit)
        finally:
            # Whatever raised past Litestar's handlers (or a failure answered in
            # place of the response) saves nothing more; a websocket saves nothing.
            slot.done = True


def _routed_request_path(scope: Scope) -> str:
    # Litestar's router has already taken ``root_path`` off ``scope["path"]``
    # (whichever ASGI convention the server used: the path with the prefix or
    # without), and app middleware runs after routing, so the full path is the
    # two joined. Not asgi_support.request_path, which must guess the convention:
    # a route whose own path starts with the prefix (``/app/x`` under ``/app``,
    # ``/app/app/x`` in full) would read as already full.
    root_path: str = scope.get("root_path", "")
    path: str = scope.get("path", "")
    return root_path + path


async def _commit(
    scope: Scope, exchange: AsyncExchange, status: int
) -> tuple[Headers, Failure | None]:
    """Save the session: the headers to add, or the failure to answer with."""
    current: Any = scope.get("session")
    try:
        if current is Empty:  # request.clear_session(): the session ends
            current = exchange.session
            if saves_after(status):
                await exchange.destroy()
        elif current is not None:
            current = _session_data(scope, current)
    except MongoSessionError as exc:
        failure = exchange.failure(exc)
        if failure is None:
            raise
        return [], failure
    return await exchange.commit(current, status)


def _failure_response(request: Request[Any, Any, Any], exc: MongoSessionError) -> Response[Any]:
    # The exception handler for the handler's own session calls (regenerate(),
    # save()...) that the store refused: the failure every adapter answers with.
    slot = _slot(cast("Mapping[str, Any]", request.scope))
    failure = failure_for(exc) if slot is None else slot.exchange.failure(exc)
    if failure is None:  # no session failure (a ReservedKey, say): Litestar's own 500
        if request.app.debug:
            return create_debug_response(request, exc)
        return create_exception_response(request, exc)
    return Response(
        failure.text,
        status_code=failure.status,
        media_type=MediaType.TEXT,
        headers=dict(failure.headers),
    )


async def _after_exception(exc: Exception, scope: LitestarScope) -> None:
    # Whatever answers it (our handler or the application's own), a request whose
    # session call failed saves nothing more.
    slot = _slot(cast("Mapping[str, Any]", scope))
    if slot is not None and isinstance(exc, MongoSessionError):
        slot.done = True


class MongoSessionPlugin(InitPluginProtocol):
    """Server-side sessions in MongoDB for a Litestar app, with express-session's semantics.

    ``Litestar(..., plugins=[MongoSessionPlugin(store, secret=...)])`` installs:

    - the session middleware, first of the app's middleware (so that
      authentication middleware sees ``connection.session``);
    - an exception handler for :class:`~mongosession.MongoSessionError`, answering
      the store's refusals of a handler's session calls (503, 409, 403; an
      application's own handler for the error, or a subclass, takes precedence);
    - a start-up hook that makes the store's indexes.

    Args:
        store: an :class:`AsyncMongoStore` (yours to close: ``on_shutdown=[store.close]``).
        secret: the signing secret, or a list (the first signs, all verify).
        **options: the session options (:class:`~mongosession.web.config.SessionOptions`):
            ``name``, ``max_age``, ``expires``, ``http_only``, ``secure``,
            ``same_site``, ``path``, ``domain``, ``partitioned``, ``priority``,
            ``rolling``, ``resave``, ``save_uninitialized``, ``unset``, ``proxy``,
            ``genid``, ``header``: see the docs' session options page.

    Raises:
        ConfigurationError: an option that cannot work (a ``TypeError`` too,
            :class:`~mongosession.ConfigurationTypeError`, for a blocking store).
    """

    __slots__ = ("config", "store")

    def __init__(
        self,
        store: AsyncMongoStore,
        *,
        secret: str | list[str],
        **options: Unpack[SessionOptions],
    ) -> None:
        if not isinstance(store, AsyncMongoStore):
            raise ConfigurationTypeError("MongoSessionPlugin needs an AsyncMongoStore")
        self.store = store
        self.config = SessionConfig.from_options(secret, options)

    @property
    def middleware(self) -> DefineMiddleware:
        """The session middleware, as the plugin adds it to the app."""
        # Plain ASGI types (MutableMapping) where Litestar declares its TypedDicts.
        middleware: Any = _SessionMiddleware
        return DefineMiddleware(middleware, store=self.store, config=self.config)

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        """Add the middleware, the failure handler and the start-up hook to the app's config."""
        app_config.middleware.insert(0, self.middleware)
        app_config.exception_handlers.setdefault(MongoSessionError, _failure_response)
        app_config.after_exception.append(_after_exception)
        app_config.on_startup.append(self._prepare_store)
        return app_config

    async def _prepare_store(self) -> None:
        await prepare_store(self.store)
