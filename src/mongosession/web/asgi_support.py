"""What the ASGI adapters share: one request's session around a plain ASGI application.

``mongosession.asgi`` (the middleware for any ASGI app) and ``mongosession.litestar``
(its plugin's middleware) differ in which requests they serve and in what the
request's session slot may hold at the end; the rest is here, once: the scope's
headers and path, a :class:`~mongosession.web.failures.Failure` sent as a plain
response, and the load before the application and the commit when its response
starts (:func:`serve`). :func:`prepare_store` is the start-up rule of every async
adapter that has a start-up hook (Quart's too).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

from mongosession._errors import MongoSessionError, StoreUnavailable
from mongosession._log import log
from mongosession.store.asynchronous.store import AsyncMongoStore
from mongosession.web.asynchronous.exchange import AsyncExchange, HeaderGetter, Headers
from mongosession.web.config import SessionConfig
from mongosession.web.failures import Failure

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: The end of the request, given the response's status: the headers to add, or the
#: failure to answer with instead (what :meth:`AsyncExchange.commit` returns).
Commit = Callable[[int], Awaitable[tuple[Headers, Failure | None]]]


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


def request_header(scope: Scope) -> HeaderGetter:
    """The scope's request headers, as the exchange reads them (``Cookie`` lines joined)."""
    # The exchange asks for two or three headers at most: a scan of the list each.
    raw: list[tuple[bytes, bytes]] = scope.get("headers") or []

    def header(name: str) -> str | None:
        wanted = name.encode("latin-1")
        values = [value.decode("latin-1") for key, value in raw if key.lower() == wanted]
        if not values:
            return None
        return "; ".join(values) if name == "cookie" else values[0]

    return header


def exchange_for(
    store: AsyncMongoStore, config: SessionConfig, scope: Scope, *, request: Any = None
) -> AsyncExchange:
    """The exchange of one request: its headers read from the scope, TLS from its scheme.

    ``request`` is what the ``cookie`` function and a ``genid`` that takes an
    argument are given (see :meth:`AsyncExchange.for_request`).
    """
    https = scope.get("scheme") in ("https", "wss")
    return AsyncExchange.for_request(
        store, config, request_header(scope), https=https, request=request, peer=lambda: peer(scope)
    )


def peer(scope: Scope) -> str | None:
    """The address the connection comes from (the scope's ``client``), or None."""
    client = scope.get("client")
    if isinstance(client, (list, tuple)) and client and isinstance(client[0], str):
        return client[0]
    return None


def encode_headers(headers: Iterable[tuple[str, str]]) -> list[tuple[bytes, bytes]]:
    """Response headers as ASGI sends them."""
    return [(name.encode(), value.encode("latin-1")) for name, value in headers]


async def respond(send: Send, failure: Failure) -> None:
    """Send ``failure`` as a plain-text response, in place of the application's."""
    body = failure.text.encode()
    headers = [
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"content-length", str(len(body)).encode()),
        *encode_headers(failure.headers),
    ]
    await send({"type": "http.response.start", "status": failure.status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


async def serve(
    app: ASGIApp,
    scope: Scope,
    receive: Receive,
    send: Send,
    exchange: AsyncExchange,
    commit: Commit,
) -> None:
    """Run ``app`` for one request (``http`` or ``websocket``) with its session.

    The session is loaded into ``scope["session"]`` first; a store that cannot
    answer fails closed (503, or a websocket closed with 1011) and ``app`` does
    not run. A websocket only reads its session (it cannot set a cookie later).
    An HTTP response's start calls ``commit(status)`` and adds its headers, or is
    replaced by the failure it returns. A :class:`~mongosession.MongoSessionError`
    raised out of ``app`` (a handler's own ``regenerate()``, ``save()``...) is
    answered the same way while the response has not started; nothing more is
    saved.
    """
    try:
        scope["session"] = await exchange.load()
    except StoreUnavailable as exc:
        failure = exchange.failure(exc)  # logs it
        if failure is None:
            raise
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1011, "reason": ""})
        else:
            await respond(send, failure)
        return
    if scope["type"] == "websocket":
        await app(scope, receive, send)
        return

    replaced = started = False

    async def send_with_session(message: Message) -> None:
        nonlocal replaced, started
        if message["type"] == "http.response.start":
            started = True
            extra, failure = await commit(message["status"])
            if failure is not None:
                replaced = True
                await respond(send, failure)
                return
            if extra:
                message = {
                    **message,
                    "headers": [*message.get("headers", ()), *encode_headers(extra)],
                }
        elif replaced:
            return  # the application's body belongs to the response we replaced
        await send(message)

    try:
        await app(scope, receive, send_with_session)
    except MongoSessionError as exc:
        failure = None if started else exchange.failure(exc)
        if failure is None:
            raise
        await respond(send, failure)


async def prepare_store(store: AsyncMongoStore) -> None:
    """Make the store's indexes at start-up, so that no request pays for them.

    A database that is down now is no reason to refuse to start: it is logged,
    and the first session operation tries again (and fails closed if it must).
    """
    try:
        await store.prepare()
    except StoreUnavailable as exc:
        log.warning("session store not ready at start-up: %s", exc)
