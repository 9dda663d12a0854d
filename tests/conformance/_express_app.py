"""The harness for the port of express-session's ``test/session.js``.

Written from reading upstream's test file and its ``test/support`` helpers, not
copied. Upstream drives a Node ``http.Server`` whose ``request`` listener runs an
optional *setup* function, then the session middleware, then a *respond* function
(Node's ``res.write``/``res.end``); an error the middleware passes on becomes a
``500`` carrying the error's message while no header is out yet, and the server's
``error`` event once it is. Here:

* :class:`NodeServer` plays the ``http.Server`` and that listener: it runs the
  setup on the ASGI scope, stamps a ``Date`` header on every response (Node does),
  turns an exception raised before the response started into ``500`` + its
  message, and records one raised after that in :attr:`NodeServer.errors` (the
  ``error`` event).
* The middleware under test is the real ``mongosession.asgi.SessionMiddleware``
  around a raw ASGI app that calls the case's *respond* with a :class:`Req` (the
  request, plus Node's ``res.write``/``res.end``), as upstream's is a raw Node
  listener; upstream's ``mountAt`` is a Starlette ``Mount`` around both.
* The store is the real :class:`~mongosession.AsyncMongoStore` on the test's
  real MongoDB, subclassed by :class:`RecordingStore` to count calls and inject
  failures the way upstream patches ``MemoryStore`` methods.
* Requests go through ``httpx.ASGITransport`` with no cookie jar: each request
  carries exactly the ``Cookie`` header the case gives it, as supertest does.

Upstream's ``createSession`` defaults (``cookie: { maxAge: 60000 }`` when the case
gives no ``cookie``, ``secret: 'keyboard cat'`` when it gives no ``secret``) are
applied by :meth:`Env.server`, and so are express-session's own defaults where
mongosession's differ (``resave`` and ``saveUninitialized`` true, no ``SameSite``),
so that each upstream assertion is checked against the same configuration.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Mapping, MutableMapping
from datetime import datetime
from email.utils import formatdate, parsedate_to_datetime
from typing import Any
from urllib.parse import unquote

import httpx
from starlette.applications import Starlette
from starlette.routing import Mount

from mongosession import AsyncMongoStore
from mongosession.asgi import SessionMiddleware

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: express-session's defaults where mongosession's differ (SessionConfig's docstring).
EXPRESS_DEFAULTS: dict[str, Any] = {"resave": True, "save_uninitialized": True, "same_site": None}

#: Upstream's ``min``.
MIN = 60


class _Undefined:
    def __repr__(self) -> str:
        return "undefined"


#: JavaScript's ``undefined``, for a session key that is not there.
UNDEFINED: Any = _Undefined()


def js_string(value: Any) -> str:
    """JavaScript's ``String(value)`` for the values the cases print."""
    if value is UNDEFINED:
        return "undefined"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Mapping):
        return "[object Object]"
    return str(value)


# -- the store ------------------------------------------------------------------------


class RecordingStore(AsyncMongoStore):
    """The real store, counting the calls upstream spies on and failing on demand.

    Every write of a session counts as upstream's ``store.set``: ``set``, the
    insert-only ``create``, the update-only ``save`` and ``regenerate`` (which
    writes the session under its new id). ``fail[op]`` is raised by the next
    calls of ``op`` (``"get"``, ``"set"``, ``"touch"``, ``"destroy"``), as upstream
    replaces ``store.get`` with a function calling back an error; ``set_delay``
    holds each write back, as upstream's ``shouldSetSessionInStore(store, 200)``.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.calls: Counter[str] = Counter()
        self.fail: dict[str, BaseException] = {}
        self.set_delay = 0.0

    def reset(self) -> None:
        """Start counting afresh (upstream installs its spy just before a request)."""
        self.calls.clear()

    @property
    def sets(self) -> int:
        return self.calls["set"]

    async def _call(self, op: str) -> None:
        self.calls[op] += 1
        failure = self.fail.get(op)
        if failure is not None:
            raise failure
        if op == "set" and self.set_delay:
            await asyncio.sleep(self.set_delay)

    async def get(self, sid: str) -> Any:
        await self._call("get")
        return await super().get(sid)

    async def set(self, sid: str, session: Mapping[str, Any]) -> None:
        await self._call("set")
        await super().set(sid, session)

    async def create(self, sid: str, session: Mapping[str, Any]) -> None:
        await self._call("set")
        await super().create(sid, session)

    async def save(self, sid: str, session: Mapping[str, Any], **kwargs: Any) -> bool:
        await self._call("set")
        return await super().save(sid, session, **kwargs)

    async def regenerate(self, old_sid: str, new_sid: str, session: Mapping[str, Any]) -> bool:
        await self._call("set")
        return await super().regenerate(old_sid, new_sid, session)

    async def touch(self, sid: str, session: Mapping[str, Any]) -> None:
        await self._call("touch")
        await super().touch(sid, session)

    async def destroy(self, sid: str) -> bool:
        await self._call("destroy")
        return await super().destroy(sid)


# -- the request and response a case's respond function sees -------------------------


class Req:
    """Node's ``req`` and ``res`` in one, over an ASGI scope.

    ``session`` is ``scope["session"]`` (``req.session``); ``secure`` is the ASGI
    analog of Express's ``req.secure``, the scope's scheme. ``write``/``end``/
    ``set_header``/``status_code`` are Node's ``res`` methods.
    """

    def __init__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.scope = scope
        self._send = send
        self.status_code = 200
        self.headers_out: list[tuple[str, str]] = []
        self.started = False
        self.ended = False

    @property
    def session(self) -> Any:
        return self.scope.get("session")

    @session.setter
    def session(self, value: Any) -> None:
        self.scope["session"] = value

    @property
    def method(self) -> str:
        return str(self.scope["method"])

    @property
    def url(self) -> str:
        query = self.scope.get("query_string", b"").decode("latin-1")
        return str(self.scope["path"]) + (f"?{query}" if query else "")

    @property
    def secure(self) -> bool:
        return self.scope.get("scheme") == "https"

    def header(self, name: str) -> str | None:
        wanted = name.lower().encode()
        for key, value in self.scope.get("headers", ()):
            if key == wanted:
                return str(value.decode("latin-1"))
        return None

    def set_header(self, name: str, value: str) -> None:
        self.headers_out.append((name, value))

    async def _start(self) -> None:
        if not self.started:
            self.started = True
            await self._send(
                {
                    "type": "http.response.start",
                    "status": self.status_code,
                    "headers": [(k.lower().encode(), v.encode()) for k, v in self.headers_out],
                }
            )

    async def write_head(self, status: int, headers: Mapping[str, str]) -> None:
        """Node's ``res.writeHead(status, headers)``."""
        self.status_code = status
        self.headers_out.extend(headers.items())
        await self._start()

    async def write(self, chunk: str) -> None:
        await self._start()
        await self._send({"type": "http.response.body", "body": chunk.encode(), "more_body": True})

    async def end(self, chunk: str | None = None) -> None:
        await self._start()
        self.ended = True
        body = chunk.encode() if chunk else b""
        await self._send({"type": "http.response.body", "body": body, "more_body": False})


Respond = Callable[[Req], Awaitable[None]]
Setup = Callable[[Scope], None]


async def end(req: Req) -> None:
    """Upstream's default respond function: ``res.end()``."""
    await req.end()


class _Endpoint:
    # The app behind the middleware: a raw ASGI callable running the respond
    # function, as upstream's is a raw Node request listener (no routing between).
    def __init__(self, respond: Respond) -> None:
        self.respond = respond

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.respond(Req(scope, receive, send))


class NodeServer:
    """Node's ``http.Server`` with upstream's request listener (see the module docstring)."""

    def __init__(self, app: ASGIApp, setup: Setup | None = None) -> None:
        self.app = app
        self.setup = setup
        #: What upstream's ``server.on('error')`` would have received.
        self.errors: list[BaseException] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.setup is not None:
            self.setup(scope)
        started = False

        async def send_dated(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = list(message.get("headers", ()))
                if not any(key.lower() == b"date" for key, _ in headers):
                    headers.append((b"date", formatdate(usegmt=True).encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_dated)
        except Exception as exc:
            if started:
                self.errors.append(exc)
                return
            body = str(exc).encode()
            await send_dated(
                {
                    "type": "http.response.start",
                    "status": getattr(exc, "status", 500),
                    "headers": [(b"content-length", str(len(body)).encode())],
                }
            )
            await send({"type": "http.response.body", "body": body})


class Server:
    """One ``createServer(...)``: the ASGI app, its store and its error events."""

    def __init__(self, app: NodeServer, store: RecordingStore) -> None:
        self.app = app
        self.store = store

    @property
    def errors(self) -> list[BaseException]:
        return self.app.errors


def middleware_options(
    options: Mapping[str, Any] | None, omit: Iterable[str] = ()
) -> dict[str, Any]:
    """Upstream's ``createSession`` defaults plus express-session's own, as keywords.

    ``options["cookie"]`` is the cookie options in mongosession's names
    (``max_age`` in seconds, ``http_only``, ...), flattened into the keywords as
    the middleware takes them. A callable ``cookie`` (express-session's cookie
    options computed per request) is passed on as it is: mongosession has no such
    option. ``omit`` names defaults to leave to mongosession (the cases about a
    default value).
    """
    opts = dict(options or {})
    if "cookie" not in opts:
        opts["cookie"] = {"max_age": MIN}
    if "secret" not in opts:
        opts["secret"] = "keyboard cat"
    for key, value in EXPRESS_DEFAULTS.items():
        if key not in opts and key not in omit:
            opts[key] = value
    cookie = opts.pop("cookie")
    if callable(cookie):
        opts["cookie"] = cookie
    else:
        opts.update(cookie or {})
    return opts


class Env:
    """One test's stores and servers, on the test's own database."""

    def __init__(self, test_uri: str) -> None:
        self.test_uri = test_uri
        self.stores: list[RecordingStore] = []

    def store(self, **options: Any) -> RecordingStore:
        """A new store (upstream's ``new session.MemoryStore()``): its own collection."""
        options.setdefault("collection", f"sessions_{len(self.stores)}")
        made = RecordingStore(uri=self.test_uri, **options)
        self.stores.append(made)
        return made

    def server(
        self,
        options: Mapping[str, Any] | None = None,
        respond: Respond | None = None,
        *,
        setup: Setup | None = None,
        mount: str | None = None,
        omit: Iterable[str] = (),
    ) -> Server:
        """Upstream's ``createServer([setup,] options, respond)``.

        ``options["store"]`` is the store to use (a new one otherwise). The
        middleware is constructed now, as upstream's ``createServer`` calls
        ``session(options)`` at once. ``mount`` puts the session middleware and
        the app under a Starlette ``Mount`` at that prefix (upstream's ``mountAt``).
        """
        opts = dict(options or {})
        store = opts.pop("store", None)
        if store is None:
            store = self.store()
        app = _Endpoint(respond or end)
        session_app: ASGIApp = SessionMiddleware(app, store=store, **middleware_options(opts, omit))
        if mount is not None:
            session_app = Starlette(routes=[Mount(mount, app=session_app)])
        return Server(NodeServer(session_app, setup), store)

    def run(self, case: Callable[[], Awaitable[None]]) -> None:
        async def main() -> None:
            try:
                await case()
            finally:
                for store in self.stores:
                    await store.close()

        asyncio.run(main())


def ported(fn: Callable[[Env], Awaitable[None]]) -> Callable[[Env], None]:
    """Run an ``async def test_...(env)`` in its own event loop (no asyncio plugin here)."""

    def test(env: Env) -> None:
        env.run(lambda: fn(env))

    for attribute in ("__name__", "__qualname__", "__doc__", "__module__"):
        setattr(test, attribute, getattr(fn, attribute))
    return test


# -- requests ---------------------------------------------------------------------------


async def request(
    server: Server,
    method: str = "GET",
    path: str = "/",
    *,
    cookie: str | None = None,
    headers: Mapping[str, str] | None = None,
    https: bool = False,
) -> httpx.Response:
    """One supertest request: no cookie jar, the ``Cookie`` header given or none."""
    sent = dict(headers or {})
    if cookie is not None:
        sent["Cookie"] = cookie
    transport = httpx.ASGITransport(app=server.app)
    base_url = "https://127.0.0.1" if https else "http://127.0.0.1"
    async with httpx.AsyncClient(transport=transport, base_url=base_url) as client:
        return await client.request(method, path, headers=sent)


async def sleep_ms(ms: float) -> None:
    await asyncio.sleep(ms / 1000)


def ms_past_next_second(extra: float) -> float:
    """Upstream's ``1000 - (Date.now() % 1000) + extra``."""
    now_ms = datetime.now().timestamp() * 1000
    return 1000 - (now_ms % 1000) + extra


def expect(res: httpx.Response, status: int, body: str | re.Pattern[str] | None = None) -> None:
    """supertest's ``.expect(status[, body])``."""
    assert res.status_code == status, f"expected {status}, got {res.status_code}: {res.text!r}"
    if isinstance(body, re.Pattern):
        assert body.search(res.text), f"expected body matching {body.pattern!r}, got {res.text!r}"
    elif body is not None:
        assert res.text == body, f"expected body {body!r}, got {res.text!r}"


# -- upstream's assertion helpers (test/session.js and test/support/utils.js) ------------------

_PAIR = re.compile(r"\s*([^=;]+)(?:=([^;]*);?|;|$)")


def parse_set_cookie(header: str) -> dict[str, Any]:
    """``utils.parseSetCookie``: name and value, then each attribute lower-cased."""
    pairs = [(m.group(1), m.group(2)) for m in _PAIR.finditer(header)]
    name, value = pairs[0]
    data: dict[str, Any] = {"name": name, "value": value}
    for key, val in pairs[1:]:
        data[key.lower()] = val or True
    return data


def cookie(res: httpx.Response) -> str | None:
    """The first ``Set-Cookie`` header, whole (upstream sends it back as ``Cookie``)."""
    values = res.headers.get_list("set-cookie")
    return values[0] if values else None


def sid(res: httpx.Response) -> str | None:
    header = cookie(res)
    if not header:
        return None
    value = unquote(parse_set_cookie(header)["value"] or "")
    return value[2 : value.find(".")] or None


def expires(res: httpx.Response) -> Any:
    header = cookie(res)
    return header and parse_set_cookie(header).get("expires")


def _cookie_data(res: httpx.Response, name: str) -> dict[str, Any]:
    header = cookie(res)
    assert header, "should have a cookie header"
    data = parse_set_cookie(header)
    assert data["name"] == name, f"should set cookie {name}"
    return data


def should_not_have_header(res: httpx.Response, header: str) -> None:
    assert header.lower() not in res.headers, f"should not have {header} header"


def should_set_cookie(res: httpx.Response, name: str) -> None:
    _cookie_data(res, name)


def should_set_cookie_to_different_session_id(res: httpx.Response, id_: str | None) -> None:
    assert sid(res) != id_


def should_set_cookie_to_expire_in(res: httpx.Response, name: str, delta_ms: int) -> None:
    data = _cookie_data(res, name)
    assert "expires" in data, "should set cookie with attribute Expires"
    assert "date" in res.headers, "should have a date header"
    gap = parsedate_to_datetime(data["expires"]) - parsedate_to_datetime(res.headers["date"])
    assert round(gap.total_seconds() * 1000) == delta_ms, (
        f"should set cookie {name} to expire in {delta_ms} ms"
    )


def should_set_cookie_to_value(res: httpx.Response, name: str, value: str) -> None:
    data = _cookie_data(res, name)
    assert data["value"] == value, f"should set cookie {name} to {value}"


def should_set_cookie_with_attribute(res: httpx.Response, name: str, attrib: str) -> None:
    data = _cookie_data(res, name)
    assert attrib.lower() in data, f"should set cookie with attribute {attrib}"


def should_set_cookie_with_attribute_and_value(
    res: httpx.Response, name: str, attrib: str, value: str
) -> None:
    data = _cookie_data(res, name)
    assert attrib.lower() in data, f"should set cookie with attribute {attrib}"
    assert data[attrib.lower()] == value, (
        f"should set cookie with attribute {attrib} set to {value}"
    )


def should_set_cookie_without_attribute(res: httpx.Response, name: str, attrib: str) -> None:
    data = _cookie_data(res, name)
    assert attrib.lower() not in data, f"should set cookie without attribute {attrib}"


def should_set_session_in_store(store: RecordingStore) -> None:
    """Exactly one write since :meth:`RecordingStore.reset` (upstream counts ``set`` calls)."""
    assert store.sets == 1, "should set session in store"


def should_not_set_session_in_store(store: RecordingStore) -> None:
    assert store.sets == 0, "should not set session in store"


def secure_from_header(scope: Scope) -> None:
    """Upstream's ``req.secure = JSON.parse(req.headers['x-secure'])`` setup.

    ``req.secure`` is Express's "this request came over https"; in ASGI that is
    the scope's scheme (which servers set from TLS or trusted proxy headers).
    """
    for key, value in scope.get("headers", ()):
        if key == b"x-secure":
            scope["scheme"] = "https" if json.loads(value) is True else "http"


async def respond_secure(req: Req) -> None:
    """Upstream's ``res.end(String(req.secure))``."""
    await req.end(js_string(req.secure))
