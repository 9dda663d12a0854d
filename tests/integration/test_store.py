"""The store behaviour suite: every test runs against MongoStore and AsyncMongoStore."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import datetime, timedelta
from typing import Any

import pytest
from pymongo import MongoClient

import mongosession
from mongosession import (
    SessionConflict,
    SessionIdCollision,
    StoredSession,
    _clock,
)
from mongosession.web.calls import Get, Save
from tests.support.fixtures import AUTH_ADMIN
from tests.support.monitoring import CommandLog
from tests.support.sessions import OTHER, SID, cookie_session, session
from tests.support.stores import Program, StoreKit


@pytest.fixture
def frozen(monkeypatch: pytest.MonkeyPatch) -> list[datetime]:
    """Freeze the store's clock; tests move it by changing ``frozen[0]``."""
    moment = [_clock.now()]
    monkeypatch.setattr(_clock, "now", lambda: moment[0])
    return moment


# -- the stored document ------------------------------------------------------


def test_set_writes_the_document_connect_mongo_writes(kit: StoreKit, db: Any) -> None:
    store = kit.store(touch_after=0)  # connect-mongo's default touchAfter
    data = session(user="alice", n=1)
    store.set(SID, data)
    doc = db.sessions.find_one({"_id": SID})
    assert set(doc) == {"_id", "session", "expires"}
    assert isinstance(doc["_id"], str)
    assert isinstance(doc["session"], str)
    assert doc["session"] == json.dumps(data, separators=(",", ":"))
    assert isinstance(doc["expires"], datetime)


def test_cookie_expiry_sets_the_document_expiry(kit: StoreKit, db: Any) -> None:
    expires = _clock.after(_clock.now(), 3600)
    kit.store(ttl=60).set(SID, cookie_session(expires))
    assert db.sessions.find_one()["expires"] == expires


def test_ttl_sets_the_expiry_when_the_cookie_has_none(
    kit: StoreKit, db: Any, frozen: list[datetime]
) -> None:
    kit.store(ttl=90).set(SID, session())
    assert db.sessions.find_one()["expires"] == frozen[0] + timedelta(seconds=90)


def test_by_default_a_write_records_its_time_for_touch_after(
    kit: StoreKit, db: Any, frozen: list[datetime]
) -> None:
    store = kit.store(ttl=600)  # touch_after="auto": a window of 5% of 600 s
    store.set(SID, session())
    assert db.sessions.find_one()["lastModified"] == frozen[0]
    loaded = store.get(SID)
    frozen[0] += timedelta(seconds=29)
    store.touch(SID, loaded)
    assert db.sessions.find_one()["lastModified"] == frozen[0] - timedelta(seconds=29)
    frozen[0] += timedelta(seconds=2)
    store.touch(SID, loaded)
    assert db.sessions.find_one()["lastModified"] == frozen[0]


def test_touch_after_writes_last_modified(kit: StoreKit, db: Any, frozen: list[datetime]) -> None:
    kit.store(touch_after=60).set(SID, session())
    assert db.sessions.find_one()["lastModified"] == frozen[0]


def test_timestamps_keep_created_at_and_move_updated_at(
    kit: StoreKit, db: Any, frozen: list[datetime]
) -> None:
    store = kit.store(timestamps=True)
    created = frozen[0]
    store.set(SID, session(n=1))
    frozen[0] = created + timedelta(seconds=5)
    store.set(SID, session(n=2))
    doc = db.sessions.find_one()
    assert doc["createdAt"] == created
    assert doc["updatedAt"] == created + timedelta(seconds=5)


def test_get_returns_what_set_stored(kit: StoreKit) -> None:
    store = kit.store()
    data = session(user="alice", cart=[1, 2, {"x": None}], ok=True, price=1.5)
    store.set(SID, data)
    loaded = store.get(SID)
    assert loaded == data
    assert isinstance(loaded, StoredSession)
    assert isinstance(loaded, dict)


def test_get_of_an_unknown_id_is_none(kit: StoreKit) -> None:
    assert kit.store().get(SID) is None


def test_get_ignores_an_expired_document_the_ttl_monitor_has_not_removed(
    kit: StoreKit, db: Any
) -> None:
    store = kit.store()
    store.set(SID, session())
    db.sessions.update_one({"_id": SID}, {"$set": {"expires": _clock.now() - timedelta(seconds=1)}})
    assert store.get(SID) is None
    assert store.length() == 0
    assert store.all() == {}


def test_a_document_without_expires_is_live(kit: StoreKit, db: Any) -> None:
    db.sessions.insert_one({"_id": SID, "session": json.dumps(session(n=1))})
    assert kit.store().get(SID) == session(n=1)


def test_all_and_length_list_live_sessions(kit: StoreKit) -> None:
    store = kit.store()
    store.set(SID, session(n=1))
    store.set(OTHER, session(n=2))
    assert store.length() == 2
    assert store.all() == {SID: session(n=1), OTHER: session(n=2)}


def test_clear_deletes_every_session_and_keeps_the_indexes(kit: StoreKit, db: Any) -> None:
    store = kit.store()
    store.set(SID, session())
    store.set(OTHER, session())
    store.clear()
    assert db.sessions.count_documents({}) == 0
    assert "expires_1" in db.sessions.index_information()


# -- no resurrection ------------------------------------------------------------


def test_save_never_creates_a_session(kit: StoreKit, db: Any) -> None:
    assert kit.store().save(SID, session(n=1)) is False
    assert db.sessions.count_documents({}) == 0


def test_save_updates_a_loaded_session(kit: StoreKit) -> None:
    store = kit.store()
    store.set(SID, session(n=1))
    loaded = store.get(SID)
    loaded["n"] = 2
    assert store.save(SID, loaded) is True
    assert store.get(SID) == session(n=2)


def test_save_after_destroy_does_not_resurrect(kit: StoreKit, db: Any) -> None:
    store = kit.store()
    store.set(SID, session(user="alice"))
    loaded = store.get(SID)
    store.destroy(SID)  # a logout in another request
    loaded["n"] = 1
    assert store.save(SID, loaded) is False
    assert db.sessions.count_documents({}) == 0


def test_set_after_destroy_recreates_without_delete_flags(kit: StoreKit) -> None:
    # express-session's upsert semantics, kept for set(): this is the race that
    # delete_flags and save() exist to close.
    store = kit.store()
    store.set(SID, session(n=1))
    store.destroy(SID)
    store.set(SID, session(n=2))
    assert store.get(SID) == session(n=2)


def test_destroy_with_delete_flags_flags_the_document(kit: StoreKit, db: Any) -> None:
    store = kit.store(delete_flags=True)
    store.set(SID, session())
    store.destroy(SID)
    doc = db.sessions.find_one({"_id": SID})
    assert doc["deleted"] is True
    assert store.get(SID) is None


def test_a_flagged_session_is_never_recreated_nor_unflagged(kit: StoreKit, db: Any) -> None:
    store = kit.store(delete_flags=True)
    store.set(SID, session(n=1))
    loaded = store.get(SID)
    store.destroy(SID)
    store.set(SID, session(n=2))
    assert store.save(SID, loaded) is False
    store.touch(SID, session())
    docs = list(db.sessions.find())
    assert len(docs) == 1
    assert docs[0]["deleted"] is True
    assert json.loads(docs[0]["session"]) == session(n=1)
    assert store.get(SID) is None


def test_set_never_unflags_a_session_flagged_without_delete_flags(kit: StoreKit, db: Any) -> None:
    # Without delete_flags, set() upserts by _id alone (the server's fast path): a
    # session flagged by flag_deletion() may get the new data, but keeps its flag,
    # so it stays gone, and cleanup() removes it.
    store = kit.store()
    store.set(SID, session(n=1))
    assert store.flag_deletion(SID) == 1
    store.set(SID, session(n=2))
    store.touch(SID, session())
    assert store.get(SID) is None
    assert store.length() == 0
    (doc,) = db.sessions.find()
    assert doc["deleted"] is True
    assert store.cleanup() == 1
    assert db.sessions.count_documents({}) == 0


def test_clear_with_delete_flags_flags_everything(kit: StoreKit, db: Any) -> None:
    store = kit.store(delete_flags=True)
    store.set(SID, session())
    store.set(OTHER, session())
    store.clear()
    assert db.sessions.count_documents({"deleted": True}) == 2
    assert store.length() == 0


def test_flag_deletion_and_cleanup(kit: StoreKit, db: Any) -> None:
    store = kit.store()
    store.set(SID, session())
    store.set(OTHER, session())
    assert store.flag_deletion(SID) == 1
    assert store.get(SID) is None
    assert store.get(OTHER) is not None
    assert store.flag_deletion() == 1  # the other one; SID was flagged already
    assert store.cleanup() == 2
    assert db.sessions.count_documents({}) == 0


def test_cleanup_spares_sessions_flagged_within_older_than(
    kit: StoreKit, db: Any, frozen: list[datetime]
) -> None:
    store = kit.store(delete_flags=True)
    store.set(SID, session())
    store.set(OTHER, session())
    store.destroy(SID)
    frozen[0] += timedelta(seconds=30)
    store.destroy(OTHER)
    frozen[0] += timedelta(seconds=5)
    assert store.cleanup(older_than=10) == 1
    assert [d["_id"] for d in db.sessions.find()] == [OTHER]


def test_cleanup_removes_expired_sessions_too(kit: StoreKit, db: Any) -> None:
    store = kit.store(auto_remove="disabled")
    store.set(SID, session())
    store.set(OTHER, session())
    db.sessions.update_one({"_id": SID}, {"$set": {"expires": _clock.now() - timedelta(seconds=1)}})
    assert store.cleanup() == 1
    assert [d["_id"] for d in db.sessions.find()] == [OTHER]


def test_touch_of_a_missing_session_is_a_quiet_no_op(kit: StoreKit, db: Any) -> None:
    kit.store().touch(SID, session())
    assert db.sessions.count_documents({}) == 0


def test_touch_moves_the_expiry_and_leaves_the_payload(
    kit: StoreKit, db: Any, frozen: list[datetime]
) -> None:
    store = kit.store(ttl=60)
    store.set(SID, session(n=1))
    before = db.sessions.find_one()
    frozen[0] += timedelta(seconds=30)
    store.touch(SID, session(n=999))
    after = db.sessions.find_one()
    assert after["session"] == before["session"]
    assert after["expires"] == before["expires"] + timedelta(seconds=30)


def test_touch_never_revives_an_expired_session(
    kit: StoreKit, db: Any, frozen: list[datetime]
) -> None:
    store = kit.store(ttl=60)
    store.set(SID, session())
    frozen[0] += timedelta(seconds=61)
    store.touch(SID, session())
    assert db.sessions.find_one()["expires"] < frozen[0]
    assert store.get(SID) is None


# -- touch_after ------------------------------------------------------------------


def test_touch_inside_touch_after_sends_no_command(
    kit: StoreKit, command_log: CommandLog, frozen: list[datetime]
) -> None:
    store = kit.store(client=kit.client(event_listeners=[command_log]), touch_after=60)
    store.set(SID, session())
    loaded = store.get(SID)
    frozen[0] += timedelta(seconds=59)
    command_log.clear()
    store.touch(SID, loaded)
    assert command_log.count() == 0


def test_touch_after_the_window_writes_once(
    kit: StoreKit, db: Any, command_log: CommandLog, frozen: list[datetime]
) -> None:
    store = kit.store(client=kit.client(event_listeners=[command_log]), touch_after=60)
    store.set(SID, session())
    loaded = store.get(SID)
    frozen[0] += timedelta(seconds=60)
    command_log.clear()
    store.touch(SID, loaded)
    assert command_log.names() == ["update"]
    assert db.sessions.find_one()["lastModified"] == frozen[0]


# -- absolute lifetime --------------------------------------------------------------


def test_absolute_lifetime_caps_the_expiry_of_a_new_session(
    kit: StoreKit, db: Any, frozen: list[datetime]
) -> None:
    kit.store(ttl=3600, absolute_lifetime=600).create(SID, session())
    assert db.sessions.find_one()["expires"] == frozen[0] + timedelta(seconds=600)


def test_touching_never_extends_past_the_absolute_lifetime(
    kit: StoreKit, db: Any, frozen: list[datetime]
) -> None:
    store = kit.store(ttl=120, absolute_lifetime=300)
    start = frozen[0]
    store.set(SID, session())
    for minute in range(1, 7):  # a touch every minute for six minutes
        frozen[0] = start + timedelta(minutes=minute)
        loaded = store.get(SID)
        if minute < 5:
            assert loaded is not None
            store.touch(SID, loaded)
            assert db.sessions.find_one()["expires"] <= start + timedelta(seconds=300)
        else:
            assert loaded is None


def test_absolute_lifetime_holds_through_set_and_save(
    kit: StoreKit, db: Any, frozen: list[datetime]
) -> None:
    store = kit.store(ttl=3600, absolute_lifetime=300)
    start = frozen[0]
    store.set(SID, session(n=1))
    frozen[0] = start + timedelta(seconds=200)
    loaded = store.get(SID)
    loaded["n"] = 2
    assert store.save(SID, loaded)
    store.set(SID, session(n=3))
    doc = db.sessions.find_one()
    assert doc["createdAt"] == start
    assert doc["expires"] == start + timedelta(seconds=300)


# -- concurrency ---------------------------------------------------------------------


def test_concurrent_changes_to_different_keys_are_both_kept(kit: StoreKit) -> None:
    store = kit.store()
    store.set(SID, session(a=0, b=0))
    first, second = store.get(SID), store.get(SID)
    first["a"] = 1
    second["b"] = 2
    del second["cookie"]["path"]
    assert store.save(SID, first)
    assert store.save(SID, second)
    stored = store.get(SID)
    assert (stored["a"], stored["b"]) == (1, 2)
    assert "path" not in stored["cookie"]  # the last writer's cookie


def test_a_concurrent_change_to_the_same_key_is_surfaced(kit: StoreKit) -> None:
    store = kit.store()
    store.set(SID, session(n=0))
    first, second = store.get(SID), store.get(SID)
    first["n"] = 1
    second["n"] = 2
    assert store.save(SID, first)
    with pytest.raises(SessionConflict) as info:
        store.save(SID, second)
    assert info.value.keys == ["n"]
    assert store.get(SID)["n"] == 1


def test_the_same_value_written_concurrently_is_still_a_conflict(kit: StoreKit) -> None:
    # Two requests that each add one to 0 both write 1: merging them would lose one.
    store = kit.store()
    store.set(SID, session(n=0))
    first, second = store.get(SID), store.get(SID)
    first["n"] += 1
    second["n"] += 1
    assert store.save(SID, first)
    with pytest.raises(SessionConflict):
        store.save(SID, second)


def test_a_removed_key_merges_as_a_removal(kit: StoreKit) -> None:
    store = kit.store()
    store.set(SID, session(a=1, b=1))
    first, second = store.get(SID), store.get(SID)
    del first["a"]
    second["b"] = 2
    assert store.save(SID, first)
    assert store.save(SID, second)
    assert store.get(SID) == session(b=2)


def increment(key: str, times: int) -> Program:
    """Load, add one, save; retry on a surfaced conflict. Returns the conflicts seen."""
    conflicts = 0
    for _ in range(times):
        while True:
            loaded = yield Get(SID)
            loaded[key] += 1
            try:
                saved = yield Save(SID, loaded)
            except SessionConflict:
                conflicts += 1
                continue
            assert saved
            break
    return conflicts


def test_parallel_increments_of_one_key_are_exact(kit: StoreKit) -> None:
    store = kit.store()
    store.set(SID, session(n=0))
    conflicts = kit.concurrently([increment("n", 10) for _ in range(10)])
    assert store.get(SID)["n"] == 100
    assert sum(conflicts) > 0  # the interleavings were real, and each one was surfaced


def test_parallel_increments_of_different_keys_are_all_kept(kit: StoreKit) -> None:
    store = kit.store()
    keys = [f"k{i}" for i in range(8)]
    store.set(SID, session(**dict.fromkeys(keys, 0)))
    conflicts = kit.concurrently([increment(k, 5) for k in keys])
    assert {k: store.get(SID)[k] for k in keys} == dict.fromkeys(keys, 5)
    assert sum(conflicts) == 0  # different keys always merge


def test_create_refuses_an_existing_id(kit: StoreKit, db: Any) -> None:
    store = kit.store()
    store.create(SID, session(owner="first"))
    with pytest.raises(SessionIdCollision):
        store.create(SID, session(owner="second"))
    assert db.sessions.count_documents({}) == 1
    assert store.get(SID)["owner"] == "first"


# -- indexes -------------------------------------------------------------------------


def test_native_auto_remove_creates_connect_mongos_ttl_index(kit: StoreKit, db: Any) -> None:
    kit.store().get(SID)
    index = db.sessions.index_information()["expires_1"]
    assert index["key"] == [("expires", 1)]
    assert index["expireAfterSeconds"] == 0


def test_ensure_indexes_is_idempotent(kit: StoreKit, db: Any) -> None:
    store = kit.store(user_key="user")
    store.ensure_indexes()
    store.ensure_indexes()
    assert set(db.sessions.index_information()) == {"_id_", "expires_1", "user_1"}


def test_an_identical_index_made_beforehand_is_accepted(kit: StoreKit, db: Any) -> None:
    db.sessions.create_index("expires", name="made_by_ops", expireAfterSeconds=0)
    store = kit.store()
    store.set(SID, session())
    assert set(db.sessions.index_information()) == {"_id_", "made_by_ops"}


def test_a_conflicting_index_is_reported_clearly(kit: StoreKit, db: Any) -> None:
    db.sessions.create_index("expires", name="expires_1", expireAfterSeconds=3600)
    store = kit.store()
    with pytest.raises(mongosession.IndexConflict, match="expires_1"):
        store.ensure_indexes()
    with pytest.raises(mongosession.IndexConflict):
        store.get(SID)


def test_create_indexes_false_creates_none(kit: StoreKit, db: Any) -> None:
    kit.store(create_indexes=False).set(SID, session())
    assert set(db.sessions.index_information()) == {"_id_"}


def test_disabled_auto_remove_creates_no_ttl_index(kit: StoreKit, db: Any) -> None:
    kit.store(auto_remove="disabled").set(SID, session())
    assert set(db.sessions.index_information()) == {"_id_"}


def test_the_indexes_come_with_the_first_operation_not_the_constructor(
    kit: StoreKit, command_log: CommandLog
) -> None:
    store = kit.store(client=kit.client(event_listeners=[command_log]))
    assert command_log.count() == 0
    store.get(SID)
    assert "createIndexes" in command_log.names()
    command_log.clear()
    store.get(SID)
    assert command_log.names() == ["find"]


def pause(kit: StoreKit, seconds: float) -> None:
    """Wait, letting the async store's background task run on the test's loop."""
    if kit.loop is not None:
        kit.run(asyncio.sleep(seconds))
    else:
        time.sleep(seconds)


def test_interval_auto_remove_deletes_expired_sessions_until_closed(kit: StoreKit, db: Any) -> None:
    store = kit.store(auto_remove="interval", auto_remove_interval=0.05)
    store.set(SID, session())
    assert "expires_1" not in db.sessions.index_information()
    past = _clock.now() - timedelta(seconds=1)
    db.sessions.insert_one({"_id": OTHER, "session": "{}", "expires": past})
    for _ in range(100):
        if not db.sessions.count_documents({"_id": OTHER}):
            break
        pause(kit, 0.05)
    assert db.sessions.count_documents({"_id": OTHER}) == 0
    assert db.sessions.count_documents({"_id": SID}) == 1
    store.close()
    db.sessions.insert_one({"_id": OTHER, "session": "{}", "expires": past})
    pause(kit, 0.3)
    assert db.sessions.count_documents({"_id": OTHER}) == 1


def test_missing_index_privilege_is_reported_clearly(kit: StoreKit, auth_mongod: Any) -> None:
    admin_uri = f"mongodb://{AUTH_ADMIN[0]}:{AUTH_ADMIN[1]}@127.0.0.1:{auth_mongod.port}/admin"
    with MongoClient(admin_uri) as admin:
        name = f"app_{kit.flavour}"
        # An application account that may read and write but not create indexes.
        admin[name].command(
            "createRole",
            "sessions_rw",
            privileges=[
                {
                    "resource": {"db": name, "collection": ""},
                    "actions": ["find", "insert", "update", "remove", "listIndexes"],
                }
            ],
            roles=[],
        )
        admin[name].command("createUser", "app", pwd="app-password", roles=["sessions_rw"])
        app_uri = f"mongodb://app:app-password@127.0.0.1:{auth_mongod.port}/{name}"
        store = kit.store(uri=app_uri)
        with pytest.raises(mongosession.IndexPermissionError, match="ensure-indexes"):
            store.set(SID, session())
        # Once an administrator made the index, the application account works.
        kit.store(client=kit.client(admin_uri), db_name=name).ensure_indexes()
        store.set(SID, session(n=1))
        assert store.get(SID) == session(n=1)
        admin.drop_database(name)
