"""Store level: ``get`` / ``set`` / ``touch`` against the raw PyMongo call.

Each store operation is paired with what an application would write with the bare
driver, through the *same* client (same pool, same options), on a document of the
same size in the same collection:

- ``get``: ``find_one({"_id": sid})``;
- ``set``: ``update_one({"_id": sid}, {"$set": {"session": data, "expires": ...}},
  upsert=True)``, the session dict stored as a sub-document by the driver;
- ``touch``: ``update_one({"_id": sid}, {"$set": {"expires": ...}})``.

A third baseline, "raw + timeout", is the raw call inside ``pymongo.timeout(5)``:
the store bounds every operation that way (fail closed in bounded time, and PyMongo
keeps retrying a retryable operation within that budget), and on Python 3.11 that
alone costs the async driver measurably more CPU.

All variants of one (mode, size, operation) run in rotating order, round after
round; a ratio is the median of the per-round ratios, so drift on a noisy machine
weighs on both sides alike. Server CPU per operation comes from ``/proc`` for the
``mongod`` this run started (not available with ``MONGODB_URI``).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pymongo
from pymongo import MongoClient

from mongosession import AsyncMongoStore, MongoStore

from ._common import Batch, Rounds, Section, Table, Target, interleave, run_batch, run_batch_async

SIZES = {"1 KB": 1024, "16 KB": 16 * 1024}
#: (codec, encrypted) configurations, the default first.
CONFIGS = (("json", False), ("json", True), ("bson", False), ("bson", True))
OPS = ("get", "set", "touch")
TTL = 14 * 24 * 3600
TIMEOUT = 5.0  # the store's default
ENCRYPTION_KEY = bytes(range(32))
COLLECTION = "bench_store"

#: The issue's targets, for the default configuration (json codec, no encryption).
TARGETS = {
    ("get", "1 KB"): 1.10,
    ("get", "16 KB"): 1.35,
    ("set", "1 KB"): 1.10,
    ("set", "16 KB"): 1.10,
}


def make_session(size: int) -> dict[str, Any]:
    """A shop-like session whose JSON form is about ``size`` bytes."""
    expires = datetime.now(timezone.utc) + timedelta(days=1)
    session: dict[str, Any] = {
        "cookie": {
            "originalMaxAge": 86_400_000,
            "expires": expires.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "httpOnly": True,
            "path": "/",
            "sameSite": "lax",
        },
        "user": "user-1234",
        "roles": ["customer"],
        "csrf": "c2VjcmV0LWNzcmYtdG9rZW4tZm9yLWJlbmNo",
        "cart": [],
    }
    for i in itertools.count():
        if len(json.dumps(session, separators=(",", ":"))) >= size - 80:
            break
        session["cart"].append(
            {"sku": f"SKU-{i:05d}", "qty": i % 5 + 1, "price": 9.99 + i, "title": f"Item {i}"}
        )
    return session


def _expiry() -> datetime:
    return datetime.now(timezone.utc) + timedelta(seconds=TTL)


def _raw_calls(raw: Any, sid: str, session: dict[str, Any]) -> dict[str, Callable[[], Any]]:
    return {
        "get": lambda: raw.find_one({"_id": sid}),
        "set": lambda: raw.update_one(
            {"_id": sid}, {"$set": {"session": session, "expires": _expiry()}}, upsert=True
        ),
        "touch": lambda: raw.update_one({"_id": sid}, {"$set": {"expires": _expiry()}}),
    }


def _moved(session: dict[str, Any]) -> dict[str, Any]:
    """``session`` with its cookie's expiry moved to now + a day, as a request moves it.

    The raw calls write a new ``expires`` each time; so must the store's, or its
    writes would change nothing (no oplog entry, no journal wait on a replica set).
    """
    expires = datetime.now(timezone.utc) + timedelta(days=1)
    session["cookie"]["expires"] = expires.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return session


def _store_calls(store: Any, sid: str, session: dict[str, Any]) -> dict[str, Callable[[], Any]]:
    return {
        "get": lambda: store.get(sid),
        "set": lambda: store.set(sid, _moved(session)),
        "touch": lambda: store.touch(sid, _moved(session)),
    }


def _timed_out(call: Callable[[], Any], mode: str) -> Callable[[], Any]:
    """``call`` inside ``pymongo.timeout(TIMEOUT)``, as the store runs its own."""
    if mode == "sync":

        def bounded() -> Any:
            with pymongo.timeout(TIMEOUT):
                return call()

        return bounded

    async def bounded_async() -> Any:
        with pymongo.timeout(TIMEOUT):
            return await call()

    return bounded_async


class _Harness:
    """The stores of one mode (one per configuration), a raw collection and a batch runner."""

    def __init__(self, mode: str, uri: str, server_pid: int | None) -> None:
        self.mode = mode
        self.server_pid = server_pid
        cls: Any = MongoStore if mode == "sync" else AsyncMongoStore
        self.loop = None if mode == "sync" else asyncio.new_event_loop()
        self.stores = {
            config: cls(
                uri=uri,
                collection=COLLECTION,
                codec=config[0],
                encryption_keys=[ENCRYPTION_KEY] if config[1] else None,
                touch_after=0,  # every touch writes, and writes what the raw calls write
            )
            for config in CONFIGS
        }
        # The raw calls go through the default store's own client.
        self.raw = self.stores[CONFIGS[0]].client.get_default_database()[COLLECTION]

    def wait(self, value: Any) -> Any:
        return value if self.loop is None else self.loop.run_until_complete(value)

    def batch(self, fn: Callable[[], Any], ops: int) -> Batch:
        if self.loop is None:
            return run_batch(fn, ops, self.server_pid)
        return self.loop.run_until_complete(run_batch_async(fn, ops, self.server_pid))

    def close(self) -> None:
        for store in self.stores.values():
            self.wait(store.close())
        if self.loop is not None:
            self.loop.close()


@contextlib.contextmanager
def _harness(mode: str, uri: str, server_pid: int | None) -> Iterator[_Harness]:
    harness = _Harness(mode, uri, server_pid)
    try:
        yield harness
    finally:
        harness.close()


def _batch(harness: _Harness, fn: Callable[[], Any], ops: int) -> Callable[[], Batch]:
    return lambda: harness.batch(fn, ops)


def _label(codec: str, encrypted: bool) -> str:
    return codec + (" + encryption" if encrypted else "")


def run(
    uri: str,
    *,
    server_pid: int | None = None,
    ops: int = 40,
    rounds: int = 30,
    modes: tuple[str, ...] = ("sync", "async"),
) -> Section:
    """Every store operation, size, codec, encryption setting and mode against raw PyMongo."""
    section = Section("Store level: mongosession against the raw driver")
    main = Table(
        "Store operations against the equivalent raw PyMongo call (same client, same process)",
        [
            "mode",
            "op",
            "size",
            "codec",
            "raw µs",
            "store µs",
            "ratio",
            "raw CPU µs",
            "store CPU µs",
        ],
        note=(
            "µs: median per operation over interleaved rounds (wall time, loopback mongod). "
            "ratio: median of the paired per-round ratios store / raw. CPU: this client "
            "process's CPU per operation."
        ),
    )
    where = Table(
        "Where the default store's extra time goes (json codec, no encryption)",
        [
            "mode",
            "op",
            "size",
            "÷ raw",
            "÷ raw + timeout",
            "timeout CPU µs",
            "store's own CPU µs",
            "raw mongod µs",
            "store mongod µs",
        ],
        note=(
            "÷ raw + timeout: against the raw call inside pymongo.timeout(5), as the store "
            "bounds every operation. timeout CPU = client CPU of raw + timeout − raw; "
            "store's own CPU = store − (raw + timeout), both medians of per-round "
            "differences. mongod µs: server CPU per "
            "operation (/proc), where a filter on more than _id leaves the server's "
            "fast path for _id lookups."
        ),
    )
    sessions = {label: make_session(size) for label, size in SIZES.items()}
    found: dict[tuple[str, str, str], Rounds] = {}
    for mode in modes:
        with _harness(mode, uri, server_pid) as harness:
            for label, session in sessions.items():
                tag = f"{mode}-{label.replace(' ', '')}"
                raw_sid = f"raw-{tag}"
                harness.wait(_raw_calls(harness.raw, raw_sid, session)["set"]())
                raw_calls = _raw_calls(harness.raw, raw_sid, session)
                store_calls: dict[str, dict[str, Callable[[], Any]]] = {}
                for config, store in harness.stores.items():
                    sid = f"store-{tag}-{config[0]}-{int(config[1])}"
                    harness.wait(store.set(sid, session))
                    store_calls[_label(*config)] = _store_calls(store, sid, session)
                for op in OPS:
                    calls = {
                        "raw": raw_calls[op],
                        "raw + timeout": _timed_out(raw_calls[op], mode),
                        **{name: c[op] for name, c in store_calls.items()},
                    }
                    batches = {name: _batch(harness, fn, ops) for name, fn in calls.items()}
                    result = interleave(
                        batches,
                        ops=ops,
                        rounds=rounds,
                    )
                    found[mode, op, label] = result
                    for config in CONFIGS:
                        name = _label(*config)
                        main.add(
                            mode,
                            op,
                            label,
                            name,
                            result.wall_us("raw"),
                            result.wall_us(name),
                            f"{result.ratio(name, 'raw'):.2f}×",
                            result.cpu_us("raw"),
                            result.cpu_us(name),
                        )
                    default = _label(*CONFIGS[0])
                    where.add(
                        mode,
                        op,
                        label,
                        f"{result.ratio(default, 'raw'):.2f}×",
                        f"{result.ratio(default, 'raw + timeout'):.2f}×",
                        result.cpu_delta_us("raw + timeout", "raw"),
                        result.cpu_delta_us(default, "raw + timeout"),
                        result.server_us("raw") if server_pid else float("nan"),
                        result.server_us(default) if server_pid else float("nan"),
                    )
    section.tables += [main, where]
    for mode in modes:
        for (op, label), goal in TARGETS.items():
            ratio = found[mode, op, label].ratio(_label(*CONFIGS[0]), "raw")
            section.targets.append(
                Target(
                    f"{mode} store {op}, {label}",
                    f"{ratio:.2f}× raw",
                    f"≤ {goal:.2f}×",
                    ratio <= goal,
                )
            )
    client: MongoClient[dict[str, Any]]
    with MongoClient(uri) as client:
        client.get_default_database().drop_collection(COLLECTION)
    return section
