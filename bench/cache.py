"""The near cache: reads against its peers, revoke-to-refusal across processes, stream faults.

Three parts, on a replica set (the cache follows a change stream):

- **reads**: the HTTP section's ``read`` workload (``bench/web.py``: wrk, one worker
  each) on the floor, mongosession ASGI with and without the near cache, Express,
  and Django with mongosession, with mongosession + near cache, and with Django's
  own ``cached_db``;
- **revoke to refusal**: a uvicorn worker with the near cache serves ``GET /read``
  for ``revokes`` sessions it has cached; this process (another client, as another
  process or machine would be) destroys each in turn and polls the worker until it
  answers "anonymous": the delay from the destroy's acknowledgement to the first
  refused request, p50/p99/max;
- **stream faults**: the same, while the worker's change stream is stalled (each
  ``getMore`` held by a ``failCommand`` fail point) and after its connection is
  closed; the refusal then waits for the cache to stop serving, which it must do
  within ``max_staleness``. Needs the server's test commands (the bench's own
  ``mongod`` has them); left out otherwise.
"""

from __future__ import annotations

import contextlib
import http.client
import time
import urllib.parse
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from pymongo import MongoClient
from pymongo.errors import OperationFailure

from mongosession import MongoStore
from mongosession.testing.localdb import with_db

from . import web
from ._common import Section, Table, Target, percentile

#: The stacks of the read comparison, when installed.
READ_STACKS = (
    "floor",
    "asgi",
    "asgi-cache",
    "express",
    "django-mongosession",
    "django-cache",
    "django-cached-db",
)
#: The goal for revoke-to-refusal p99 across processes, in milliseconds.
P99_GOAL_MS = 100.0


def run(
    uri: str,
    *,
    mongod_pid: int | None,
    connections: Sequence[int],
    warmup: float,
    duration: float,
    rounds: int,
    background: int,
    revokes: int,
    faulted: int,
    tool: str = "auto",
    threads: int = 2,
    stacks: Sequence[str] | None = None,
) -> Section:
    """Every part; ``uri`` has no database. Needs a replica set."""
    section = Section("Near cache: reads, revoke to refusal across processes, stream faults")
    client: MongoClient[dict[str, Any]]
    with MongoClient(uri) as client:
        hello = client.admin.command("hello")
    if "setName" not in hello and hello.get("msg") != "isdbgrid":
        section.notes.append(
            "Left out: the server is not a replica set (the near cache needs change streams)."
        )
        return section
    reads = web.run(
        uri,
        mongod_pid=mongod_pid,
        workloads=("read",),
        connections=connections,
        warmup=warmup,
        duration=duration,
        rounds=rounds,
        background=background,
        only=tuple(stacks or READ_STACKS),
        tool=tool,
        threads=threads,
    )
    section.tables.extend(reads.tables)
    section.notes.extend(reads.notes)
    # Only the near cache's: the plain stacks' ratios are the HTTP section's targets.
    section.targets.extend(t for t in reads.targets if "near cache" in t.name)
    delays = Table(
        f"Revoke to refusal across processes (near cache, max_staleness {web.NEAR_CACHE} s)",
        ["stream", "revokes", "p50 ms", "p99 ms", "max ms", "cached reads: finds per read"],
        note=(
            "A uvicorn worker with the near cache serves GET /read for sessions it has "
            "cached; this process destroys each on its own client and polls the worker "
            "until the response is anonymous. Delay: from the destroy's acknowledgement "
            "to the first refused response (polling adds about one request's time)."
        ),
    )
    section.tables.append(delays)
    with _worker(uri, cookies=revokes + 2 * faulted) as (stack, db_uri):
        cookies = list(stack.cookies)
        healthy, finds = _revoke(stack, db_uri, cookies[:revokes])
        delays.add("healthy", len(healthy), *_spread(healthy), finds)
        p99 = percentile(healthy, 0.99)
        section.targets.append(
            Target(
                "revoke to refusal across processes, p99",
                f"{p99:.1f} ms",
                f"< {P99_GOAL_MS:.0f} ms",
                p99 < P99_GOAL_MS,
            )
        )
        for name, fault in (
            ("stalled (each getMore held 2 s)", {"blockConnection": True, "blockTimeMS": 2000}),
            ("connection closed (each getMore)", {"closeConnection": True}),
        ):
            batch = cookies[revokes : revokes + faulted]
            cookies = cookies[:revokes] + cookies[revokes + faulted :]
            try:
                with _fail_point(uri, fault):
                    measured, finds = _revoke(stack, db_uri, batch)
            except OperationFailure as exc:
                section.notes.append(f"Left out, stream {name}: no fail points here ({exc}).")
                continue
            delays.add(name, len(measured), *_spread(measured), finds)
            worst = max(measured, default=float("nan"))
            section.targets.append(
                Target(
                    f"stream {name}: revoke refused within max_staleness",
                    f"{worst:.0f} ms",
                    f"≤ {web.NEAR_CACHE * 1000:.0f} ms + one request",
                    worst <= web.NEAR_CACHE * 1000 + 50,
                )
            )
    return section


def _spread(values: list[float]) -> tuple[float, float, float]:
    return percentile(values, 0.5), percentile(values, 0.99), max(values, default=float("nan"))


@contextlib.contextmanager
def _worker(uri: str, cookies: int) -> Iterator[tuple[web.Stack, str]]:
    """The near-cache ASGI stack, started and logged in ``cookies`` times; its database URI."""
    found, _ = web.stacks()
    chosen = [stack for stack in found if stack.key == "asgi-cache"]
    if not chosen:
        raise RuntimeError("the near-cache ASGI stack needs the bench extra (uvicorn)")
    stack = chosen[0]
    client: MongoClient[dict[str, Any]]
    with MongoClient(uri) as client:
        web.populate(client, stack, 1000)
        try:
            with web.running([stack], uri, background=0, cookies=cookies):
                yield stack, with_db(uri, stack.db)
        finally:
            client.drop_database(stack.db)


@contextlib.contextmanager
def _fail_point(uri: str, data: dict[str, Any]) -> Iterator[None]:
    """``failCommand`` on the worker's ``getMore`` (its client's appName) while inside."""
    client: MongoClient[dict[str, Any]]
    with MongoClient(uri) as client:
        fail = {"failCommands": ["getMore"], "appName": "mongosession", **data}
        client.admin.command("configureFailPoint", "failCommand", mode="alwaysOn", data=fail)
        try:
            yield
        finally:
            client.admin.command("configureFailPoint", "failCommand", mode="off")


def _revoke(stack: web.Stack, db_uri: str, cookies: list[str]) -> tuple[list[float], float]:
    """Revoke each session of ``cookies`` and time its refusal (ms); finds per cached read."""
    conn = http.client.HTTPConnection("127.0.0.1", stack.port, timeout=30)
    delays: list[float] = []
    revoker_client: MongoClient[dict[str, Any]] = MongoClient(db_uri, appname="bench-revoker")
    with MongoStore(client=revoker_client) as revoker, revoker_client as probe:
        namespace = f"{probe.get_default_database().name}.sessions"

        def finds() -> int:  # on the stack's collection only, as web.Runner counts
            return web.collection_ops(probe, namespace)["query"]

        def read(cookie: str) -> str:
            conn.request("GET", "/read", headers={"Cookie": cookie})
            return conn.getresponse().read().decode()

        for cookie in cookies:  # fill the worker's cache
            read(cookie)
        before = finds()
        for cookie in cookies:
            read(cookie)
        per_read = (finds() - before) / len(cookies) if cookies else float("nan")
        for cookie in cookies:
            if read(cookie) == "anonymous":
                raise RuntimeError("a session was gone before its revoke")
            revoker.destroy(_sid(cookie))
            delays.append(_refused(lambda c=cookie: read(c)))  # type: ignore[misc]
    conn.close()
    return delays, per_read


def _refused(read: Callable[[], str], limit: float = 10.0) -> float:
    acknowledged = time.perf_counter()
    while read() != "anonymous":
        if time.perf_counter() - acknowledged > limit:
            raise RuntimeError(f"a revoked session was still served after {limit} s")
    return (time.perf_counter() - acknowledged) * 1000


def _sid(cookie: str) -> str:
    """The session id of a ``name=s%3Asid.signature`` cookie."""
    value = urllib.parse.unquote(cookie.split("=", 1)[1])
    return value.removeprefix("s:").rsplit(".", 1)[0]
