"""Drive an ASGI app in-process: no HTTP, no test client, raw header bytes allowed.

:func:`call` sends one request straight into the application (``app(scope,
receive, send)``), which makes thousands of requests cheap and lets a test send
header bytes that no HTTP client would (CR/LF, NUL). :class:`Browser` keeps one
session cookie across requests, as a browser does.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from mongosession import AsyncMongoStore
from mongosession.asgi import get_session
from mongosession.web.cookies import decode_component, encode_component, sign, unsign
from tests.support.apps import starlette_app

SECRET = "reliability secret"
COOKIE = "connect.sid"
EPOCH_EXPIRES = "Expires=Thu, 01 Jan 1970 00:00:00 GMT"


@dataclass
class Reply:
    """One response: status, headers (lower-case names), body."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        """The first header called ``name``, or None."""
        for key, value in self.headers:
            if key == name:
                return value
        return None

    @property
    def text(self) -> str:
        return self.body.decode()

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def set_cookie(self) -> str | None:
        return self.header("set-cookie")

    @property
    def cookie_value(self) -> str | None:
        """The session cookie's value set by this response ("" when it clears it)."""
        header = self.set_cookie
        if header is None or not header.startswith(f"{COOKIE}="):
            return None
        return header.split(";", 1)[0][len(COOKIE) + 1 :]

    @property
    def clears_cookie(self) -> bool:
        return self.set_cookie is not None and EPOCH_EXPIRES in self.set_cookie


async def call(
    app: Any,
    method: str = "GET",
    target: str = "/",
    *,
    headers: Sequence[tuple[bytes, bytes]] = (),
    body: bytes = b"",
    scheme: str = "http",
) -> Reply:
    """Send one HTTP request into ``app`` and collect the response."""
    url = urlsplit(target)
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": scheme,
        "path": url.path,
        "raw_path": url.path.encode(),
        "query_string": url.query.encode(),
        "root_path": "",
        "headers": [(b"host", b"testserver"), *headers],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
        "state": {},
    }
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.Event().wait()  # a client that never disconnects
        raise AssertionError("unreachable")

    status = 0
    out_headers: list[tuple[str, str]] = []
    chunks: list[bytes] = []

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
            out_headers.extend(
                (k.decode("latin-1").lower(), v.decode("latin-1"))
                for k, v in message.get("headers", ())
            )
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    return Reply(status, out_headers, b"".join(chunks))


def signed_cookie(sid: str, secret: str = SECRET) -> str:
    """The cookie value express-session would set for ``sid``."""
    return encode_component(sign(sid, secret))


def sid_of(cookie_value: str, secret: str = SECRET) -> str:
    """The session id a cookie value carries (it must verify)."""
    sid = unsign(decode_component(cookie_value), [secret])
    assert sid is not None, cookie_value
    return sid


class Browser:
    """One user agent: keeps the session cookie the app sets, sends it back."""

    def __init__(self, app: Any, cookie: str | None = None) -> None:
        self.app = app
        self.cookie = cookie

    @property
    def sid(self) -> str:
        assert self.cookie, "no session cookie"
        return sid_of(self.cookie)

    async def request(self, method: str, target: str, **kwargs: Any) -> Reply:
        headers = list(kwargs.pop("headers", ()))
        if self.cookie:
            headers.append((b"cookie", f"{COOKIE}={self.cookie}".encode()))
        reply = await call(self.app, method, target, headers=headers, **kwargs)
        value = reply.cookie_value
        if value is not None:
            self.cookie = None if reply.clears_cookie else value
        return reply

    async def get(self, target: str, **kwargs: Any) -> Reply:
        return await self.request("GET", target, **kwargs)

    async def post(self, target: str, **kwargs: Any) -> Reply:
        return await self.request("POST", target, **kwargs)

    async def login(self, user: str) -> Reply:
        reply = await self.post(f"/login?user={user}")
        assert reply.status == 200, (reply.status, reply.text)
        return reply


# -- the application -----------------------------------------------------------------


class Gate:
    """Holds requests inside their handlers until the test lets them go."""

    def __init__(self) -> None:
        self.entered = asyncio.Event()
        self.release = asyncio.Event()
        self.arrivals = 0

    async def hold(self) -> None:
        self.arrivals += 1
        self.entered.set()
        await self.release.wait()

    async def wait_for(self, arrivals: int) -> None:
        """Wait until ``arrivals`` requests are held."""
        while self.arrivals < arrivals:
            self.entered.clear()
            await self.entered.wait()


async def slow(request: Request) -> Response:
    """Read the session, wait at the gate, then change it (a slow request)."""
    session = get_session(request)
    user = session.get("user", "anonymous")
    await request.app.state.gate.hold()
    session["late"] = True
    return PlainTextResponse(user)


async def slow_login(request: Request) -> Response:
    """Load the session, wait at the gate, then log in (``regenerate``)."""
    session = get_session(request)
    session.get("user")
    await request.app.state.gate.hold()
    await session.regenerate()
    session["user"] = request.query_params["user"]
    return PlainTextResponse("welcome")


async def set_key(request: Request) -> Response:
    """``/set?key=k&value=v``: one key, one value."""
    get_session(request)[request.query_params["key"]] = request.query_params.get("value", "1")
    return PlainTextResponse("set")


async def login_fresh(request: Request) -> Response:
    """Log in with express-session's ``regenerate``: the data is dropped."""
    session = get_session(request)
    await session.regenerate(keep_data=False)
    session["user"] = request.query_params["user"]
    return PlainTextResponse("welcome")


async def form_login(request: Request) -> Response:
    """Accept a form: the id must never be read from a request body."""
    await request.body()
    return PlainTextResponse(get_session(request).get("user", "anonymous"))


def reliability_app(store: AsyncMongoStore, **options: Any) -> Any:
    """tests/support/apps.py's routes plus the ones above, behind SessionMiddleware."""
    options.setdefault("secret", SECRET)
    app = starlette_app(store, **options)
    app.state.gate = Gate()
    app.state.store = store
    app.router.add_route("/slow", slow)
    app.router.add_route("/slow-login", slow_login, methods=["POST"])
    app.router.add_route("/set", set_key)
    app.router.add_route("/login-fresh", login_fresh, methods=["POST"])
    app.router.add_route("/form", form_login, methods=["POST"])
    return app
