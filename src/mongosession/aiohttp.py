"""aiohttp sessions in MongoDB: ``setup(app, store, secret=...)`` and ``await get_session(request)``.

The same shape as ``aiohttp_session`` (``setup`` then ``get_session``), with
mongosession's own middleware rather than an ``aiohttp_session`` storage: its
``Session`` and cookie rules are aiohttp_session's (its own cookie format,
changes seen only through ``__setitem__``), while this one carries
express-session's semantics shared by every mongosession adapter (the signed
``connect.sid`` cookie a Node app can read, ``regenerate()``, nested changes
detected, update-only saves, ``touch_after``), and fails closed with 503::

    from aiohttp import web
    from mongosession import AsyncMongoStore
    from mongosession.aiohttp import get_session, setup

    async def home(request: web.Request) -> web.Response:
        session = await get_session(request)
        session["visits"] = session.get("visits", 0) + 1
        return web.Response(text=str(session["visits"]))

    app = web.Application()
    setup(app, AsyncMongoStore(uri="mongodb://localhost:27017/app"), secret="change me")
    app.router.add_get("/", home)

The session is loaded by the first ``get_session`` (one query with a valid
cookie, none without): a handler that never asks costs nothing. It is saved
before the response's headers go out, also for a raised ``HTTPFound`` and for
a response the handler prepares itself (streams, websockets). Nothing is
saved when the response's status is 500 or more, or when the handler fails
with an unhandled exception.
"""

from __future__ import annotations

# ruff: noqa: E402
from typing import Any

# The framework first: without it, say which extra installs it (the imports follow).
from mongosession._extras import require

require("aiohttp", extra="aiohttp", feature="mongosession.aiohttp")

from aiohttp import web
from aiohttp.typedefs import Handler
from multidict import CIMultiDict
from typing_extensions import Unpack

from mongosession._errors import ConfigurationTypeError, MongoSessionError, StoreUnavailable
from mongosession._log import log
from mongosession.store.asynchronous.store import AsyncMongoStore
from mongosession.web.asynchronous.exchange import AsyncExchange, HeaderGetter
from mongosession.web.config import SessionConfig, SessionOptions
from mongosession.web.failures import Failure
from mongosession.web.session import AsyncSession, Session

__all__ = ["AsyncSession", "Session", "SessionOptions", "get_session", "setup"]

_ERRORS: dict[int, type[web.HTTPException]] = {
    503: web.HTTPServiceUnavailable,
    409: web.HTTPConflict,
    403: web.HTTPForbidden,
}


class _RequestSession:
    """One request's session: the exchange, the session once loaded, whether it was committed."""

    __slots__ = ("committed", "exchange", "session")

    def __init__(self, exchange: AsyncExchange) -> None:
        self.exchange = exchange
        self.session: AsyncSession | None = None
        self.committed = False


# web.RequestKey arrived in aiohttp 3.14; a plain string key before it.
_request_key: Any = getattr(web, "RequestKey", None)
_SLOT: Any = (
    _request_key("mongosession", _RequestSession) if _request_key is not None else "mongosession"
)


def _request_header(request: web.Request) -> HeaderGetter:
    headers = request.headers

    def header(name: str) -> str | None:
        if name == "cookie":
            return "; ".join(headers.getall("Cookie", ())) or None
        return headers.get(name)

    return header


def _error(failure: Failure) -> web.HTTPException:
    # The failure as aiohttp's exception, for where a response cannot be returned.
    return _ERRORS[failure.status](text=failure.text, headers=CIMultiDict(failure.headers))


def _failure_response(failure: Failure) -> web.Response:
    response = web.Response(status=failure.status, text=failure.text)
    for name, value in failure.headers:
        response.headers.add(name, value)
    return response


def setup(
    app: web.Application,
    store: AsyncMongoStore,
    *,
    secret: str | list[str],
    **options: Unpack[SessionOptions],
) -> None:
    """Give ``app`` sessions: its middleware and its pre-response hook.

    Args:
        app: the application (before it starts).
        store: an :class:`AsyncMongoStore`.
        secret: the signing secret, or a list (the first signs, all verify).
        **options: the session options (:class:`~mongosession.web.config.SessionOptions`:
            ``name``, ``max_age``, ``rolling``, ``secure``, ``same_site``,
            ``header``, ...): see the options page.

    Raises:
        ConfigurationError: an option that cannot work (a ``TypeError`` too,
            :class:`~mongosession.ConfigurationTypeError`, for a blocking store).
    """
    if not isinstance(store, AsyncMongoStore):
        raise ConfigurationTypeError("mongosession.aiohttp needs an AsyncMongoStore")
    config = SessionConfig.from_options(secret, options)

    @web.middleware
    async def mongosession_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        exchange = AsyncExchange.for_request(
            store,
            config,
            _request_header(request),
            https=request.scheme == "https",
            request=request,
            peer=lambda: request.remote,
        )
        slot = request[_SLOT] = _RequestSession(exchange)
        try:
            response = await handler(request)
        except web.HTTPException as exc:  # a redirect after login, say: it carries the cookie
            failure = await _commit(slot, exc)
            if failure is not None:
                return _failure_response(failure)
            raise
        except MongoSessionError as exc:
            # A session call in the handler failed (regenerate, destroy, save...):
            # the same answer as at load and commit; nothing more is saved.
            slot.committed = True
            failure = exchange.failure(exc)
            if failure is None:
                raise
            return _failure_response(failure)
        except BaseException:
            slot.committed = True  # a handler that raised saves nothing (rules.saves_after)
            raise
        failure = await _commit(slot, response)
        return response if failure is None else _failure_response(failure)

    async def prepare_store(app: web.Application) -> None:
        # Indexes at start-up, so no request pays for them; a database that is
        # down now is tried again by the first session operation.
        try:
            await store.prepare()
        except StoreUnavailable as exc:
            log.warning("session store not ready at start-up: %s", exc)

    app.middlewares.append(mongosession_middleware)
    app.on_response_prepare.append(_before_prepare)
    app.on_startup.append(prepare_store)


async def _before_prepare(request: web.Request, response: web.StreamResponse) -> None:
    # A response the handler prepares itself (a stream, a websocket) goes out
    # before the middleware sees it: commit now. A failure raises out of the
    # handler's prepare() call, and the middleware answers with it.
    slot = request.get(_SLOT)
    if slot is None or slot.committed:
        return
    failure = await _commit(slot, response)
    if failure is not None:
        raise _error(failure)


async def _commit(
    slot: _RequestSession, response: web.StreamResponse | web.HTTPException
) -> Failure | None:
    """Save the session if it was loaded; add its headers. Returns the failure to answer with."""
    if slot.committed or slot.session is None:
        slot.committed = True
        return None
    slot.committed = True
    extra, failure = await slot.exchange.commit(slot.session, response.status)
    if failure is not None:
        return failure
    headers = response.headers
    for name, value in extra:
        if name in ("vary", "cache-control"):  # merged into the handler's own
            present = ", ".join(headers.getall(name, ()))
            if value.lower() not in (v.strip().lower() for v in present.split(",")):
                headers[name] = f"{present}, {value}" if present else value
        else:
            headers.add(name, value)
    return None


async def get_session(request: web.Request) -> AsyncSession:
    """The request's session, loaded on first call; its methods are awaitable.

    Raises:
        web.HTTPServiceUnavailable: the store could not load it (fail closed: 503).
        RuntimeError: :func:`setup` was not called for this application.
    """
    slot: _RequestSession | None = request.get(_SLOT)
    if slot is None:
        raise RuntimeError("no session here: call mongosession.aiohttp.setup(app, store, ...)")
    if slot.session is None:
        if slot.committed:
            raise RuntimeError("the response has gone out: get the session before preparing it")
        try:
            slot.session = await slot.exchange.load()
        except StoreUnavailable as exc:
            failure = slot.exchange.failure(exc)  # logs it
            if failure is None:
                raise
            raise _error(failure) from None
    return slot.session
