"""Where the CPU goes: cProfile over real requests, folded into components.

cProfile's own-time of each function is attributed to a component by the file it
lives in (mongosession's modules, PyMongo and BSON, asyncio's event loop). Time in
the standard library and in C builtins (``hmac``, ``datetime``, ``orjson``...) is
folded into whichever component called it, in proportion to the calls. The
profiler's own overhead inflates small functions, so read the shares, not the µs.
"""

from __future__ import annotations

import asyncio
import cProfile
import pstats
import time
from collections import Counter
from typing import Any

from pymongo import AsyncMongoClient

from mongosession import AsyncMongoStore
from mongosession.asgi import SessionMiddleware

from ._common import Section, Table
from .middleware import SECRET, bare_app, call

Func = tuple[str, int, str]

_GROUPS = (
    ("/mongosession/asgi.py", "mongosession: ASGI middleware"),
    ("/mongosession/web/asynchronous/", "mongosession: exchange (request I/O)"),
    ("/mongosession/web/rules.py", "mongosession: session layer (decision table)"),
    ("/mongosession/web/session.py", "mongosession: session layer (decision table)"),
    ("/mongosession/web/cookies.py", "mongosession: cookie parsing and signing"),
    ("/mongosession/web/config.py", "mongosession: cookie parsing and signing"),
    ("/mongosession/store/asynchronous/", "mongosession: store"),
    ("/mongosession/store/", "mongosession: store rules (filters, updates)"),
    ("/mongosession/codecs/", "mongosession: codec"),
    ("/mongosession/", "mongosession: clock, ids, other"),
    ("/pymongo/", "PyMongo + BSON (the driver)"),
    ("/bson/", "PyMongo + BSON (the driver)"),
    ("/asyncio/", "asyncio event loop"),
    ("/selectors.py", "asyncio event loop"),
    ("/bench/", "benchmark harness (the ASGI call itself)"),
)


def _group(func: Func) -> str | None:
    path = func[0].replace("\\", "/")
    for fragment, name in _GROUPS:
        if fragment in path:
            return name
    return None


def fold(stats: pstats.Stats) -> tuple[Counter[str], Counter[str]]:
    """(own time per component, own time per mongosession function), callees folded in."""
    table: dict[Func, Any] = stats.stats  # type: ignore[attr-defined]
    memo: dict[Func, dict[str, float]] = {}

    def owners(func: Func, depth: int = 0) -> dict[str, float]:
        # Where time spent in ``func`` belongs: its own component, or its callers'.
        if func in memo:
            return memo[func]
        group = _group(func)
        share: dict[str, float] = {}
        if group is not None:
            share[f"{group}|{func[2]}"] = 1.0
        else:
            callers = table[func][4] if func in table else {}
            weights = {caller: c[2] or c[1] for caller, c in callers.items()}
            total = sum(weights.values())
            if depth > 30 or not total:
                share["other|" + func[2]] = 1.0
            else:
                for caller, weight in weights.items():
                    for key, part in owners(caller, depth + 1).items():
                        share[key] = share.get(key, 0.0) + part * weight / total
        memo[func] = share
        return share

    components: Counter[str] = Counter()
    functions: Counter[str] = Counter()
    for func, (_cc, _nc, own, _cum, _callers) in table.items():
        for key, part in owners(func).items():
            component, _, name = key.partition("|")
            components[component] += own * part
            if component.startswith("mongosession"):
                functions[f"{name} ({component.split(': ')[1]})"] += own * part
    return components, functions


async def _profile_requests(uri: str, requests: int) -> tuple[pstats.Stats, float]:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(uri)
    store = AsyncMongoStore(client=client, touch_after=0)  # a touch on every request
    app = SessionMiddleware(bare_app, store, secret=SECRET, max_age=86400)
    try:
        cookie = None
        for name, value in await call(app, "/login", None):
            if name == b"set-cookie":
                cookie = value.decode("latin-1").split(";")[0]
        for _ in range(50):
            await call(app, "/read", cookie)
        start = time.thread_time()
        for _ in range(requests):
            await call(app, "/read", cookie)
        cpu = (time.thread_time() - start) / requests
        profiler = cProfile.Profile(time.thread_time)
        profiler.enable()
        for _ in range(requests):
            await call(app, "/read", cookie)
        profiler.disable()
        return pstats.Stats(profiler), cpu
    finally:
        await client.close()


def run(uri: str, *, requests: int = 1000) -> Section:
    """Profile a read request with touch (1 read, 1 write) through the middleware."""
    section = Section("Profile: where a request's CPU goes")
    stats, cpu = asyncio.run(_profile_requests(uri, requests))
    components, functions = fold(stats)
    total = sum(components.values())
    table = Table(
        "CPU of a read request with touch (GET, 1 find + 1 update) through SessionMiddleware, by component",
        ["component", "share of CPU", "≈ µs per request"],
        note=(
            f"cProfile over {requests:,} in-process requests on the real mongod; standard "
            "library and C calls folded into their caller's component. ≈ µs scales the share "
            f"by the request's unprofiled CPU ({cpu * 1e6:.0f} µs)."
        ),
    )
    for component, own in components.most_common():
        table.add(component, f"{own / total * 100:.1f}%", own / total * cpu * 1e6)
    section.tables.append(table)
    top = Table(
        "mongosession's own functions with the most CPU in that request (callees outside the driver folded in)",
        ["function", "share of CPU", "≈ µs per request"],
    )
    for name, own in functions.most_common(12):
        top.add(name, f"{own / total * 100:.1f}%", own / total * cpu * 1e6)
    section.tables.append(top)
    return section
