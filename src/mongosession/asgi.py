"""Session middleware for any ASGI application (Starlette, FastAPI, ...).

A plain ASGI callable, not Starlette's ``BaseHTTPMiddleware``. It puts a
:class:`~mongosession._session.Session` in ``scope["session"]``, so Starlette's
and FastAPI's ``request.session`` work unchanged::

    from mongosession import AsyncMongoStore
    from mongosession.asgi import SessionMiddleware

    store = AsyncMongoStore(uri="mongodb://localhost:27017/app")
    app.add_middleware(SessionMiddleware, store=store, secret=["new", "old"])

The session is read before the handler (one query, none without a cookie)
and written when the response starts (at most one write), so a failure can
still become an error response: 503 when the store is unavailable (fail
closed), 409 when a concurrent request changed the same session keys, 403
when a login is over the store's ``max_sessions_per_user`` (``on_session_limit="refuse"``).
Changes made after the response has started are not saved.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from mongosession._errors import MongoSessionError, StoreUnavailable
from mongosession.store.asynchronous.store import AsyncMongoStore
from mongosession.web.asynchronous.exchange import AsyncExchange
from mongosession.web.config import SessionConfig
from mongosession.web.failures import UNAVAILABLE_TEXT, failure_status, is_secure
from mongosession.web.session import Session

__all__ = ["Session", "SessionMiddleware", "get_session"]

log = logging.getLogger("mongosession")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def get_session(request: Any) -> Session:
    """The request's :class:`Session`, typed (``request.session`` is a plain dict to mypy).

    Takes a Starlette/FastAPI ``Request`` or an ASGI scope. Example::

        session = get_session(request)
        await session.regenerate()
    """
    scope = getattr(request, "scope", request)
    session = scope.get("session") if isinstance(scope, MutableMapping) else None
    if not isinstance(session, Session):
        raise RuntimeError("no mongosession Session here: is SessionMiddleware installed?")
    return session


async def _plain(
    send: Send, status: int, text: str, extra: list[tuple[str, str]] | None = None
) -> None:
    body = text.encode()
    headers = [
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"content-length", str(len(body)).encode()),
    ]
    headers.extend((k.encode(), v.encode("latin-1")) for k, v in extra or ())
    if not any(k == b"cache-control" for k, _ in headers):
        headers.append((b"cache-control", b"no-store"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class SessionMiddleware:
    """Server-side sessions in MongoDB with express-session's semantics.

    Args:
        app: the ASGI application.
        store: an :class:`AsyncMongoStore`.
        secret: the signing secret, or a list (the first signs, all verify).
        **options: ``name``, ``max_age``, ``expires``, ``http_only``, ``secure``,
            ``same_site``, ``path``, ``domain``, ``partitioned``, ``priority``,
            ``rolling``, ``resave``, ``save_uninitialized``, ``unset``, ``proxy``,
            ``genid``, ``header``: see the docs' session options page.
    """

    def __init__(
        self,
        app: ASGIApp,
        /,  # positional: the options may be any keywords
        store: AsyncMongoStore,
        secret: str | list[str],
        **options: Any,
    ) -> None:
        if not isinstance(store, AsyncMongoStore):
            raise TypeError("SessionMiddleware needs an AsyncMongoStore")
        self.app = app
        self.store = store
        self.config = SessionConfig(secret=secret, **options)
        self._header = self.config.header.lower().encode() if self.config.header else None

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
        config = self.config
        if kind == "lifespan":
            await self.app(scope, self._preparing(receive), send)
            return
        if kind not in ("http", "websocket") or not (
            scope.get("root_path", "") + scope.get("path", "")
        ).startswith(config.path):
            await self.app(scope, receive, send)
            return
        cookies: list[str] = []
        header_value = forwarded = None
        for name, value in scope.get("headers", ()):
            if name == b"cookie":
                cookies.append(value.decode("latin-1"))
            elif name == self._header:
                header_value = value.decode("latin-1")
            elif name == b"x-forwarded-proto" and forwarded is None:
                forwarded = value.decode("latin-1")
        secure = is_secure(
            config, https=scope.get("scheme") in ("https", "wss"), forwarded_proto=forwarded
        )
        exchange = AsyncExchange(
            self.store,
            config,
            cookie_header="; ".join(cookies) or None,
            header_value=header_value,
            secure_request=secure,
        )
        try:
            scope["session"] = await exchange.load()
        except StoreUnavailable as exc:
            failure_status(exc)  # logs it
            if kind == "websocket":
                await send({"type": "websocket.close", "code": 1011})
            else:
                await _plain(send, 503, UNAVAILABLE_TEXT)
            return
        if kind == "websocket":  # read-only: a websocket cannot set a cookie later
            await self.app(scope, receive, send)
            return

        replaced = started = False

        async def send_with_session(message: Message) -> None:
            nonlocal replaced, started
            if message["type"] == "http.response.start":
                started = True
                try:
                    extra = await exchange.commit(scope.get("session"))
                except MongoSessionError as exc:
                    failure = failure_status(exc)  # 503, 409 or 403, logged
                    if failure is None:
                        raise
                    replaced = True
                    await _plain(send, *failure)
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
            # while the response has not started.
            failure = None if started else failure_status(exc)
            if failure is None:
                raise
            await _plain(send, *failure, exchange.failure_headers(exc))
