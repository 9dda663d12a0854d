"""The ASGI middleware in-process: commands per request, and its CPU with the database out.

Requests go straight into ``SessionMiddleware`` (no server, no sockets: an ASGI call
with an in-memory ``receive``/``send``) in front of a bare ASGI app.

**Commands** are counted with PyMongo command monitoring on the store's client, on
the real ``mongod``.

**The middleware's CPU** (the figure the targets use) is measured with the store's
collection answered in memory (:class:`MemoryCollection`): the same store code, the
same documents and filters, but every driver call returns at once, without a
round trip (and the CPU of those in-memory answers is timed and left out). What
it costs per request, minus the bare app's own CPU, is what the
middleware, the session layer and the store's own logic (cookie signing, the
decision table, codecs, filters, the timeout context) cost.

**With the real database**, the CPU of the whole request and the CPU spent inside
the driver calls are shown too (the store's collection wrapped in a pass-through
that times every call made to it), and their difference: "outside the driver".
That difference is *not* the middleware's cost and is not used for the targets:
the code that runs after each round trip finds its caches cold (the driver, the
event loop's wake-up and whatever else ran on the core meanwhile evicted them), so
it takes about twice its own CPU, by an amount that depends on how busy the
machine is (see docs/benchmarks.md, "Middleware CPU: the accounting").
"""

from __future__ import annotations

import asyncio
import inspect
import statistics
import time
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any

from pymongo import AsyncMongoClient
from pymongo.errors import DuplicateKeyError
from pymongo.results import DeleteResult, InsertOneResult, UpdateResult
from tests.support.monitoring import CommandLog

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
    """A pass-through to a real collection that adds up the CPU spent inside every call to it.

    Every callable attribute is wrapped (``find_one``, ``update_one``, but also
    ``find_one_and_delete``, ``count_documents``...), so that no driver call the
    store makes escapes the sum; the wrapper is cached on first use, so that the
    lookup itself costs the store nothing more than a plain attribute.
    """

    def __init__(self, collection: Any) -> None:
        self._collection = collection
        self.cpu = 0.0
        self.calls = 0

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._collection, name)
        if not callable(attribute):
            return attribute
        wrapped = self._timed(attribute)
        setattr(self, name, wrapped)
        return wrapped

    def _timed(self, method: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            start = time.thread_time()
            try:
                result = method(*args, **kwargs)
            finally:
                self.cpu += time.thread_time() - start
            return self._awaited(result) if inspect.isawaitable(result) else result

        return timed

    async def _awaited(self, awaitable: Awaitable[Any]) -> Any:
        start = time.thread_time()
        try:
            return await awaitable
        finally:
            self.cpu += time.thread_time() - start


class MemoryCollection:
    """The calls the store makes during these requests, answered in memory at once.

    Documents are kept by ``_id`` as the store wrote them. A filter matches on
    ``_id`` and on its plain equality conditions (the revision a save expects);
    its operator conditions (the liveness rules) are taken as met, as every
    session here is live. Updates apply ``$set``, ``$unset`` and, on insert,
    ``$setOnInsert``. Any other call or operator raises, so the measurement can
    never run on a silent stand-in.
    """

    def __init__(self) -> None:
        self.docs: dict[Any, dict[str, Any]] = {}

    def _match(self, query: Mapping[str, Any]) -> dict[str, Any] | None:
        key = query.get("_id")
        if not isinstance(key, str):
            raise NotImplementedError(f"MemoryCollection: a filter on _id {key!r}")
        doc = self.docs.get(key)
        if doc is None:
            return None
        for name, condition in query.items():
            if name == "_id" or name.startswith("$"):
                continue
            if isinstance(condition, Mapping) and set(condition) == {"$eq"}:
                condition = condition["$eq"]  # the save's compare-and-swap on the payload
            elif isinstance(condition, Mapping) and any(k.startswith("$") for k in condition):
                continue
            if doc.get(name) != condition:
                return None
        return doc

    @staticmethod
    def _apply(doc: dict[str, Any], update: Any, *, inserting: bool) -> None:
        if not isinstance(update, Mapping):
            raise NotImplementedError("MemoryCollection: a pipeline update")
        for operator, fields in update.items():
            if operator == "$set" or (operator == "$setOnInsert" and inserting):
                doc.update(fields)
            elif operator == "$unset":
                for name in fields:
                    doc.pop(name, None)
            elif operator != "$setOnInsert":
                raise NotImplementedError(f"MemoryCollection: {operator}")

    async def find_one(self, query: Mapping[str, Any], *args: Any, **kwargs: Any) -> Any:
        doc = self._match(query)
        return None if doc is None else dict(doc)

    async def insert_one(self, document: Mapping[str, Any], **kwargs: Any) -> InsertOneResult:
        if document["_id"] in self.docs:
            raise DuplicateKeyError("E11000 duplicate key error", 11000)
        self.docs[document["_id"]] = dict(document)
        return InsertOneResult(document["_id"], True)

    async def update_one(
        self, query: Mapping[str, Any], update: Any, upsert: bool = False, **kwargs: Any
    ) -> UpdateResult:
        doc = self._match(query)
        if doc is not None:
            self._apply(doc, update, inserting=False)
            return UpdateResult({"n": 1, "nModified": 1, "ok": 1.0}, True)
        if not upsert:
            return UpdateResult({"n": 0, "nModified": 0, "ok": 1.0}, True)
        doc = {
            k: v for k, v in query.items() if not k.startswith("$") and not isinstance(v, Mapping)
        }
        self._apply(doc, update, inserting=True)
        self.docs[doc["_id"]] = doc
        return UpdateResult({"n": 1, "nModified": 0, "upserted": doc["_id"], "ok": 1.0}, True)

    async def delete_one(self, query: Mapping[str, Any], **kwargs: Any) -> DeleteResult:
        doc = self._match(query)
        if doc is not None:
            del self.docs[doc["_id"]]
        return DeleteResult({"n": int(doc is not None), "ok": 1.0}, True)

    async def find_one_and_delete(self, query: Mapping[str, Any], **kwargs: Any) -> Any:
        doc = self._match(query)
        if doc is not None:
            del self.docs[doc["_id"]]
        return doc

    async def find_one_and_update(
        self, query: Mapping[str, Any], update: Any, **kwargs: Any
    ) -> Any:
        doc = self._match(query)
        if doc is None:
            return None
        before = dict(doc)
        self._apply(doc, update, inserting=False)
        return before  # ReturnDocument.BEFORE, the only one the store asks for

    def __getattr__(self, name: str) -> Any:
        raise NotImplementedError(f"MemoryCollection.{name}: not answered in memory")


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
    """The middleware on a store, driven one request at a time with a cookie jar.

    ``database``: "real" (the store's collection) or "memory" (a
    :class:`MemoryCollection`; the client is then never used), either way wrapped
    in a :class:`TimedCollection`.
    """

    def __init__(
        self, uri: str, scenario: Scenario, listeners: list[Any], database: str = "real"
    ) -> None:
        self.scenario = scenario
        self.client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
            uri, event_listeners=listeners
        )
        store = AsyncMongoStore(
            client=self.client,
            touch_after=scenario.touch_after,
            create_indexes=database == "real",
        )
        answers = store._collection if database == "real" else MemoryCollection()
        self.timed = TimedCollection(answers)
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


async def _cpu(client: _Client, requests: int) -> float:
    start = time.thread_time()
    for _ in range(requests):
        await client.one()
    return time.thread_time() - start


async def _scenario(uri: str, scenario: Scenario, requests: int, rounds: int) -> dict[str, float]:
    # Commands are counted on one client (the listener copies every command) and CPU
    # is measured on others with no listener, so counting costs nothing measured.
    log = CommandLog()
    counted = _Client(uri, scenario, [log])
    timed = _Client(uri, scenario, [])
    memory = _Client(uri, scenario, [], database="memory")
    try:
        await counted.start()
        log.clear()
        for _ in range(requests):
            await counted.one()
        await timed.start()
        await memory.start()
        totals, drivers, calls, in_memory, bares = [], [], [], [], []
        plain = {"user": "alice", "n": 0}
        for _ in range(rounds):
            timed.timed.cpu, timed.timed.calls = 0.0, 0
            totals.append(await _cpu(timed, requests))
            drivers.append(timed.timed.cpu)
            calls.append(timed.timed.calls)
            memory.timed.cpu = 0.0
            in_memory.append(await _cpu(memory, requests) - memory.timed.cpu)
            start = time.thread_time()
            for _ in range(requests):
                await call(bare_app_without_io, scenario.path, timed.cookie, dict(plain))
            bares.append(time.thread_time() - start)
        per = 1e6 / requests
        outside = [(t - d - b) * per for t, d, b in zip(totals, drivers, bares, strict=True)]
        own = [(m - b) * per for m, b in zip(in_memory, bares, strict=True)]
        return {
            "total": statistics.median(totals) * per,
            "driver": statistics.median(drivers) * per,
            "calls": statistics.median(calls) / requests,
            "bare": statistics.median(bares) * per,
            "outside": statistics.median(outside),
            "middleware": statistics.median(own),
            "commands": len(log) / requests,
            "reads": log.count("find") / requests,
            "writes": log.writes / requests,
        }
    finally:
        await counted.client.close()
        await timed.client.close()
        await memory.client.close()


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
            "outside driver µs",
            "bare app µs",
            "middleware µs",
        ],
        note=(
            "Medians over rounds of one-at-a-time requests (bench/middleware.py). "
            "middleware µs = CPU per request with the store's collection answered in memory "
            "(same store code, no round trip; the in-memory answers' own CPU left out) − the "
            "bare app's CPU: the figure the targets use. "
            "CPU total and in driver: with the real mongod; outside driver = total − in "
            "driver − bare app, which also holds the cold-cache slowdown of the code that "
            "runs after each round trip (machine-dependent: not the middleware's cost)."
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
            r["outside"],
            r["bare"],
            r["middleware"],
        )
        if r["calls"] + 0.01 < r["commands"]:
            section.notes.append(
                f"{scenario.name}: {r['commands']:.2f} commands per request but "
                f"{r['calls']:.2f} timed driver calls: driver work escaped the timing."
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
