"""Session middleware for any ASGI application (Starlette, FastAPI, ...).

A plain ASGI callable, not Starlette's ``BaseHTTPMiddleware``. It puts a
:class:`~mongosession.Session` in ``scope["session"]``, so Starlette's and
FastAPI's ``request.session`` work unchanged (:func:`get_session` gives it typed,
an :data:`~mongosession.AsyncSession` whose methods are awaitable)::

    from mongosession import AsyncMongoStore
    from mongosession.asgi import SessionMiddleware

    store = AsyncMongoStore(uri="mongodb://localhost:27017/app")
    app.add_middleware(SessionMiddleware, store=store, secret=["new", "old"])

The session is read before the handler (one query, none without a cookie)
and written when the response starts (at most one write), so a failure can
still become an error response: 503 when the store is unavailable (fail
closed), 409 when a concurrent request changed the same session keys, 403
when a login is over the store's ``max_sessions_per_user`` (``on_session_limit="refuse"``).
A response with status 500 or more, or a handler that raises, saves nothing.
Changes made after the response has started are not saved.

A request already carrying a session (``scope["session"]`` set by another session
layer outside this one) is passed through untouched, as express-session does. A
request outside the cookie ``path`` gets no session; the path is matched against
the request's full path, under a ``Mount`` or a server's ``--root-path`` too. The
``cookie`` function and a ``genid`` that takes an argument are given the ASGI scope.
"""

from __future__ import annotations

from collections.abc import Callable, MutableMapping, Sequence
from typing import Any

from typing_extensions import Unpack

from mongosession._errors import ConfigurationTypeError
from mongosession.store.asynchronous.store import AsyncMongoStore
from mongosession.web.asgi_support import (
    ASGIApp,
    Message,
    Receive,
    Scope,
    Send,
    exchange_for,
    prepare_store,
    request_path,
    serve,
)
from mongosession.web.config import Secret, SessionConfig, SessionOptions
from mongosession.web.session import AsyncSession, Session

__all__ = ["AsyncSession", "Session", "SessionMiddleware", "SessionOptions", "get_session"]


def get_session(request: Any) -> AsyncSession:
    """The request's session, typed (``request.session`` is a plain dict to mypy).

    Takes a Starlette/FastAPI ``Request`` or an ASGI scope. Its methods are
    awaitable. Example::

        session = get_session(request)
        await session.regenerate()
    """
    scope = getattr(request, "scope", request)
    session = scope.get("session") if isinstance(scope, MutableMapping) else None
    if not isinstance(session, Session):
        raise RuntimeError("no mongosession Session here: is SessionMiddleware installed?")
    return session


class SessionMiddleware:
    """Server-side sessions in MongoDB with express-session's semantics.

    Args:
        app: the ASGI application.
        store: an :class:`AsyncMongoStore`.
        secret: the signing secret (a str, or bytes), or a list (the first
            signs, all verify).
        skip: a function of the ASGI scope; a request it answers True for gets
            no session and costs no database command, cookie or not (static
            files, health checks): ``skip=lambda scope: scope["path"].startswith("/static/")``.
        **options: the session options (:class:`~mongosession.web.config.SessionOptions`):
            ``name``, ``max_age``, ``expires``, ``http_only``, ``secure``,
            ``same_site``, ``path``, ``domain``, ``partitioned``, ``priority``,
            ``rolling``, ``resave``, ``save_uninitialized``, ``unset``, ``proxy``,
            ``genid``, ``header``, ``cookie``, ``record_devices``, ``record_ip``:
            see the docs' session options page (devices: docs/devices.md).
            ``cookie`` (a function of the scope returning cookie options) and a
            ``genid`` that takes an argument are given the request's ASGI scope.

    Raises:
        ConfigurationError: an option that cannot work (a ``TypeError`` too,
            :class:`~mongosession.ConfigurationTypeError`, for a blocking store).
    """

    def __init__(
        self,
        app: ASGIApp,
        /,  # positional: the options may be any keywords
        store: AsyncMongoStore,
        secret: Secret | Sequence[Secret],
        *,
        skip: Callable[[Scope], bool] | None = None,
        **options: Unpack[SessionOptions],
    ) -> None:
        if not isinstance(store, AsyncMongoStore):
            raise ConfigurationTypeError("SessionMiddleware needs an AsyncMongoStore")
        if skip is not None and not callable(skip):
            raise ConfigurationTypeError("skip must be a function of the ASGI scope")
        self.app = app
        self.store = store
        self.skip = skip
        self.config = SessionConfig.from_options(secret, options)

    def _preparing(self, receive: Receive) -> Receive:
        # At start-up, make the indexes (prepare_store: a database down now is
        # tried again by the first session operation).
        async def receive_and_prepare() -> Message:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await prepare_store(self.store)
            return message

        return receive_and_prepare

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "lifespan":
            await self.app(scope, self._preparing(receive), send)
            return
        if (
            kind not in ("http", "websocket")
            or scope.get("session") is not None
            or (self.skip is not None and self.skip(scope))
        ):
            # Not a request, one another session layer has served, or a route the
            # application says needs no session (``skip``): left alone, no database.
            await self.app(scope, receive, send)
            return
        # The cookie function's options for this request (its path decides too).
        config = self.config.resolve(scope)
        if not request_path(scope).startswith(config.path):
            await self.app(scope, receive, send)
            return
        exchange = exchange_for(self.store, config, scope, request=scope)
        # At the response's start, the session the scope holds then (None: unset).
        await serve(
            self.app,
            scope,
            receive,
            send,
            exchange,
            lambda status: exchange.commit(scope.get("session"), status),
        )
