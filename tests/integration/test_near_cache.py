"""The near cache (``near_cache=``): reads with no command, kept coherent by a change stream.

Runs against the suite's single-node replica set. Two stores on two clients stand
for two processes (one test runs a real second process, a uvicorn server). No
timing is asserted beyond the documented guarantee, which does not depend on the
machine's load: a get that starts ``max_staleness`` after a change was
acknowledged sees it. Cache state is polled with deadlines, never slept on.

How the cache itself decides (fills, LRU, freshness), without a server:
tests/unit/store/test_near_cache.py.
"""

from __future__ import annotations

import asyncio
import http.client
import time
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pymongo import MongoClient

from mongosession import (
    AsyncMongoStore,
    ChangeStreamsUnsupported,
    MongoStore,
    NearCache,
    StoredSession,
    StoreUnavailable,
)
from tests.support.faultproxy import FaultProxy
from tests.support.fixtures import Deployment, FailPoint, needs_local_servers
from tests.support.monitoring import CommandLog
from tests.support.servers import python, serving

BOUND = 0.5
#: What the follower itself sends: its stream, its probe.
FOLLOWER_COMMANDS = frozenset({"aggregate", "getMore", "ping", "killCursors"})


def session(user: str = "alice", **extra: Any) -> dict[str, Any]:
    return {"cookie": {"originalMaxAge": None, "expires": None, "path": "/"}, "user": user, **extra}


def wait_for(condition: Callable[[], object], within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.005)


def is_serving(store: MongoStore) -> bool:
    stats = store.near_cache_stats()
    assert stats is not None
    return stats.serving


def hits(store: MongoStore) -> int:
    stats = store.near_cache_stats()
    assert stats is not None
    return stats.hits


def cached_get(store: MongoStore, sid: str, within: float = 10.0) -> StoredSession | None:
    """``get`` once the cache holds ``sid`` and serves it (a hit).

    The first read fills the cache; the stream may still report the write that
    made the session, which drops the entry once more: read until a hit.
    """
    deadline = time.monotonic() + within
    while True:
        before = hits(store)
        got = store.get(sid)
        if hits(store) == before + 1:
            return got
        assert time.monotonic() < deadline, "no read was a hit"
        time.sleep(0.005)


def refused_within_bound(store: MongoStore, sid: str, acknowledged: float) -> float:
    """Poll until ``sid`` reads as gone; the delay after ``acknowledged``.

    The guarantee: a get that starts ``BOUND`` after the change sees it, so the
    get after the deadline must miss whatever the machine's load.
    """
    deadline = acknowledged + BOUND
    while time.monotonic() < deadline:
        if store.get(sid) is None:
            return time.monotonic() - acknowledged
    assert store.get(sid) is None, "served a revoked session after the bound"
    return time.monotonic() - acknowledged


@pytest.fixture
def stores(rs_uri: str) -> Iterator[tuple[MongoStore, MongoStore, CommandLog]]:
    """(A: near cache, on a client with a command log; B: a plain store, another client)."""
    log = CommandLog()
    client: MongoClient[dict[str, Any]] = MongoClient(rs_uri, event_listeners=[log], tz_aware=True)
    a = MongoStore(client=client, user_key="user", near_cache=NearCache(max_staleness=BOUND))
    b = MongoStore(uri=rs_uri, user_key="user")
    try:
        yield a, b, log
    finally:
        a.close()
        b.close()
        client.close()


def store_commands(log: CommandLog) -> list[str]:
    return [name for name in log.names() if name not in FOLLOWER_COMMANDS]


# -- hits ---------------------------------------------------------------------------------


def test_a_cached_read_sends_no_database_command(
    stores: tuple[MongoStore, MongoStore, CommandLog],
) -> None:
    a, b, log = stores
    b.set("s1", session())
    cached_get(a, "s1")
    log.clear()
    for _ in range(20):
        got = a.get("s1")
        assert got is not None
        assert got["user"] == "alice"
    assert store_commands(log) == []


def test_each_hit_is_a_new_session_the_caller_may_change(
    stores: tuple[MongoStore, MongoStore, CommandLog],
) -> None:
    a, b, _ = stores
    b.set("s1", session(cart={"items": [1]}))
    first = cached_get(a, "s1")
    assert first is not None
    first["cart"]["items"].append(2)
    first["user"] = "mallory"
    again = a.get("s1")
    assert again == session(cart={"items": [1]})
    assert again is not first
    assert again.revision is not None


def test_a_cached_session_still_expires_on_time(
    stores: tuple[MongoStore, MongoStore, CommandLog],
) -> None:
    a, b, _ = stores
    b.set("short", {"cookie": {"expires": "2001-01-01T00:00:00.000Z"}})
    b.set("live", session())
    cached_get(a, "live")
    a.get("short")  # cached, though dead: liveness is judged at every read
    assert a.get("short") is None


def test_the_async_store_serves_hits_too(rs_uri: str) -> None:
    async def scenario() -> tuple[int, Any]:
        log = CommandLog()
        from pymongo import AsyncMongoClient

        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
            rs_uri, event_listeners=[log], tz_aware=True
        )
        store = AsyncMongoStore(client=client, near_cache=True)
        try:
            await store.set("s1", session())
            await store.get("s1")
            deadline = time.monotonic() + 10
            while not store.near_cache_stats().serving:  # type: ignore[union-attr]
                assert time.monotonic() < deadline
                await asyncio.sleep(0.01)
            await store.get("s1")
            log.clear()
            got = await store.get("s1")
            return len(store_commands(log)), got
        finally:
            await store.close()
            await client.close()

    sent, got = asyncio.run(scenario())
    assert sent == 0
    assert got["user"] == "alice"


# -- coherence: a change in B reaches A within the bound --------------------------------------


def destroy(b: MongoStore) -> float:
    b.destroy("s1")
    return time.monotonic()


def destroy_user(b: MongoStore) -> float:
    b.destroy_user("alice")
    return time.monotonic()


def flag(b: MongoStore) -> float:
    b.flag_deletion("s1")
    return time.monotonic()


ENDINGS = {"destroy": destroy, "destroy_user": destroy_user, "flag": flag}


@pytest.mark.parametrize("ending", sorted(ENDINGS))
def test_an_end_in_another_process_is_refused_within_the_bound(
    stores: tuple[MongoStore, MongoStore, CommandLog], ending: str
) -> None:
    a, b, _ = stores
    b.set("s1", session())
    b.set("other", session("bob"))
    cached_get(a, "s1")
    cached_get(a, "other")
    acknowledged = ENDINGS[ending](b)
    refused_within_bound(a, "s1", acknowledged)
    assert a.get("other") is not None


@pytest.mark.parametrize("write", ["set", "save", "touch"])
def test_a_write_in_another_process_drops_the_entry(
    stores: tuple[MongoStore, MongoStore, CommandLog], write: str
) -> None:
    a, b, _ = stores
    b.set("s1", session(n=0))
    cached = cached_get(a, "s1")
    assert cached is not None
    loaded = b.get("s1")
    assert loaded is not None
    loaded["n"] = 1
    if write == "set":
        b.set("s1", loaded)
    elif write == "save":
        assert b.save("s1", loaded)
    else:
        b.touch("s1", cached)
    acknowledged = time.monotonic()
    stored = b.get("s1")
    assert stored is not None

    def current() -> bool:
        got = a.get("s1")
        return got is not None and got == stored and got.expires == stored.expires

    while time.monotonic() < acknowledged + BOUND and not current():
        pass
    assert current(), "a stale copy was served after the bound"


def test_own_writes_drop_the_entry_at_once(
    stores: tuple[MongoStore, MongoStore, CommandLog],
) -> None:
    a, b, _ = stores
    b.set("s1", session(n=0))
    cached = cached_get(a, "s1")
    assert cached is not None
    cached["n"] = 1
    assert a.save("s1", cached)
    got = a.get("s1")  # the very next read: no wait for the stream
    assert got is not None
    assert got["n"] == 1
    cached_get(a, "s1")
    a.destroy("s1")
    assert a.get("s1") is None
    b.set("s2", session("carol"))
    cached_get(a, "s2")
    a.destroy_user("carol")
    assert a.get("s2") is None


def test_a_stale_copy_saved_merges_and_never_loses_an_update(
    stores: tuple[MongoStore, MongoStore, CommandLog],
) -> None:
    a, b, _ = stores
    b.set("s1", session(x=0, y=0))
    stale = cached_get(a, "s1")
    assert stale is not None
    fresh = b.get("s1")
    assert fresh is not None
    fresh["x"] = 1
    assert b.save("s1", fresh)
    stale["y"] = 1  # from a copy read before B's write: the revision check catches it
    assert a.save("s1", stale)
    final = b.get("s1")
    assert final is not None
    assert (final["x"], final["y"]) == (1, 1)


def test_a_stale_copy_never_resurrects_a_destroyed_session(
    stores: tuple[MongoStore, MongoStore, CommandLog],
) -> None:
    a, b, _ = stores
    b.set("s1", session())
    stale = cached_get(a, "s1")
    assert stale is not None
    b.destroy("s1")
    stale["n"] = 1
    assert not a.save("s1", stale)
    a.touch("s1", stale)
    assert b.get("s1") is None


# -- the read-then-insert race ------------------------------------------------------------


class SlowRead:
    """A collection whose ``find_one`` runs ``meanwhile()`` between its read and its return."""

    def __init__(self, collection: Any, meanwhile: Callable[[], None]) -> None:
        self._collection = collection
        self._meanwhile = meanwhile

    def find_one(self, *args: Any, **kwargs: Any) -> Any:
        doc = self._collection.find_one(*args, **kwargs)
        self._meanwhile()
        return doc

    def __getattr__(self, name: str) -> Any:
        return getattr(self._collection, name)


def test_a_read_overtaken_by_an_invalidation_is_not_cached(
    stores: tuple[MongoStore, MongoStore, CommandLog],
) -> None:
    a, b, _ = stores
    b.set("s1", session(n=0))
    b.set("warm", session())
    cached_get(a, "warm")  # the cache serves
    stats = a.near_cache_stats()
    assert stats is not None
    invalidations = stats.invalidations

    def write_and_wait_for_the_event() -> None:
        b.set("s1", session(n=1))
        wait_for(lambda: a.near_cache_stats().invalidations > invalidations)  # type: ignore[union-attr]

    real = a._collection
    a._collection = SlowRead(real, write_and_wait_for_the_event)  # type: ignore[assignment]
    try:
        old = a.get("s1")  # read n=0; B wrote n=1 and its event arrived before the insert
    finally:
        a._collection = real
    assert old is not None
    assert old["n"] == 0
    stats = a.near_cache_stats()
    assert stats is not None
    assert stats.entries == 1
    got = a.get("s1")
    assert got is not None
    assert got["n"] == 1


# -- the stream stalls, drops, loses its history ---------------------------------------------


@pytest.fixture
def faulty(
    rs_uri: str, app_name: str, fail_point: FailPoint
) -> Iterator[tuple[MongoStore, MongoStore]]:
    """(A on a client named ``app_name``, for fail points; B a plain store)."""
    client: MongoClient[dict[str, Any]] = MongoClient(rs_uri, appname=app_name, tz_aware=True)
    a = MongoStore(client=client, near_cache=NearCache(max_staleness=BOUND), timeout=2.0)
    b = MongoStore(uri=rs_uri)
    try:
        yield a, b
    finally:
        a.close()
        b.close()
        client.close()


def cache_one(a: MongoStore, b: MongoStore) -> int:
    """B writes "s1", A caches it; A's resets so far."""
    b.set("s1", session())
    cached_get(a, "s1")
    stats = a.near_cache_stats()
    assert stats is not None
    return stats.resets


def test_a_stalled_stream_stops_the_cache_within_the_bound(
    faulty: tuple[MongoStore, MongoStore], fail_point: FailPoint
) -> None:
    a, b = faulty
    cache_one(a, b)
    fail_point(["getMore"], {"times": 3}, blockConnection=True, blockTimeMS=1500)
    armed = time.monotonic()
    b.destroy("s1")  # the stream cannot report it
    refused_within_bound(a, "s1", armed)
    wait_for(lambda: not is_serving(a), within=BOUND)
    wait_for(lambda: is_serving(a), within=30)  # back once the stream answers again
    b.set("s2", session())
    cached_get(a, "s2")


def test_a_dropped_connection_is_resumed_and_misses_nothing(
    faulty: tuple[MongoStore, MongoStore], fail_point: FailPoint
) -> None:
    a, b = faulty
    resets = cache_one(a, b)
    fail_point(["getMore"], {"times": 1}, closeConnection=True)
    b.destroy("s1")
    acknowledged = time.monotonic()
    refused_within_bound(a, "s1", acknowledged)
    b.set("s2", session())
    cached_get(a, "s2")
    assert a.near_cache_stats().resets == resets  # type: ignore[union-attr]


def test_a_lost_history_empties_the_cache(
    faulty: tuple[MongoStore, MongoStore], fail_point: FailPoint
) -> None:
    a, b = faulty
    resets = cache_one(a, b)
    # ChangeStreamHistoryLost: the stream cannot go on from where it was.
    fail_point(["getMore"], {"times": 1}, errorCode=286)
    wait_for(lambda: a.near_cache_stats().resets > resets)  # type: ignore[union-attr]
    wait_for(lambda: is_serving(a))
    stats = a.near_cache_stats()
    assert stats is not None
    assert stats.entries <= 1
    assert a.get("s1") is not None


def test_a_killed_connection_stops_the_cache_and_it_recovers(
    replica_set: Deployment, rs_db_name: str, rs_uri: str
) -> None:
    needs_local_servers()
    assert replica_set.server is not None
    with FaultProxy(replica_set.server.port) as proxy:
        uri = proxy.uri.replace("/?", f"/{rs_db_name}?")
        a = MongoStore(uri=uri, near_cache=NearCache(max_staleness=BOUND), timeout=1.0)
        b = MongoStore(uri=rs_uri)
        try:
            b.set("s1", session())
            cached_get(a, "s1")
            proxy.blackhole()
            proxy.reset_connections()
            cut = time.monotonic()
            while time.monotonic() < cut + BOUND:
                pass
            assert not is_serving(a)
            with pytest.raises(StoreUnavailable):  # to the database, which is unreachable
                a.get("s1")
            b.destroy("s1")
            proxy.pass_through()
            deadline = time.monotonic() + 30
            while True:  # the client finds the server again (its monitor's next check)
                try:
                    assert a.get("s1") is None
                    break
                except StoreUnavailable:
                    assert time.monotonic() < deadline
            b.set("s2", session())
            cached_get(a, "s2")
        finally:
            a.close()
            b.close()


# -- configuration ------------------------------------------------------------------------------


def test_a_standalone_server_is_refused_with_a_typed_error(test_uri: str) -> None:
    store = MongoStore(uri=test_uri, near_cache=True)
    try:
        with pytest.raises(ChangeStreamsUnsupported, match="near_cache"):
            store.prepare()
        with pytest.raises(ChangeStreamsUnsupported):
            store.get("s1")
    finally:
        store.close()


def test_without_the_option_there_is_no_cache(rs_uri: str) -> None:
    with MongoStore(uri=rs_uri) as store:
        assert store.near_cache_stats() is None


def test_close_stops_serving(rs_uri: str) -> None:
    store = MongoStore(uri=rs_uri, near_cache=True)
    store.set("s1", session())
    cached_get(store, "s1")
    store.close()
    assert not is_serving(store)


# -- a real second process ------------------------------------------------------------------


def test_a_revoke_reaches_a_uvicorn_worker_within_the_bound(
    rs_uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("uvicorn")
    monkeypatch.setenv("BENCH_DB_URI", rs_uri)
    monkeypatch.setenv("BENCH_SECRET", "near cache test")
    monkeypatch.setenv("BENCH_NEAR_CACHE", str(BOUND))
    command = python("-m", "uvicorn", "--port", "{port}", "bench.apps.asgi_app:app")
    with (
        serving(command, mongodb_uri=rs_uri, log=tmp_path / "server.log") as base,
        MongoStore(uri=rs_uri) as b,
    ):
        host, port = base.removeprefix("http://").split(":")

        def call(method: str, path: str, cookie: str | None = None) -> tuple[str, str]:
            conn = http.client.HTTPConnection(host, int(port), timeout=10)
            try:
                conn.request(method, path, body=b"", headers={"Cookie": cookie} if cookie else {})
                reply = conn.getresponse()
                return reply.read().decode(), reply.getheader("Set-Cookie") or ""
            finally:
                conn.close()

        cookie = call("POST", "/login?user=alice")[1].split(";")[0]
        sid = urllib.parse.unquote(cookie.split("=", 1)[1])[2:].rsplit(".", 1)[0]

        def read() -> str:
            return call("GET", "/read", cookie)[0]

        assert read() == "alice"
        assert read() == "alice"
        assert b.destroy(sid)
        acknowledged = time.monotonic()
        while time.monotonic() < acknowledged + BOUND and read() == "alice":
            pass
        assert read() == "anonymous"


# -- the benchmark, in miniature --------------------------------------------------------------


def test_the_cache_benchmark_runs_in_miniature(rs_uri: str) -> None:
    pytest.importorskip("uvicorn")
    from bench import cache

    from mongosession.testing.localdb import strip_db_path

    section = cache.run(
        strip_db_path(rs_uri),
        mongod_pid=None,
        connections=(2,),
        warmup=0,
        duration=0.3,
        rounds=1,
        background=10,
        revokes=3,
        faulted=1,
        tool="loadgen",
        stacks=("asgi", "asgi-cache"),
    )
    reads, delays = section.tables[0], section.tables[-1]
    assert {row[2] for row in reads.rows} >= {
        "mongosession + near cache (0.5 s), Starlette on uvicorn"
    }
    assert delays.rows[0][0] == "healthy"
    assert any(t.name.startswith("revoke to refusal") for t in section.targets)
