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

import logging
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from typing import Any

from typing_extensions import Unpack

from mongosession._errors import ConfigurationTypeError, MongoSessionError, StoreUnavailable
from mongosession.store.asynchronous.store import AsyncMongoStore
from mongosession.web.asynchronous.exchange import AsyncExchange, HeaderGetter
from mongosession.web.config import Secret, SessionConfig, SessionOptions
from mongosession.web.failures import Failure
from mongosession.web.session import AsyncSession, Session

__all__ = ["AsyncSession", "Session", "SessionMiddleware", "SessionOptions", "get_session"]

log = logging.getLogger("mongosession")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


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


def request_path(scope: Scope) -> str:
    """The request's full path, matched against the cookie ``path``; ``"/"`` when empty.

    Two conventions meet here. Current ASGI (Starlette 0.33 and later, uvicorn's
    ``--root-path``) puts the full path in ``scope["path"]``, with ``root_path`` a
    prefix of it; older servers and frameworks put only the rest in ``path``.
    A ``path`` that starts with ``root_path`` is taken as full, any other is joined
    to it. (A path that merely repeats the prefix, ``/foo/foo/bar`` under ``/foo``
    in the old convention, reads as the new one: the two cannot be told apart.)
    """
    path: str = scope.get("path") or ""
    root_path: str = scope.get("root_path") or ""
    if root_path and not path.startswith(root_path):
        path = root_path + path
    return path or "/"


def _request_header(scope: Scope) -> HeaderGetter:
    # The exchange asks for two or three headers at most: a scan of the list each.
    raw: list[tuple[bytes, bytes]] = scope.get("headers") or []

    def header(name: str) -> str | None:
        wanted = name.encode("latin-1")
        values = [value.decode("latin-1") for key, value in raw if key == wanted]
        if not values:
            return None
        return "; ".join(values) if name == "cookie" else values[0]

    return header


async def _respond(send: Send, failure: Failure) -> None:
    # The failure as a plain-text response, in place of the handler's.
    body = failure.text.encode()
    headers = [
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"content-length", str(len(body)).encode()),
    ]
    headers.extend((k.encode(), v.encode("latin-1")) for k, v in failure.headers)
    await send({"type": "http.response.start", "status": failure.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


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
            ``genid``, ``header``, ``cookie``: see the docs' session options page.
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
        # At start-up, make the indexes so that no request pays for them. A
        # database that is down now is no reason to refuse to start: the first
        # session operation tries again (and fails closed if it must).
        async def receive_and_prepare() -> Message:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.store.prepare()
                except StoreUnavailable as exc:
                    log.warning("session store not ready at start-up: %s", exc)
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
        exchange = AsyncExchange.for_request(
            self.store,
            config,
            _request_header(scope),
            https=scope.get("scheme") in ("https", "wss"),
            request=scope,
        )
        try:
            scope["session"] = await exchange.load()
        except StoreUnavailable as exc:
            failure = exchange.failure(exc)  # logs it
            if failure is None:
                raise
            if kind == "websocket":
                await send({"type": "websocket.close", "code": 1011})
            else:
                await _respond(send, failure)
            return
        if kind == "websocket":  # read-only: a websocket cannot set a cookie later
            await self.app(scope, receive, send)
            return

        replaced = started = False

        async def send_with_session(message: Message) -> None:
            nonlocal replaced, started
            if message["type"] == "http.response.start":
                started = True
                extra, failure = await exchange.commit(scope.get("session"), message["status"])
                if failure is not None:
                    replaced = True
                    await _respond(send, failure)
                    return
                if extra:
                    headers = list(message.get("headers", ()))
                    headers.extend((k.encode(), v.encode("latin-1")) for k, v in extra)
                    message = {**message, "headers": headers}
            elif replaced:
                return  # the handler's body belongs to the response we replaced
            await send(message)

        try:
            await self.app(scope, receive, send_with_session)
        except MongoSessionError as exc:
            # The handler's own session call failed (regenerate, destroy, save,
            # reload, or the store itself): the same answer as at load and commit,
            # while the response has not started. Nothing more is saved.
            failure = None if started else exchange.failure(exc)
            if failure is None:
                raise
            await _respond(send, failure)
