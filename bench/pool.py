"""PyMongo's asyncio connection pool under a per-operation timeout: how it grows.

Found while profiling the ASGI middleware at 64 connections (docs/benchmarks.md):
every store operation runs inside ``pymongo.timeout`` (the fail-closed bound), and
under a deadline the asyncio pool's checkout waits on its conditions through
``asyncio.wait_for``. Those waits make the pool grow slowly: with 64 operations in
flight on a fresh client it holds far fewer than 64 connections for thousands of
operations, and each checkout that waits costs a task, a timer and contention on the
pool's lock. Without a deadline, or once the pool is full (``minPoolSize``), it does
not.

Each case here is a fresh ``AsyncMongoClient`` with ``concurrency`` tasks, each
sending ``find_one`` by ``_id`` in turn: plain, inside ``pymongo.timeout``, and
inside ``pymongo.timeout`` on a client with ``minPoolSize`` equal to the
concurrency (filled before the first batch). Reported per batch: client CPU per
operation and the connections its pool holds at the end (created less closed, from
PyMongo's connection pool events).
"""

from __future__ import annotations

import asyncio
import secrets
import time
from typing import Any

import pymongo
from pymongo import AsyncMongoClient, monitoring

from ._common import Section, Table

#: (label, inside pymongo.timeout, minPoolSize = the concurrency)
CASES = (
    ("no timeout", False, False),
    ("pymongo.timeout", True, False),
    ("pymongo.timeout, minPoolSize", True, True),
)
COLLECTION = "pool_growth"


class _PoolSize(monitoring.ConnectionPoolListener):
    """The connections a client's pools hold: created less closed (CMAP events)."""

    def __init__(self, wanted: int) -> None:
        self.open = 0
        self.wanted = wanted
        self.filled = asyncio.Event()  # set once ``wanted`` connections are open
        if wanted <= 0:
            self.filled.set()

    def connection_created(self, event: monitoring.ConnectionCreatedEvent) -> None:
        self.open += 1
        if self.open >= self.wanted:
            self.filled.set()

    def connection_closed(self, event: monitoring.ConnectionClosedEvent) -> None:
        self.open -= 1

    # The other events of the pool, which do not change its size.
    def pool_created(self, event: monitoring.PoolCreatedEvent) -> None: ...
    def pool_ready(self, event: monitoring.PoolReadyEvent) -> None: ...
    def pool_cleared(self, event: monitoring.PoolClearedEvent) -> None: ...
    def pool_closed(self, event: monitoring.PoolClosedEvent) -> None: ...
    def connection_ready(self, event: monitoring.ConnectionReadyEvent) -> None: ...
    def connection_check_out_started(
        self, event: monitoring.ConnectionCheckOutStartedEvent
    ) -> None: ...
    def connection_check_out_failed(
        self, event: monitoring.ConnectionCheckOutFailedEvent
    ) -> None: ...
    def connection_checked_out(self, event: monitoring.ConnectionCheckedOutEvent) -> None: ...
    def connection_checked_in(self, event: monitoring.ConnectionCheckedInEvent) -> None: ...


async def _case(
    uri: str, *, bounded: bool, min_pool: int, concurrency: int, ops: int, batches: int
) -> list[tuple[float, int]]:
    """(client CPU µs per operation, connections held by the client) after each batch."""
    options: dict[str, Any] = {"minPoolSize": min_pool} if min_pool else {}
    size = _PoolSize(min_pool)
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        uri, tz_aware=True, event_listeners=[size], **options
    )
    try:
        collection = client.get_default_database()[COLLECTION]
        ids = [secrets.token_urlsafe(24) for _ in range(concurrency)]
        await collection.insert_many([{"_id": i, "session": "x" * 500} for i in ids])
        await asyncio.wait_for(size.filled.wait(), 10)  # the pool's background task fills it

        async def one(sid: str) -> None:
            for _ in range(max(1, ops // concurrency)):
                if bounded:
                    with pymongo.timeout(5):
                        await collection.find_one({"_id": sid})
                else:
                    await collection.find_one({"_id": sid})

        results = []
        for _ in range(batches):
            started = time.process_time()
            await asyncio.gather(*(one(sid) for sid in ids))
            cpu = (time.process_time() - started) / (max(1, ops // concurrency) * concurrency)
            results.append((cpu * 1e6, size.open))
        await collection.drop()
        return results
    finally:
        await client.close()


def run(uri: str, *, concurrency: int = 64, ops: int = 12_800, batches: int = 4) -> Section:
    """The section: each case's batches side by side."""
    table = Table(
        f"async find_one by _id, {concurrency} in flight, fresh client per case "
        f"({ops:,} operations per batch)",
        ["case", *[f"batch {i + 1}: µs/op, pool" for i in range(batches)]],
        note=(
            "Client CPU per operation (time.process_time) and the connections in the "
            "client's pool after each batch. pymongo.timeout(5) around each operation, "
            "as the store's fail-closed bound does; minPoolSize equal to the concurrency "
            "fills the pool before the first batch."
        ),
    )
    for label, bounded, full in CASES:
        batches_of = asyncio.run(
            _case(
                uri,
                bounded=bounded,
                min_pool=concurrency if full else 0,
                concurrency=concurrency,
                ops=ops,
                batches=batches,
            )
        )
        table.add(label, *[f"{cpu:.0f} µs, {pool}" for cpu, pool in batches_of])
    return Section("PyMongo's asyncio pool under a per-operation timeout", tables=[table])
