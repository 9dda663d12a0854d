"""The store's admin methods, against the real server, for both stores.

These are what the ``mongosession`` command line works through (it reads no private
attribute of the store): the store's own filters and liveness, counts, pages by
``_id``, statistics, flagging, batched deletion and indexes. The last test runs the
command itself to show its idea of "live" is now the store's, ``absolute_lifetime``
included.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from typing import Any

import bson
import pytest
from bson.datetime_ms import DatetimeMS
from pymongo.database import Database

from mongosession import IndexConflict, MongoStore, _clock
from mongosession.cli import main
from mongosession.store.indexes import USER_INDEX
from mongosession.store.inspection import FLAGGED_INDEX, after_id, both, namespace_hint
from tests.support.monitoring import CommandLog
from tests.support.sessions import OTHER, SID, session
from tests.support.stores import StoreKit

HOUR = timedelta(hours=1)
USER_FILTER = USER_INDEX["partialFilterExpression"]
#: A date past year 9999, as JavaScript may store it.
FAR = DatetimeMS(300_000_000_000_000)


def each(kit: StoreKit, batches: Iterator[int] | AsyncIterator[int]) -> Iterator[int]:
    """What ``delete_batches`` yields, one step at a time, for either store."""
    if isinstance(batches, Iterator):
        yield from batches
        return
    while True:
        try:
            yield kit.run(batches.__anext__())
        except StopAsyncIteration:
            return


def backdate(db: Database[Any], sid: str, **ago: timedelta) -> None:
    """Move the named dates of a stored session back by the given amounts."""
    doc = db.sessions.find_one({"_id": sid})
    assert doc is not None
    db.sessions.update_one({"_id": sid}, {"$set": {k: doc[k] - v for k, v in ago.items()}})


def ids(db: Database[Any], query: dict[str, Any]) -> set[Any]:
    return {d["_id"] for d in db.sessions.find(query, {"_id": 1})}


# -- the store's rules ---------------------------------------------------------------


def test_live_filter_and_is_live_leave_out_sessions_past_the_absolute_lifetime(
    kit: StoreKit, db: Database[Any]
) -> None:
    store = kit.store(absolute_lifetime=3600, user_key="user")
    store.set(SID, session(user="alice"))
    store.set(OTHER, session(user="alice"))
    backdate(db, OTHER, createdAt=2 * HOUR)  # its expiry is still to come

    assert store.get(OTHER) is None
    assert ids(db, store.live_filter()) == {SID}
    assert ids(db, store.live_filter(user="alice")) == {SID}
    assert ids(db, store.live_filter(user="bob")) == set()
    assert [store.is_live(d) for d in db.sessions.find(sort=[("_id", 1)])] == [False, True]


def test_state_of_names_what_a_reader_sees(kit: StoreKit, db: Database[Any]) -> None:
    store = kit.store(absolute_lifetime=3600)
    now = _clock.now()
    docs = {
        "live": {"expires": now + HOUR, "createdAt": now},
        "expired": {"expires": now - HOUR},
        "over-age": {"expires": now + HOUR, "createdAt": now - 2 * HOUR},
        "flagged": {"expires": now + HOUR, "deleted": True, "deletedAt": now},
        "flagged-expired": {"expires": now - HOUR, "deleted": True},
        "far": {"expires": FAR},
    }
    db.sessions.insert_many([{"_id": k, "session": "{}", **v} for k, v in docs.items()])

    states = {sid: store.state_of(store.document(sid)) for sid in docs}

    assert states == {
        "live": "live",
        "expired": "expired",
        "over-age": "expired",
        "flagged": "flagged",
        "flagged-expired": "flagged",
        "far": "unreadable",
    }


def test_cleanup_filter_matches_what_cleanup_deletes(kit: StoreKit, db: Database[Any]) -> None:
    now = _clock.now()
    db.sessions.insert_many(
        [
            {"_id": "live", "session": "{}", "expires": now + HOUR},
            {"_id": "expired", "session": "{}", "expires": now - HOUR},
            {"_id": "flagged-old", "session": "{}", "expires": now + HOUR, "deleted": True,
             "deletedAt": now - 2 * HOUR},
            {"_id": "flagged-new", "session": "{}", "expires": now + HOUR, "deleted": True,
             "deletedAt": now},
            {"_id": "flagged-undated", "session": "{}", "expires": now + HOUR, "deleted": True},
        ]
    )  # fmt: skip
    store = kit.store()

    matched = ids(db, store.cleanup_filter(older_than=3600))
    deleted = store.cleanup(older_than=3600)

    assert matched == {"expired", "flagged-old", "flagged-undated"}
    assert deleted == 3
    assert ids(db, {}) == {"live", "flagged-new"}


def test_cleanup_older_than_beyond_the_calendar_spares_every_dated_flag(
    kit: StoreKit, db: Database[Any]
) -> None:
    store = kit.store(delete_flags=True)
    store.set(SID, session())
    store.destroy(SID)

    assert ids(db, store.cleanup_filter(older_than=1e300)) == set()
    assert store.cleanup(older_than=1e300) == 0
    assert store.cleanup(older_than=-1e300) == 1  # every flag is old enough


def test_cleanup_deletes_in_batches(
    kit: StoreKit, db: Database[Any], command_log: CommandLog
) -> None:
    store = kit.store(client=kit.client(event_listeners=[command_log], tz_aware=True))
    past = _clock.now() - HOUR
    db.sessions.insert_many([{"_id": f"s{i:02d}", "expires": past} for i in range(25)])
    command_log.clear()

    assert store.cleanup(batch_size=10) == 25
    assert command_log.count("delete") == 3
    assert db.sessions.count_documents({}) == 0


def test_storage_id_follows_hash_ids(kit: StoreKit, db: Database[Any]) -> None:
    store = kit.store(hash_ids="a hash key of 32 characters.....")
    store.set(SID, session())

    assert ids(db, {}) == {store.storage_id(SID)} != {SID}
    with pytest.raises(ValueError, match="malformed"):
        store.storage_id("not an id")


def test_unseal_opens_an_encrypted_payload(kit: StoreKit, db: Database[Any]) -> None:
    pytest.importorskip("cryptography")
    sealed = kit.store(encryption_keys=["a passphrase"])
    plain = kit.store(collection="other")
    sealed.set(SID, session(card="4111"))
    doc = db.sessions.find_one()
    assert doc is not None

    assert sealed.encrypted is True
    assert plain.encrypted is False
    assert json.loads(sealed.unseal(doc["session"], doc["_id"]))["card"] == "4111"
    assert plain.unseal("plain text", SID) == "plain text"


def test_namespace_names_the_database_and_the_collection(kit: StoreKit) -> None:
    assert kit.store(collection="web").namespace == f"{kit.db_name}.web"


# -- reading ----------------------------------------------------------------------------


def test_document_returns_a_document_in_any_state(kit: StoreKit, db: Database[Any]) -> None:
    store = kit.store(delete_flags=True)
    store.set(SID, session(n=1))
    store.destroy(SID)

    doc = store.document(SID)

    assert doc is not None
    assert doc["deleted"] is True
    assert json.loads(doc["session"])["n"] == 1
    assert store.document(OTHER) is None


def test_count_and_flag_counts_count_any_state(kit: StoreKit, db: Database[Any]) -> None:
    now = _clock.now()
    db.sessions.insert_many(
        [
            {"_id": "a", "user": "alice", "expires": now + HOUR},
            {"_id": "b", "user": "alice", "expires": now - HOUR},
            {"_id": "c", "user": "alice", "expires": now + HOUR, "deleted": True},
            {"_id": "d", "user": "bob", "expires": now + HOUR, "deleted": True},
        ]
    )
    store = kit.store()

    assert store.count() == 4
    assert store.count({"user": "alice"}) == 3
    assert store.flag_counts({"user": "alice"}) == (1, 2)
    assert store.flag_counts() == (2, 2)


def test_list_sessions_pages_through_ids_of_every_type_in_server_order(
    kit: StoreKit, db: Database[Any]
) -> None:
    now = _clock.now()
    oid = bson.ObjectId()
    stored_ids: list[Any] = [7, 42.5, "$not-an-operator", "a", "b", {"k": 1}, oid]
    db.sessions.insert_many(
        [{"_id": i, "session": "x" * 100, "expires": now + HOUR} for i in stored_ids]
    )
    db.sessions.insert_one({"_id": "c-expired", "session": "{}", "expires": now - HOUR})
    store = kit.store()

    seen: list[Any] = []
    page = store.list_sessions(store.live_filter(), limit=2)
    while page:
        assert len(page) <= 2
        seen += [doc["_id"] for doc in page]
        page = store.list_sessions(store.live_filter(), after=page[-1]["_id"], limit=2)

    assert seen == stored_ids  # numbers, strings, documents, ObjectIds: BSON's order
    first = store.list_sessions(limit=1)[0]
    assert "session" not in first
    assert first["size"] == len(bson.encode(db.sessions.find_one({"_id": 7})))


def test_list_sessions_reads_a_range_of_the_id_index(
    kit: StoreKit, db: Database[Any], command_log: CommandLog
) -> None:
    store = kit.store(client=kit.client(event_listeners=[command_log], tz_aware=True))
    now = _clock.now()
    db.sessions.insert_many([{"_id": f"s{i:03d}", "expires": now + HOUR} for i in range(300)])

    page = store.list_sessions(store.live_filter(), after="s100", limit=5)
    (sent,) = command_log.commands("aggregate")
    plan = db.command(
        "explain", {"aggregate": "sessions", "pipeline": sent["pipeline"], "cursor": {}}
    )

    assert [d["_id"] for d in page] == ["s101", "s102", "s103", "s104", "s105"]
    planner = (
        plan["stages"][0]["$cursor"]["queryPlanner"] if "stages" in plan else plan["queryPlanner"]
    )
    scan = json.dumps(planner["winningPlan"], default=str)
    assert '"indexName": "_id_"' in scan
    assert '"(\\"s100\\", MaxKey]"' in scan
    assert "COLLSCAN" not in scan
    assert "SKIP" not in scan


def test_list_sessions_takes_a_positive_limit(kit: StoreKit) -> None:
    with pytest.raises(ValueError, match="limit"):
        kit.store().list_sessions(limit=0)


def _tied_sessions(db: Database[Any]) -> None:
    # Expiries shared by several sessions, ids inserted out of order, one without expiry.
    now = _clock.now()
    expiries = [now + HOUR, now + HOUR, now + 2 * HOUR, now + HOUR, now + 3 * HOUR]
    docs = [{"_id": f"s{i}", "expires": expiries[i % 5]} for i in (7, 2, 9, 4, 0, 5, 8, 1, 6, 3)]
    docs.append({"_id": "no-expiry"})
    db.sessions.insert_many(docs)


def test_recent_sessions_are_the_latest_expiries_then_the_first_ids(
    kit: StoreKit, db: Database[Any]
) -> None:
    _tied_sessions(db)
    store = kit.store()
    by_server = [d["_id"] for d in db.sessions.find(sort=[("expires", -1), ("_id", 1)])]

    for limit in range(1, 13):
        assert [d["_id"] for d in store.recent_sessions(limit=limit)] == by_server[:limit]
    others = store.recent_sessions({"_id": {"$ne": "s0"}}, limit=5)  # a tie at the limit
    assert [d["_id"] for d in others] == ["s4", "s9", "s2", "s7", "s1"]
    assert "session" not in store.recent_sessions(limit=1)[0]


def test_recent_sessions_read_backwards_along_the_ttl_index(
    kit: StoreKit, db: Database[Any], command_log: CommandLog
) -> None:
    store = kit.store(client=kit.client(event_listeners=[command_log], tz_aware=True))
    now = _clock.now()
    store.ensure_indexes()
    docs = [{"_id": f"s{i:03d}", "expires": now + i * HOUR} for i in range(300)]
    db.sessions.insert_many(docs)
    command_log.clear()

    recent = store.recent_sessions(store.live_filter(), limit=5)
    first = command_log.commands("aggregate")[0]
    plan = db.command(
        "explain",
        {"aggregate": "sessions", "pipeline": first["pipeline"], "cursor": {}},
        verbosity="executionStats",
    )

    assert [d["_id"] for d in recent] == ["s299", "s298", "s297", "s296", "s295"]
    cursor = plan["stages"][0]["$cursor"]
    scan = json.dumps(cursor["queryPlanner"]["winningPlan"], default=str)
    assert '"indexName": "expires_1"' in scan
    assert '"direction": "backward"' in scan
    assert "SORT" not in scan  # the index gives the order: no sort of the whole set
    assert cursor["executionStats"]["totalKeysExamined"] <= 10


def test_after_id_is_a_range_whatever_the_type(db: Database[Any]) -> None:
    db.sessions.insert_many([{"_id": 1}, {"_id": "a"}, {"_id": "b"}])
    assert ids(db, both({"_id": {"$ne": "b"}}, after_id(1))) == {"a"}
    assert ids(db, both(None, {})) == {1, "a", "b"}


def test_session_stats_counts_each_document_in_one_state(kit: StoreKit, db: Database[Any]) -> None:
    store = kit.store(absolute_lifetime=3600, user_key="user", delete_flags=True)
    for i in range(3):
        store.set(f"alice-{i}", session(user="alice"))
    store.set("bob", session(user="bob"))
    store.set("over-age", session(user="carol"))
    backdate(db, "over-age", createdAt=2 * HOUR)
    store.set("expired", session(user="dave"))
    backdate(db, "expired", expires=2 * HOUR)
    store.set("flagged", session(user="erin"))
    store.destroy("flagged")

    stats = store.session_stats(top=1)

    assert (stats.live, stats.expired, stats.flagged, stats.documents) == (4, 2, 1, 7)
    assert stats.live == store.length()
    assert stats.users == 2
    assert [tuple(u) for u in stats.top_users] == [("alice", 3)]
    assert stats.namespace == f"{kit.db_name}.sessions"
    assert (stats.ttl_index, stats.user_index, stats.indexes_visible) == (
        "expires_1",
        "user_1",
        True,
    )
    assert stats.average_size is not None
    assert stats.average_size > 50


def test_session_stats_of_a_missing_collection(kit: StoreKit) -> None:
    stats = kit.store(create_indexes=False).session_stats()
    assert (stats.documents, stats.live, stats.average_size, stats.ttl_index) == (0, 0, None, None)


def test_session_stats_know_the_indexes_by_key_and_options_not_by_name(
    kit: StoreKit, db: Database[Any]
) -> None:
    db.sessions.create_index("expires", name="expires_1", expireAfterSeconds=3600)
    db.sessions.create_index("user", name="by_user", partialFilterExpression=USER_FILTER)
    store = kit.store(create_indexes=False)

    stats = store.session_stats()

    assert stats.ttl_index is None
    assert stats.ttl_index_problem == (
        "index 'expires_1' has expireAfterSeconds 3600 (the store needs 0)"
    )
    assert (stats.user_index, stats.user_index_problem) == ("by_user", None)


def test_namespace_check_tells_a_missing_database_from_a_missing_collection(
    kit: StoreKit, db: Database[Any]
) -> None:
    store = kit.store(create_indexes=False)
    assert store.namespace_check().database_exists is False
    db.other.insert_one({})
    assert store.namespace_check()[2:5] == (True, False, ["other"])
    store.set(SID, session())
    assert store.namespace_check()[2:4] == (True, True)

    typo = kit.store(create_indexes=False, collection="sesions")
    hint = namespace_hint(typo.namespace_check())
    assert hint == (
        f"database '{kit.db_name}' has no collection 'sesions'; did you mean 'sessions'? "
        "Pass --collection"
    )


# -- revoking and cleaning up -----------------------------------------------------------


def test_flag_documents_flags_what_is_not_flagged_yet(kit: StoreKit, db: Database[Any]) -> None:
    store = kit.store(user_key="user")
    store.set(SID, session(user="alice"))
    store.set(OTHER, session(user="bob"))

    assert store.flag_documents({"user": "alice"}) == 1
    assert store.flag_documents({"user": "alice"}) == 0
    assert store.get(SID) is None
    store.set(SID, session(user="alice"))  # a request writing back what it loaded
    assert store.get(SID) is None
    assert store.get(OTHER) is not None
    assert store.flag_documents() == 1


def test_delete_batches_yields_the_running_total(kit: StoreKit, db: Database[Any]) -> None:
    now = _clock.now()
    db.sessions.insert_many([{"_id": f"old-{i:02d}", "expires": now - HOUR} for i in range(25)])
    db.sessions.insert_many([{"_id": f"new-{i:02d}", "expires": now + HOUR} for i in range(5)])
    store = kit.store()

    totals = list(each(kit, store.delete_batches({"expires": {"$lte": now}}, batch_size=10)))

    assert totals == [10, 20, 25]
    assert ids(db, {}) == {f"new-{i:02d}" for i in range(5)}


def test_delete_batches_spares_a_session_touched_between_batches(
    kit: StoreKit, db: Database[Any]
) -> None:
    now = _clock.now()
    db.sessions.insert_many([{"_id": f"s{i:02d}", "expires": now - HOUR} for i in range(20)])
    store = kit.store()
    steps = each(kit, store.delete_batches({"expires": {"$lte": now}}, batch_size=10))

    assert next(steps) == 10
    # Between two batches, every remaining session is touched: none is expired now.
    db.sessions.update_many({}, {"$set": {"expires": now + HOUR}})

    assert list(steps) in ([], [10])  # a batch read before the touch deletes nothing
    assert db.sessions.count_documents({}) == 10


def test_delete_batches_takes_a_positive_batch_size(kit: StoreKit) -> None:
    with pytest.raises(ValueError, match="batch_size"):
        list(each(kit, kit.store().delete_batches({}, batch_size=0)))


# -- indexes ------------------------------------------------------------------------------


def test_setup_indexes_says_what_it_created_and_what_was_there(
    kit: StoreKit, db: Database[Any]
) -> None:
    store = kit.store(user_key="user", create_indexes=False)

    first = store.setup_indexes()
    second = store.setup_indexes(flagged_index=True)

    assert first == (["expires_1", "user_1"], [])
    assert second == (["deleted_1"], ["expires_1", "user_1"])
    flagged = {ix["name"]: ix for ix in db.sessions.list_indexes()}["deleted_1"]
    assert flagged["partialFilterExpression"] == FLAGGED_INDEX["partialFilterExpression"]


def test_setup_indexes_names_an_identical_index_as_it_is_called(
    kit: StoreKit, db: Database[Any]
) -> None:
    db.sessions.create_index("expires", name="sessions_ttl", expireAfterSeconds=0)
    store = kit.store(create_indexes=False)

    assert store.setup_indexes() == ([], ["sessions_ttl"])


def test_setup_indexes_reports_a_conflict_before_creating_anything(
    kit: StoreKit, db: Database[Any]
) -> None:
    db.sessions.create_index("deleted", name="deleted_1")  # not partial
    store = kit.store(create_indexes=False)

    with pytest.raises(IndexConflict, match="deleted_1"):
        store.setup_indexes(flagged_index=True)
    assert "expires_1" not in {ix["name"] for ix in db.sessions.list_indexes()}


def test_enable_pre_images(kit: StoreKit, db: Database[Any]) -> None:
    store = kit.store()
    store.set(SID, session())

    store.enable_pre_images()

    (info,) = db.list_collections(filter={"name": "sessions"})
    assert info["options"]["changeStreamPreAndPostImages"] == {"enabled": True}


# -- the command line uses them: the drift is gone -------------------------------------


def _mongosession(*argv: str) -> Any:
    done = subprocess.run(
        [sys.executable, "-m", "mongosession", *argv],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=60,
        env=os.environ,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_the_command_line_lists_in_one_order_with_or_without_a_limit(
    test_uri: str, db: Database[Any], capsys: pytest.CaptureFixture[str]
) -> None:
    _tied_sessions(db)

    def listed(limit: int) -> list[str]:
        assert main(["--uri", test_uri, "list", "--limit", str(limit), "--json"]) == 0
        return [s["id"] for s in json.loads(capsys.readouterr().out)["sessions"]]

    everything = listed(0)  # a page at a time by _id, sorted here
    assert everything[-1] == "no-expiry"
    assert len(everything) == 11
    for limit in (1, 2, 4, 7, 10, 11):
        assert listed(limit) == everything[:limit]  # recent_sessions, on the server


def test_the_command_line_counts_a_session_past_its_absolute_lifetime_as_ended(
    test_uri: str, db: Database[Any]
) -> None:
    # Sessions written before the application set absolute_lifetime=3600: one of
    # them began two hours ago, and its expiry is still to come.
    with MongoStore(uri=test_uri, timestamps=True, user_key="user") as before:
        before.set("fresh", session(user="alice"))
        before.set("old", session(user="alice"))
    backdate(db, "old", createdAt=2 * HOUR)
    with MongoStore(uri=test_uri, absolute_lifetime=3600) as app:
        assert app.get("old") is None
        assert app.length() == 1

    stats = _mongosession("--uri", test_uri, "--absolute-lifetime", "3600", "stats", "--json")
    listed = _mongosession("--uri", test_uri, "list", "--absolute-lifetime", "3600", "--json")
    shown = _mongosession("--uri", test_uri, "show", "old", "--absolute-lifetime", "3600", "--json")

    assert (stats["live"], stats["expired"], stats["documents"]) == (1, 1, 2)
    assert stats["top_users"] == [{"user": "alice", "sessions": 1}]
    assert [s["id"] for s in listed["sessions"]] == ["fresh"]
    assert shown["state"] == "expired"
