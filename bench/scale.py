"""Scale: the store's operations at 10,000 and at 1,000,000 sessions, in one run.

For each size the collection is filled with sessions as the store writes them
(``_id``, a JSON ``session`` of about 400 bytes, ``expires`` spread over the next
days, ``user``: 4 sessions per user, and one heavy user with ``user_sessions``
whose sessions expire first, the case where the planner left to itself read every
live session), inserted in batches of 10,000 through the raw driver, with the
store's indexes. Then, through the sync store:

- ``get`` and ``set`` of random existing sessions (µs per operation, median of rounds);
- ``sessions_of`` and ``destroy_user`` of the heavy user, with the keys the server
  examined (``explain`` of the command the store sent);
- ``length()``, with and without the optional ``deleted_1`` index;
- streaming every session with ``iter_all()`` (time, rate, growth of this process's
  resident memory: constant with size when streaming works) and ``all()`` (the dict);
- ``cleanup()`` of expired sessions (10% of the size) with the TTL monitor paused;
- the command line's ``stats``, ``list`` (first and a deep page of ``--page-size``)
  and ``list --user``, in process;
- the TTL monitor's removal rate of expired sessions, when the server lets this run
  set ``ttlMonitorSleepSecs`` (its own ``mongod``);
- the collection's and each index's size.
"""

from __future__ import annotations

import contextlib
import functools
import io
import json
import random
import secrets
import statistics
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from pymongo import MongoClient, monitoring
from pymongo.collection import Collection
from pymongo.errors import OperationFailure

from mongosession import MongoStore, StoreUnavailable
from mongosession.cli import main as cli_main
from mongosession.store.errors import guarded
from mongosession.store.indexes import USER_INDEX
from mongosession.store.inspection import FLAGGED_INDEX

from ._common import Section, Table, fmt

SIZES = (10_000, 1_000_000)
USER_SESSIONS = 10_000
HEAVY = "heavy-user"
COLLECTION = "bench_scale"
INSERT_BATCH = 10_000
TTL = 14 * 24 * 3600


def _payload() -> str:
    cookie = {
        "originalMaxAge": TTL * 1000,
        "expires": "2030-01-01T00:00:00.000Z",
        "httpOnly": True,
        "path": "/",
        "sameSite": "lax",
    }
    data = {"cookie": cookie, "user": "user-000000", "roles": ["customer"], "cart": []}
    data["csrf"] = "c" * (400 - len(json.dumps(data, separators=(",", ":"))))
    return json.dumps(data, separators=(",", ":"))


PAYLOAD = _payload()


def _doc(sid: str, user: str, expires: datetime) -> dict[str, Any]:
    return {"_id": sid, "session": PAYLOAD, "expires": expires, "user": user}


def populate(collection: Collection[dict[str, Any]], size: int, user_sessions: int) -> list[str]:
    """Fill ``collection`` with ``size`` live sessions; their ids (heavy user's first)."""
    now = datetime.now(timezone.utc)
    heavy = min(user_sessions, size // 2)
    ids = [secrets.token_urlsafe(24) for _ in range(size)]
    batch: list[dict[str, Any]] = []
    for i, sid in enumerate(ids):
        if i < heavy:  # the heavy user's sessions expire first
            doc = _doc(sid, HEAVY, now + timedelta(hours=1, milliseconds=i))
        else:
            expires = now + timedelta(hours=2, seconds=(i * 7919) % (TTL - 7200))
            doc = _doc(sid, f"user-{i % max(1, size // 4):06d}", expires)
        batch.append(doc)
        if len(batch) == INSERT_BATCH:
            collection.insert_many(batch, ordered=False)
            batch = []
    if batch:
        collection.insert_many(batch, ordered=False)
    return ids


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def _median_ms(fn: Callable[[], Any], rounds: int) -> float:
    return statistics.median(_timed(fn)[0] for _ in range(rounds)) * 1000


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _keys_examined(collection: Collection[dict[str, Any]], command: dict[str, Any]) -> int:
    plan = collection.database.command("explain", command, verbosity="executionStats")
    stats = plan.get("executionStats") or plan["stages"][0]["$cursor"]["executionStats"]
    return int(stats["totalKeysExamined"])


def _cli(uri: str, *args: str) -> None:
    """Run one ``mongosession`` command in process (its output discarded)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = cli_main(["--uri", uri, "--collection", COLLECTION, *args])
    if status not in (0, 1):  # 1: found nothing (an empty page)
        raise RuntimeError(f"mongosession {' '.join(args)} failed ({status}): {err.getvalue()}")


def _guarded_count(collection: Collection[dict[str, Any]], query: dict[str, Any]) -> int:
    """``count_documents`` within the store's default timeout, as the store ran it."""
    with guarded(5.0):
        return collection.count_documents(query)


def _set_ttl_monitor(client: MongoClient[dict[str, Any]], **params: Any) -> bool:
    try:
        client.admin.command("setParameter", 1, **params)
    except OperationFailure:
        return False
    return True


class _Measure:
    """Every figure of one size, by row name."""

    def __init__(self) -> None:
        self.values: dict[str, str] = {}
        self.numbers: dict[str, float] = {}

    def put(self, name: str, value: float, unit: str = "") -> None:
        self.numbers[name] = value
        shown = f"{value:,}" if isinstance(value, int) else fmt(float(value))
        self.values[name] = f"{shown} {unit}".strip()

    def ms(self, name: str, fn: Callable[[], Any], rounds: int = 1) -> None:
        """The median time of ``fn`` in ms, or why it failed (past the store's timeout)."""
        try:
            self.put(name, _median_ms(fn, rounds), "ms")
        except (StoreUnavailable, RuntimeError) as exc:
            self.values[name] = f"fails: {type(exc).__name__}"


def _measure_size(
    uri: str,
    size: int,
    user_sessions: int,
    ops: int,
    rounds: int,
    notes: list[str],
    ttl_monitor: bool,
) -> tuple[_Measure, dict[str, Any]]:
    m = _Measure()
    client: MongoClient[dict[str, Any]] = MongoClient(uri, tz_aware=True)
    collection = client.get_default_database()[COLLECTION]
    collection.drop()
    store = MongoStore(uri=uri, collection=COLLECTION, user_key="user", timeout=5.0)
    log = _CommandCapture()
    logged = MongoStore(
        client=MongoClient(uri, tz_aware=True, event_listeners=[log]),
        collection=COLLECTION,
        user_key="user",
    )
    try:
        store.ensure_indexes()
        fill, ids = _timed(lambda: populate(collection, size, user_sessions))
        m.put("insert rate", size / fill, "sessions/s")
        heavy = min(user_sessions, size // 2)
        sample = random.Random(size).sample(ids[heavy:], min(ops, size - heavy))
        gets = [_timed(functools.partial(store.get, sid))[0] for sid in sample]
        m.put("get", statistics.median(gets) * 1e6, "µs")
        session = json.loads(PAYLOAD)
        sets = [_timed(functools.partial(store.set, sid, session))[0] for sid in sample]
        m.put("set", statistics.median(sets) * 1e6, "µs")

        m.put("heavy user's sessions", heavy)
        m.put(
            "sessions_of(heavy user)",
            _median_ms(lambda: store.sessions_of(HEAVY), rounds),
            "ms",
        )
        log.clear()
        logged.sessions_of(HEAVY)
        m.put("sessions_of: keys examined", _keys_examined(collection, log.last("find")))
        saved = list(collection.find({"user": HEAVY}))
        log.clear()
        elapsed, ended = _timed(lambda: logged.destroy_user(HEAVY))
        m.put("destroy_user(heavy user)", elapsed * 1000, "ms")
        collection.insert_many(saved, ordered=False)
        m.put("destroy_user: keys examined", _keys_examined(collection, log.last("delete")))
        if ended != heavy:
            notes.append(f"scale {size:,}: destroy_user ended {ended}, expected {heavy}")

        m.ms(
            "length() as before: one count of the live filter",
            functools.partial(_guarded_count, collection, store.live_filter()),
            rounds,
        )
        m.ms("length()", store.length, rounds)
        store.setup_indexes(flagged_index=True)
        m.ms("length() with deleted_1", store.length, rounds)
        collection.drop_index(FLAGGED_INDEX["name"])

        rss0 = peak = _rss_mb()
        start = time.perf_counter()
        streamed = 0
        for _sid, _session in store.iter_all():
            streamed += 1
            if streamed % 10_000 == 0:
                peak = max(peak, _rss_mb())
        elapsed = time.perf_counter() - start
        m.put("iter_all(): every session", elapsed, "s")
        m.put("iter_all(): rate", streamed / elapsed, "sessions/s")
        m.put("iter_all(): memory growth", max(peak, _rss_mb()) - rss0, "MB")
        rss0 = _rss_mb()
        elapsed, everything = _timed(store.all)
        m.put("all(): dict of every session", elapsed, "s")
        m.put("all(): memory growth", _rss_mb() - rss0, "MB")
        del everything

        deep = sorted(ids)[len(ids) * 9 // 10]
        for name, args in (
            ("CLI stats", ["stats"]),
            ("CLI list (latest 50)", ["list"]),
            ("CLI list --page-size 1000", ["list", "--page-size", "1000"]),
            (
                "CLI list --page-size 1000 --after (90%)",
                ["list", "--page-size", "1000", "--after", deep],
            ),
            ("CLI list --user (heavy user)", ["list", "--user", HEAVY]),
        ):
            m.ms(name, functools.partial(_cli, uri, *args))

        sizes = _sizes(collection)
        expired = max(1, size // 10)
        monitor_paused = _set_ttl_monitor(client, ttlMonitorEnabled=False)
        _insert_expired(collection, expired)
        elapsed, deleted = _timed(store.cleanup)
        m.put("cleanup(): expired sessions", expired)
        m.put("cleanup(): time", elapsed, "s")
        m.put("cleanup(): rate", deleted / elapsed, "sessions/s")
        if monitor_paused and ttl_monitor:
            _insert_expired(collection, expired)
            rate = _ttl_rate(client, collection, expired)
            m.put("TTL monitor: rate", rate, "sessions/s")
        else:
            notes.append(f"scale {size:,}: TTL monitor not measured (not asked, or refused)")
        return m, sizes
    finally:
        _set_ttl_monitor(client, ttlMonitorEnabled=True)
        with contextlib.suppress(Exception):
            collection.drop()
        logged.close()
        logged.client.close()
        store.close()
        client.close()


def _insert_expired(collection: Collection[dict[str, Any]], count: int) -> None:
    past = datetime.now(timezone.utc) - timedelta(minutes=5)
    for start in range(0, count, INSERT_BATCH):
        docs = [
            _doc(secrets.token_urlsafe(24), "expired-user", past)
            for _ in range(min(INSERT_BATCH, count - start))
        ]
        collection.insert_many(docs, ordered=False)


def _ttl_rate(
    client: MongoClient[dict[str, Any]], collection: Collection[dict[str, Any]], count: int
) -> float:
    """Expired documents the TTL monitor removes per second, from its first deletion on."""
    past = {"expires": {"$lte": datetime.now(timezone.utc)}}
    answer = client.admin.command("getParameter", 1, ttlMonitorSleepSecs=1)
    sleep_before = answer["ttlMonitorSleepSecs"]
    _set_ttl_monitor(client, ttlMonitorSleepSecs=1)
    _set_ttl_monitor(client, ttlMonitorEnabled=True)
    try:
        # The monitor wakes when its current sleep ends (up to the old interval);
        # the pass runs from the last poll that saw every document to the one that
        # sees none: a lower bound of its rate, within one poll interval.
        deadline = time.monotonic() + 600
        full_at = time.perf_counter()
        while time.monotonic() < deadline:
            left = collection.count_documents(past)
            now = time.perf_counter()
            if left == count:
                full_at = now
            elif left == 0:
                return count / (now - full_at)
            time.sleep(0.02)
        return float("nan")
    finally:
        _set_ttl_monitor(client, ttlMonitorSleepSecs=sleep_before)


def _sizes(collection: Collection[dict[str, Any]]) -> dict[str, Any]:
    stats = collection.database.command("collStats", collection.name)
    return {
        "documents": stats["count"],
        "average document": stats["avgObjSize"],
        "data": stats["size"],
        "storage": stats["storageSize"],
        **{f"index {name}": value for name, value in stats["indexSizes"].items()},
    }


class _CommandCapture(monitoring.CommandListener):
    """The commands a client sent, by name (a PyMongo command listener)."""

    def __init__(self) -> None:
        self.commands: list[tuple[str, dict[str, Any]]] = []

    def started(self, event: Any) -> None:
        self.commands.append((event.command_name, dict(event.command)))

    def succeeded(self, event: Any) -> None:
        pass

    def failed(self, event: Any) -> None:
        pass

    def clear(self) -> None:
        self.commands.clear()

    def last(self, name: str) -> dict[str, Any]:
        command = next(c for n, c in reversed(self.commands) if n == name)
        drop = ("lsid", "$db", "$clusterTime", "txnNumber", "maxTimeMS", "$readPreference")
        return {k: v for k, v in command.items() if k not in drop}


def _mb(value: float) -> str:
    return f"{value / 2**20:,.1f} MB"


def run(
    uri: str,
    *,
    sizes: Sequence[int] = SIZES,
    user_sessions: int = USER_SESSIONS,
    ops: int = 300,
    rounds: int = 3,
    ttl_monitor: bool = True,
) -> Section:
    """Every operation of the module's docstring at each of ``sizes``, in one run.

    ``ttl_monitor=False`` skips the TTL monitor's rate, which waits for the
    monitor's next pass (up to a minute).
    """
    section = Section("Scale: operations at each collection size")
    measured: list[tuple[int, _Measure, dict[str, Any]]] = []
    for size in sizes:
        m, collection_sizes = _measure_size(
            uri, size, user_sessions, ops, rounds, section.notes, ttl_monitor
        )
        measured.append((size, m, collection_sizes))
    heads = [f"{size:,} sessions" for size in sizes]
    ratio = len(sizes) > 1
    table = Table(
        "Store and command-line operations by collection size (sync store, loopback mongod)",
        ["operation", *heads, *([f"{heads[-1]} / {heads[0]}"] if ratio else [])],
        note=(
            "get/set: median of single operations on random sessions; other times: "
            "median of rounds or one run (destroy_user, all, cleanup). Keys examined: "
            "the server's explain of the command the store sent. Memory growth: this "
            "process's resident memory during the call."
        ),
    )
    rows = list(dict.fromkeys(name for _, m, _ in measured for name in m.values))
    for name in rows:
        cells = [m.values.get(name, "") for _, m, _ in measured]
        if ratio:
            first, last = measured[0][1].numbers.get(name), measured[-1][1].numbers.get(name)
            cells.append(f"{last / first:.2f}×" if first and last is not None else "")
        table.add(name, *cells)
    section.tables.append(table)
    sizes_table = Table("Collection and index sizes", ["measure", *heads])
    for key in dict.fromkeys(k for _, _, s in measured for k in s):
        cells = []
        for _, _, s in measured:
            value = s.get(key)
            if value is None:
                cells.append("")
            elif key == "documents":
                cells.append(f"{value:,}")
            elif key == "average document":
                cells.append(f"{value:,.0f} B")
            else:
                cells.append(_mb(value))
        sizes_table.add(key, *cells)
    section.tables.append(sizes_table)
    section.notes.append(
        f"Indexes: expires_1 (TTL), {USER_INDEX['name']} (partial, per user), and for one "
        "row deleted_1 (partial, flagged sessions; `mongosession ensure-indexes --flag-index`)."
    )
    return section
