"""Scale: what the store's whole-collection and per-user operations read, by ``explain``.

Per-user operations must read the user's sessions and no others (the per-user
index), ``length()`` must count in indexes, and every bulk read or write must go in
batches, each its own bounded operation. Each test captures the commands the store
sends and asks the server how it runs them (keys and documents examined, stages):
no timing is asserted. bench/scale.py measures the same operations at 1,000,000.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from datetime import timedelta
from typing import Any

import pytest
from bson.codec_options import CodecOptions, DatetimeConversion
from pymongo.database import Database

from mongosession import _clock
from mongosession.store.inspection import both
from tests.support.monitoring import CommandLog
from tests.support.stores import StoreKit

HOUR = timedelta(hours=1)
SECOND = timedelta(seconds=1)
#: The heavy user's sessions, among OTHERS of 400 other users.
ALICE = 150
OTHERS = 2_000
#: Explain output holds index bounds past year 9999 (MaxKey dates).
RAW = CodecOptions(datetime_conversion=DatetimeConversion.DATETIME_AUTO)
#: What a driver adds to a command that explain does not take.
_SESSION_FIELDS = ("lsid", "$db", "$clusterTime", "txnNumber", "maxTimeMS", "$readPreference")


def populate(db: Database[Any], *, alice: int = ALICE, others: int = OTHERS) -> None:
    """Live sessions: ``alice`` of user alice, among ``others`` of 400 other users.

    Alice's sessions expire first (she logged in often, long ago): the planner,
    left to itself, then reads the live filter along ``expires_1`` (every live
    session) rather than the per-user index, as the issue measured at 1,000,000.
    """
    now = _clock.now()
    docs = [
        {"_id": f"a{i:05d}", "session": "{}", "expires": now + HOUR + i * SECOND, "user": "alice"}
        for i in range(alice)
    ]
    docs += [
        {"_id": f"s{i:05d}", "session": "{}", "expires": now + 2 * HOUR + i * SECOND}
        | {"user": f"u{i % 400}"}
        for i in range(others)
    ]
    db.sessions.insert_many(docs)


def explain(db: Database[Any], command: Mapping[str, Any]) -> dict[str, Any]:
    """The server's executionStats explain of a command a store sent."""
    body = {k: v for k, v in command.items() if k not in _SESSION_FIELDS}
    result: dict[str, Any] = db.command(
        "explain", body, verbosity="executionStats", codec_options=RAW
    )
    return result


def _all(tree: Any, key: str) -> Iterator[Any]:
    # Every value under ``key`` anywhere in an explain output.
    if isinstance(tree, Mapping):
        for k, v in tree.items():
            if k == key:
                yield v
            yield from _all(v, key)
    elif isinstance(tree, list):
        for v in tree:
            yield from _all(v, key)


def examined(plan: Mapping[str, Any]) -> tuple[int, int]:
    """(keys examined, documents examined) of an explain output."""
    stats = list(_all(plan, "executionStats"))
    assert stats, plan
    return (
        sum(s.get("totalKeysExamined", 0) for s in stats),
        sum(s.get("totalDocsExamined", 0) for s in stats),
    )


def winning(plan: Mapping[str, Any]) -> str:
    """The winning plans of an explain output, as text."""
    return json.dumps(list(_all(plan, "winningPlan")), default=str)


def assert_reads_alices_sessions(db: Database[Any], command: Mapping[str, Any]) -> None:
    plan = explain(db, command)
    keys, docs = examined(plan)
    assert '"indexName": "user_1"' in winning(plan), winning(plan)
    assert "COLLSCAN" not in winning(plan)
    assert keys <= ALICE + 1, (keys, command)
    assert docs <= ALICE, (docs, command)


def logged_store(kit: StoreKit, log: CommandLog, **options: Any) -> Any:
    return kit.store(client=kit.client(event_listeners=[log], tz_aware=True), **options)


def last(log: CommandLog, name: str) -> Mapping[str, Any]:
    commands = log.commands(name)
    assert commands, log.names()
    return commands[-1]


def test_per_user_operations_read_only_the_users_sessions(
    kit: StoreKit, db: Database[Any], command_log: CommandLog
) -> None:
    store = logged_store(kit, command_log, user_key="user")
    store.ensure_indexes()
    populate(db)
    saved = list(db.sessions.find({"user": "alice"}))
    live_alice = store.live_filter(user="alice")

    assert len(store.sessions_of("alice")) == ALICE
    sessions_of = last(command_log, "find")
    assert store.count(live_alice) == ALICE  # revoke --user counts so
    count = last(command_log, "aggregate")
    page = store.list_sessions(live_alice, limit=20)  # list --user --page-size 20
    assert len(page) == 20
    listing = last(command_log, "aggregate")
    recent = store.recent_sessions(live_alice, limit=5)  # list --user
    assert len(recent) == 5
    recent_listing = command_log.commands("aggregate")[-1]
    assert store.destroy_user("alice", keep="a00000") == ALICE - 1
    destroy = last(command_log, "delete")
    db.sessions.delete_many({"user": "alice"})
    db.sessions.insert_many(saved)
    command_log.clear()
    deleted = list(kit_each(kit, store.delete_batches(both({"user": "alice"}, live_alice))))
    assert deleted == [ALICE]  # revoke --user deletes so
    revoke_scan = last(command_log, "find")
    db.sessions.insert_many(saved)

    for command in (sessions_of, count, listing, recent_listing, destroy, revoke_scan):
        assert_reads_alices_sessions(db, command)


def test_the_session_limit_reads_only_the_users_sessions(
    kit: StoreKit, db: Database[Any], command_log: CommandLog
) -> None:
    populate(db)
    refusing = logged_store(
        kit, command_log, user_key="user", max_sessions_per_user=500, on_session_limit="refuse"
    )
    refusing.set("new-login", {"cookie": {}, "user": "alice"})
    check = command_log.commands("aggregate")[0]  # the count before the write
    evicting = logged_store(kit, command_log, user_key="user", max_sessions_per_user=500)
    command_log.clear()
    evicting.set("another-login", {"cookie": {}, "user": "alice"})
    apply = last(command_log, "find")  # the user's sessions, oldest login first
    db.sessions.delete_many({"_id": {"$in": ["new-login", "another-login"]}})

    assert check["pipeline"][0]["$match"]["user"] == "alice"
    for command in (check, apply):
        assert_reads_alices_sessions(db, command)


def test_per_user_operations_work_without_the_user_index(kit: StoreKit, db: Database[Any]) -> None:
    populate(db, alice=30, others=200)
    store = kit.store(user_key="user", create_indexes=False, max_sessions_per_user=100)

    assert "user_1" not in db.sessions.index_information()
    assert len(store.sessions_of("alice")) == 30
    assert store.count(store.live_filter(user="alice")) == 30
    assert len(store.list_sessions(store.live_filter(user="alice"), limit=100)) == 30
    store.set("login", {"cookie": {}, "user": "alice"})  # the limit's check and apply
    assert store.flag_documents({"user": "alice", "_id": {"$ne": "login"}}) == 30
    assert store.destroy_user("alice") == 1
    assert db.sessions.count_documents({"user": "alice"}) == 30  # flagged, not deleted


def kit_each(kit: StoreKit, items: Any) -> Iterator[Any]:
    """Iterate a store's (async) iterator from the test's blocking code."""
    if kit.loop is None:
        yield from items
        return
    while True:
        try:
            yield kit.run(items.__anext__())
        except StopAsyncIteration:
            return


def raw_store(kit: StoreKit, store: Any) -> Any:
    """The store itself behind the kit's blocking view (for its iterators)."""
    return getattr(store, "store", store)


@pytest.mark.parametrize("flag_index", [True, False])
def test_length_counts_in_indexes(
    kit: StoreKit, db: Database[Any], command_log: CommandLog, flag_index: bool
) -> None:
    store = logged_store(kit, command_log)
    store.setup_indexes(flagged_index=flag_index)
    now = _clock.now()
    live = [{"_id": f"l{i}", "expires": now + HOUR} for i in range(400)]
    flagged = [{"_id": f"f{i}", "expires": now + HOUR, "deleted": True} for i in range(7)]
    undated = [{"_id": f"u{i}"} for i in range(3)] + [{"_id": "uf", "deleted": True}]
    expired = [{"_id": f"e{i}", "expires": now - HOUR} for i in range(5)]
    db.sessions.insert_many(live + flagged + undated + expired)
    command_log.clear()

    assert store.length() == 400 + 3
    dated, flags, no_expiry = command_log.commands("aggregate")

    plan = explain(db, dated)
    assert "COUNT_SCAN" in winning(plan)  # counted in the TTL index alone
    assert examined(plan)[1] == 0
    assert examined(explain(db, no_expiry))[1] <= 4
    if flag_index:
        plan = explain(db, flags)
        assert '"indexName": "deleted_1"' in winning(plan)
        assert examined(plan)[1] <= 8
    store.flag_deletion("l0")
    assert store.length() == 400 + 3 - 1


def test_length_with_an_absolute_lifetime_counts_with_the_whole_live_filter(
    kit: StoreKit, db: Database[Any]
) -> None:
    store = kit.store(absolute_lifetime=3600)
    now = _clock.now()
    db.sessions.insert_many(
        [
            {"_id": "young", "expires": now + HOUR, "createdAt": now},
            {"_id": "old", "expires": now + HOUR, "createdAt": now - 2 * HOUR},
            {"_id": "gone", "expires": now + HOUR, "createdAt": now, "deleted": True},
        ]
    )
    assert store.length() == 1


def test_iter_all_streams_every_live_session_once_in_bound_batches(
    kit: StoreKit, db: Database[Any], command_log: CommandLog
) -> None:
    store = logged_store(kit, command_log)
    now = _clock.now()
    db.sessions.insert_many(
        [{"_id": f"s{i:03d}", "session": "{}", "expires": now + HOUR} for i in range(250)]
        + [{"_id": "gone", "session": "{}", "expires": now + HOUR, "deleted": True}]
    )
    store.get("warm-up")  # the indexes
    command_log.clear()

    seen = []
    for sid, session in kit_each(kit, raw_store(kit, store).iter_all(batch_size=100)):
        if not seen:  # a touch moves a session's expiry mid-stream: still read once
            db.sessions.update_many({}, {"$set": {"expires": now + 2 * HOUR}})
        seen.append(sid)
        assert session == {}

    assert sorted(seen) == [f"s{i:03d}" for i in range(250)]
    (find,) = command_log.commands("find")
    assert find["batchSize"] == 100
    assert find["hint"] == {"$natural": 1}  # storage order: each document once
    assert all(get["batchSize"] <= 100 for get in command_log.commands("getMore"))
    assert len(command_log.commands("getMore")) >= 2
    assert set(store.all()) == set(seen)


def test_bulk_writes_go_in_batches_by_id(
    kit: StoreKit, db: Database[Any], command_log: CommandLog
) -> None:
    store = logged_store(kit, command_log, auto_remove="disabled")
    now = _clock.now()
    db.sessions.insert_many(
        [{"_id": f"e{i:03d}", "expires": now - HOUR} for i in range(120)]
        + [{"_id": f"l{i:03d}", "expires": now + HOUR} for i in range(30)]
    )

    assert store.cleanup(batch_size=50) == 120
    deletes = command_log.commands("delete")
    assert len(deletes) == 3
    for command in deletes:
        (statement,) = command["deletes"]
        assert len(statement["q"]["$and"][0]["_id"]["$in"]) <= 50
        assert statement["hint"] == {"_id": 1}
    command_log.clear()

    assert store.flag_documents({"_id": {"$gte": "l010"}}) == 20
    (update,) = command_log.commands("update")
    assert update["updates"][0]["hint"] == {"_id": 1}
    command_log.clear()

    store.clear()
    assert db.sessions.count_documents({}) == 0
    assert "$in" in json.dumps(command_log.commands("delete")[0]["deletes"][0]["q"])


def test_clear_with_delete_flags_flags_in_batches(kit: StoreKit, db: Database[Any]) -> None:
    store = kit.store(delete_flags=True)
    now = _clock.now()
    db.sessions.insert_many([{"_id": f"s{i}", "expires": now + HOUR} for i in range(30)])

    store.clear()

    assert db.sessions.count_documents({"deleted": True}) == 30
    assert store.length() == 0
