"""The ASGI middleware in-process: commands per request, and its CPU with the database out.

Requests go straight into ``SessionMiddleware`` (no server, no sockets: an ASGI call
with an in-memory ``receive``/``send``) in front of a bare ASGI app, with a real
:class:`AsyncMongoStore` on the real ``mongod``. No fake database anywhere.

**Commands** are counted with PyMongo command monitoring on the store's client.

**CPU with the database excluded**: one request at a time, so nothing else runs
while a driver call is awaited. The store's collection is wrapped in a pass-through
that adds up the thread CPU time spent inside each driver call (encoding, socket
I/O, the event loop's wake-ups, decoding); that sum is "the database" and is
subtracted from the CPU of the whole request. The bare app's own CPU, measured the
same way without the middleware, is subtracted too. What remains is what the
middleware, the session layer and the store's own logic (cookie signing, the
decision table, codecs, filters) cost per request.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

from pymongo import AsyncMongoClient
from tests._monitoring import CommandLog

from mongosession import AsyncMongoStore
from mongosession.asgi import SessionMiddleware

from ._common import Section, Table, Target

SECRET = "bench secret"
Scope = MutableMapping[str, Any]
ASGIApp = Callable[
    [Scope, Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]], Awaitable[None]
]


async def bare_app(scope: Scope, receive: Any, send: Any) -> None:
    """The app behind the middleware: the smallest handler for each route."""
    session = scope.get("session")
    path = scope["path"]
    body = b"ok"
    if path == "/read" and session is not None:
        body = str(session.get("user", "anonymous")).encode()
    elif path == "/write" and session is not None:
        session["n"] = session.get("n", 0) + 1
    elif path == "/login" and session is not None:
        await session.regenerate()
        session["user"] = "alice"
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"text/plain")],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _receive() -> dict[str, Any]:
    return {"type": "http.request", "body": b"", "more_body": False}


async def call(
    app: ASGIApp, path: str, cookie: str | None, session: Any = None
) -> list[tuple[bytes, bytes]]:
    """One in-memory ASGI request; returns the response headers."""
    headers = [(b"host", b"bench"), (b"user-agent", b"bench")]
    if cookie is not None:
        headers.append((b"cookie", cookie.encode("latin-1")))
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 80),
    }
    if session is not None:
        scope["session"] = session
    sent: list[tuple[bytes, bytes]] = []

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            sent.extend(message.get("headers", ()))

    await app(scope, _receive, send)
    return sent


class TimedCollection:
    """A pass-through to a real collection that adds up the CPU spent inside its calls."""

    def __init__(self, collection: Any) -> None:
        self._collection = collection
        self.cpu = 0.0
        for name in ("find_one", "update_one", "insert_one", "delete_one"):
            setattr(self, name, self._timed(getattr(collection, name)))

    def _timed(self, method: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        async def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.thread_time()
            try:
                return await method(*args, **kwargs)
            finally:
                self.cpu += time.thread_time() - start

        return timed

    def __getattr__(self, name: str) -> Any:
        return getattr(self._collection, name)


@dataclass(frozen=True)
class Scenario:
    """One kind of request."""

    name: str
    path: str
    with_cookie: bool
    touch_after: float


SCENARIOS = (
    Scenario("no cookie, session not used", "/static", False, 0),
    Scenario("cookie, read, inside touch_after", "/read", True, 3600),
    Scenario("cookie, read, touched (touch_after=0)", "/read", True, 0),
    Scenario("cookie, write", "/write", True, 0),
    Scenario("cookie, login (regenerate)", "/login", True, 0),
)


class _Client:
    """The middleware on a real store, driven one request at a time with a cookie jar."""

    def __init__(self, uri: str, scenario: Scenario, listeners: list[Any]) -> None:
        self.scenario = scenario
        self.client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
            uri, event_listeners=listeners
        )
        store = AsyncMongoStore(client=self.client, touch_after=scenario.touch_after)
        self.timed = TimedCollection(store._collection)
        store._collection = self.timed  # type: ignore[assignment]
        self.app = SessionMiddleware(bare_app, store, secret=SECRET, max_age=86400)
        self.cookie: str | None = None

    async def start(self) -> None:
        if self.scenario.with_cookie:
            self._take(await call(self.app, "/login", None))
            assert self.cookie is not None, "login set no cookie"
        for _ in range(20):  # warm up: indexes made, connections open
            await self.one()

    def _take(self, headers: list[tuple[bytes, bytes]]) -> None:
        for name, value in headers:
            if name == b"set-cookie":
                self.cookie = value.decode("latin-1").split(";")[0]

    async def one(self) -> None:
        headers = await call(self.app, self.scenario.path, self.cookie)
        if self.scenario.path == "/login":
            self._take(headers)


async def _scenario(uri: str, scenario: Scenario, requests: int, rounds: int) -> dict[str, float]:
    # Commands are counted on one client (the listener copies every command) and CPU
    # is measured on another with no listener, so counting costs nothing measured.
    log = CommandLog()
    counted, timed = _Client(uri, scenario, [log]), _Client(uri, scenario, [])
    try:
        await counted.start()
        log.clear()
        for _ in range(requests):
            await counted.one()
        await timed.start()
        totals, drivers, bares = [], [], []
        plain = {"user": "alice", "n": 0}
        for _ in range(rounds):
            timed.timed.cpu = 0.0
            start = time.thread_time()
            for _ in range(requests):
                await timed.one()
            totals.append(time.thread_time() - start)
            drivers.append(timed.timed.cpu)
            start = time.thread_time()
            for _ in range(requests):
                await call(bare_app_without_io, scenario.path, timed.cookie, dict(plain))
            bares.append(time.thread_time() - start)
        per = 1e6 / requests
        middleware = [(t - d - b) * per for t, d, b in zip(totals, drivers, bares, strict=True)]
        return {
            "total": statistics.median(totals) * per,
            "driver": statistics.median(drivers) * per,
            "bare": statistics.median(bares) * per,
            "middleware": statistics.median(middleware),
            "commands": len(log) / requests,
            "reads": log.count("find") / requests,
            "writes": log.writes / requests,
        }
    finally:
        await counted.client.close()
        await timed.client.close()


async def bare_app_without_io(scope: Scope, receive: Any, send: Any) -> None:
    """The bare app with a plain dict for a session (no regenerate: nothing to call)."""
    session = scope["session"]
    body = b"ok"
    if scope["path"] == "/read":
        body = str(session.get("user", "anonymous")).encode()
    elif scope["path"] in ("/write", "/login"):
        session["n"] = session.get("n", 0) + 1
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"text/plain")],
        }
    )
    await send({"type": "http.response.body", "body": body})


def run(uri: str, *, requests: int = 300, rounds: int = 7) -> Section:
    """The touch_after check and the middleware's CPU per request, for each scenario."""
    section = Section("ASGI middleware in-process: commands and CPU per request")
    results = {s.name: asyncio.run(_scenario(uri, s, requests, rounds)) for s in SCENARIOS}
    table = Table(
        "Commands (command monitoring) and client CPU per request through SessionMiddleware",
        [
            "request",
            "commands",
            "reads",
            "writes",
            "CPU total µs",
            "in driver µs",
            "bare app µs",
            "middleware µs",
        ],
        note=(
            "middleware µs = CPU of the whole request − CPU inside driver calls − the bare "
            "app's CPU; medians over rounds of one-at-a-time requests (see bench/middleware.py)."
        ),
    )
    for scenario in SCENARIOS:
        r = results[scenario.name]
        table.add(
            scenario.name,
            r["commands"],
            r["reads"],
            r["writes"],
            r["total"],
            r["driver"],
            r["bare"],
            r["middleware"],
        )
    section.tables.append(table)
    quiet = results[SCENARIOS[1].name]
    empty = results[SCENARIOS[0].name]
    section.targets.append(
        Target(
            "unmodified request inside touch_after",
            f"{quiet['reads']:.0f} read, {quiet['writes']:.0f} writes",
            "1 read, 0 writes",
            quiet["reads"] == 1 and quiet["writes"] == 0 and quiet["commands"] == 1,
        )
    )
    section.targets.append(
        Target(
            "no cookie, no change",
            f"{empty['commands']:.0f} commands",
            "0 commands",
            empty["commands"] == 0,
        )
    )
    for scenario in SCENARIOS:
        value = results[scenario.name]["middleware"]
        section.targets.append(
            Target(f"middleware CPU, {scenario.name}", f"{value:.1f} µs", "≤ 20 µs", value <= 20)
        )
    return section
