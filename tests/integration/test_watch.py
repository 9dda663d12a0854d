"""``store.watch()``: sessions ending, reported from a change stream.

Runs against the suite's single-node replica set (``ttlMonitorSleepSecs=1``, so a
TTL deletion shows within seconds), or against MONGODB_URI when that is a replica set
or a sharded cluster. How a change becomes an event, without a server:
tests/unit/store/test_events.py.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from pymongo import MongoClient

from mongosession import (
    AsyncMongoStore,
    AsyncSessionEvents,
    ChangeStreamsUnsupported,
    MongoStore,
    SessionEvent,
    SessionEvents,
    _clock,
)
from tests.support.fixtures import Deployment, is_replicated

Client = MongoClient[dict[str, Any]]


@pytest.fixture
def store(rs_uri: str) -> Iterator[MongoStore]:
    made = MongoStore(uri=rs_uri, user_key="user")
    try:
        yield made
    finally:
        made.close()


def session(user: str | None = None, expires: datetime | None = None) -> dict[str, Any]:
    cookie = {"originalMaxAge": None, "expires": None, "path": "/"}
    if expires is not None:
        cookie["expires"] = _clock.to_js_iso(expires)
    data: dict[str, Any] = {"cookie": cookie}
    if user is not None:
        data["user"] = user
    return data


def collect(events: SessionEvents, count: int, within: float = 10.0) -> list[SessionEvent]:
    """The next ``count`` events, or as many as arrive ``within`` seconds."""
    got: list[SessionEvent] = []
    deadline = time.monotonic() + within
    while len(got) < count and time.monotonic() < deadline:
        event = events.try_next()
        if event is not None:
            got.append(event)
    return got


async def acollect(
    events: AsyncSessionEvents, count: int, within: float = 10.0
) -> list[SessionEvent]:
    got: list[SessionEvent] = []
    deadline = time.monotonic() + within
    while len(got) < count and time.monotonic() < deadline:
        event = await events.try_next()
        if event is not None:
            got.append(event)
    return got


def needs_fast_ttl(replica_set: Deployment) -> None:
    if not replica_set.fast_ttl:
        pytest.skip("cannot set ttlMonitorSleepSecs on MONGODB_URI; a TTL deletion takes ~60 s")


# -- what is reported -----------------------------------------------------------------


def test_a_ttl_expiry_is_reported_as_expired(replica_set: Deployment, store: MongoStore) -> None:
    needs_fast_ttl(replica_set)
    expires = _clock.now() + timedelta(seconds=1)
    with store.watch(max_await=0.5) as events:
        store.set("short", session("alice", expires=expires))
        store.set("long", session("alice"))
        (event,) = collect(events, 1, within=20)

    assert event.kind == "expired"
    assert event.sid == "short"
    assert event.user == "alice"
    assert event.expires == expires
    assert event.at is not None
    assert event.at >= expires
    assert store.get("long") is not None


def test_a_ttl_expiry_is_reported_by_the_async_store(replica_set: Deployment, rs_uri: str) -> None:
    needs_fast_ttl(replica_set)

    async def scenario() -> list[SessionEvent]:
        async with AsyncMongoStore(uri=rs_uri) as store, store.watch(max_await=0.5) as events:
            await store.set("short", session(expires=_clock.now() + timedelta(seconds=1)))
            return await acollect(events, 1, within=20)

    (event,) = asyncio.run(scenario())
    assert (event.kind, event.sid) == ("expired", "short")


def test_a_revoke_is_reported_for_each_session_it_ended(store: MongoStore) -> None:
    for sid in ("a0", "a1", "a2"):
        store.set(sid, session("alice"))
    store.set("b0", session("bob"))

    with store.watch() as events:
        assert store.destroy_user("alice", keep="a0") == 2
        store.destroy("b0")
        got = collect(events, 3)

    assert [(e.kind, e.sid, e.user) for e in got] == [
        ("destroyed", "a1", "alice"),
        ("destroyed", "a2", "alice"),
        ("destroyed", "b0", "bob"),
    ]
    assert all(e.expires is not None and e.at is not None and e.expires > e.at for e in got)


def test_a_revoke_is_reported_by_the_async_store(rs_uri: str) -> None:
    async def scenario() -> list[SessionEvent]:
        async with AsyncMongoStore(uri=rs_uri, user_key="user") as store:
            await store.set("a0", session("alice"))
            await store.set("a1", session("alice"))
            async with store.watch() as events:
                await store.destroy_user("alice")
                got = []
                async for event in events:  # the iterator form
                    got.append(event)
                    if len(got) == 2:
                        break
                return got

    got = asyncio.run(scenario())
    assert sorted((e.kind, e.sid, e.user) for e in got) == [
        ("destroyed", "a0", "alice"),
        ("destroyed", "a1", "alice"),
    ]


def test_flagging_then_cleanup_is_reported_as_flagged_then_purged(rs_uri: str) -> None:
    with MongoStore(uri=rs_uri, user_key="user", delete_flags=True) as store:
        store.set("s", session("alice"))
        with store.watch() as events:
            store.destroy("s")
            store.cleanup()
            got = collect(events, 2)

    assert [(e.kind, e.sid, e.user) for e in got] == [
        ("flagged", "s", "alice"),
        ("purged", "s", "alice"),
    ]


def test_cleanup_of_an_expired_session_is_reported_as_expired(store: MongoStore) -> None:
    store.set("old", session(expires=_clock.now() - timedelta(minutes=1)))
    with store.watch() as events:
        store.cleanup()
        (event,) = collect(events, 1)
    assert (event.kind, event.sid) == ("expired", "old")


def test_writes_that_end_no_session_are_not_reported(store: MongoStore) -> None:
    with store.watch(max_await=0.3) as events:
        store.set("s", session("alice"))
        store.set("s", session("bob"))
        loaded = store.get("s")
        assert loaded is not None
        store.touch("s", loaded)
        assert collect(events, 1, within=1.5) == []
        store.destroy("s")
        (event,) = collect(events, 1)
    assert (event.kind, event.sid, event.user) == ("destroyed", "s", "bob")


def test_without_pre_images_a_delete_is_reported_as_deleted(replica_set: Deployment) -> None:
    # A database of its own: rs_uri's collection keeps pre-images.
    with (
        replica_set.databases() as new,
        MongoStore(uri=replica_set.uri_of(new()), user_key="user") as store,
    ):
        store.set("s", session("alice"))
        with store.watch() as events:
            store.destroy("s")
            (event,) = collect(events, 1)
    assert (event.kind, event.sid, event.user, event.expires) == ("deleted", "s", None, None)


def test_pre_images_false_does_not_ask_for_them(store: MongoStore) -> None:
    store.set("s", session("alice"))
    with store.watch(pre_images=False) as events:
        store.destroy("s")
        (event,) = collect(events, 1)
    assert (event.kind, event.user) == ("deleted", None)


# -- the stream's life ----------------------------------------------------------------


def test_resume_token_picks_up_what_happened_while_closed(store: MongoStore) -> None:
    for sid in ("a", "b", "c"):
        store.set(sid, session())
    with store.watch() as events:
        store.destroy("a")
        (first,) = collect(events, 1)
    store.destroy("b")  # nobody watching
    with store.watch(resume_after=first.resume_token) as events:
        store.destroy("c")
        got = collect(events, 2)
    assert [e.sid for e in got] == ["b", "c"]


def test_events_before_the_stream_opened_are_not_reported(store: MongoStore) -> None:
    store.set("before", session())
    store.set("after", session())
    events = store.watch(max_await=0.3)
    store.destroy("before")
    with events:  # opens here
        store.destroy("after")
        got = collect(events, 2, within=1)
    assert [e.sid for e in got] == ["after"]


def test_dropping_the_collection_ends_the_iteration(store: MongoStore, rs_client: Client) -> None:
    store.set("s", session())
    db_name = store.client.get_default_database().name
    with store.watch() as events:
        store.destroy("s")
        rs_client[db_name].drop_collection("sessions")
        got = list(events)  # ends by itself after the drop
        assert events.closed
    assert [e.sid for e in got] == ["s"]


def test_try_next_returns_none_when_nothing_happens(store: MongoStore) -> None:
    with store.watch(max_await=0.2) as events:
        started = time.monotonic()
        assert events.try_next() is None
        assert time.monotonic() - started < 3
        assert events.resume_token is not None


def test_a_standalone_server_raises_change_streams_unsupported(
    test_uri: str, mongo_client: Client
) -> None:
    if is_replicated(mongo_client):
        pytest.skip("the test server is a replica set")
    with MongoStore(uri=test_uri) as store:
        events = store.watch()
        with pytest.raises(ChangeStreamsUnsupported, match="replica set"):
            events.open()
        with pytest.raises(ChangeStreamsUnsupported):
            next(iter(store.watch()))


def test_a_standalone_server_raises_in_the_async_store_too(
    test_uri: str, mongo_client: Client
) -> None:
    if is_replicated(mongo_client):
        pytest.skip("the test server is a replica set")

    async def scenario() -> None:
        async with AsyncMongoStore(uri=test_uri) as store, store.watch():
            pass

    with pytest.raises(ChangeStreamsUnsupported):
        asyncio.run(scenario())


# -- the command line -----------------------------------------------------------------


def test_the_watch_command_prints_json_lines(store: MongoStore, rs_uri: str) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "mongosession", "--uri", rs_uri, "watch", "--json", "--count", "1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # The process opens its stream at some point: end sessions until it reports one.
        deadline = time.monotonic() + 30
        n = 0
        while proc.poll() is None and time.monotonic() < deadline:
            store.set(f"s{n}", session("alice"))
            store.destroy(f"s{n}")
            n += 1
            time.sleep(0.2)
        out, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    (line,) = out.splitlines()
    record = json.loads(line)
    assert record["kind"] == "destroyed"
    assert record["user"] == "alice"
    assert record["id"].startswith("s")


def test_the_watch_command_on_a_standalone_server_exits_1(
    test_uri: str, mongo_client: Client, capsys: pytest.CaptureFixture[str]
) -> None:
    if is_replicated(mongo_client):
        pytest.skip("the test server is a replica set")
    from mongosession.__main__ import main

    assert main(["--uri", test_uri, "watch"]) == 1
    assert "replica set" in capsys.readouterr().err
