"""Unacknowledged writes (``write_concern={"w": 0}``, connect-mongo's ``writeOperationOptions``).

The server answers no write, so no result carries counts: every write path works and
emits connect-mongo's events, the counts that are returned come from a read just
before the write, and the guarantees that need the server's answer are narrowed as
docs/options.md#unacknowledged-writes says. Every test runs on both stores (``kit``).

A write sent with w=0 may be applied after the next command of another connection:
assertions on the database poll (:func:`eventually`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from mongosession import IndexConflict, SessionLimitReached, _clock
from tests.support.monitoring import CommandLog
from tests.support.sessions import OTHER, SID, cookie_session, session
from tests.support.stores import StoreKit

W0 = {"w": 0}
THIRD = "3rd_session_id_for_unacknowledged_"


def eventually(check: Callable[[], bool], timeout: float = 5.0) -> None:
    """Wait until ``check()`` holds: an unacknowledged write lands a moment later."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "the unacknowledged write never landed"
        time.sleep(0.02)


def events_of(store: Any) -> list[tuple[str, str]]:
    heard: list[tuple[str, str]] = []
    for event in ("create", "update", "set", "touch", "destroy"):
        store.on(event, lambda sid, event=event: heard.append((event, sid)))
    return heard


def present(db: Any, _id: str) -> Callable[[], bool]:
    return lambda: db.sessions.find_one({"_id": _id}) is not None


def absent(db: Any, _id: str) -> Callable[[], bool]:
    return lambda: db.sessions.find_one({"_id": _id}) is None


def seed(db: Any, _id: str, **data: Any) -> None:
    """A live session written with an acknowledged write (the tests' own client)."""
    expires = _clock.after(_clock.now(), 3600)
    db.sessions.insert_one(
        {"_id": _id, "session": '{"cookie":{},"n":1}', "expires": expires, **data}
    )


# -- the writes and their events ------------------------------------------------------


def test_set_writes_and_reports_update_and_set_as_connect_mongo(kit: StoreKit, db: Any) -> None:
    log = CommandLog()
    store = kit.store(client=kit.client(event_listeners=[log]), write_concern=W0)
    heard = events_of(store)
    store.set(SID, session(n=1))
    # connect-mongo's set emits "update" when the result has no upserted count.
    assert heard == [("update", SID), ("set", SID)]
    assert log.commands("update")[0]["writeConcern"] == W0
    eventually(present(db, SID))
    assert store.get(SID) == session(n=1)


def test_a_client_with_w0_in_its_uri_is_unacknowledged_too(kit: StoreKit, db: Any) -> None:
    store = kit.store(uri=f"{kit.uri}?w=0")
    heard = events_of(store)
    store.set(SID, session(n=1))
    assert heard == [("update", SID), ("set", SID)]
    eventually(present(db, SID))


def test_create_inserts_and_reports_create(kit: StoreKit, db: Any) -> None:
    store = kit.store(write_concern=W0)
    heard = events_of(store)
    store.create(SID, session(n=1))
    assert heard == [("create", SID), ("set", SID)]
    eventually(present(db, SID))


def test_create_of_a_taken_id_is_not_reported(kit: StoreKit, db: Any) -> None:
    seed(db, SID)
    store = kit.store(write_concern=W0)
    store.create(SID, session(n=2))  # the insert fails on the server, unseen
    time.sleep(0.2)
    assert db.sessions.find_one({"_id": SID})["session"] == '{"cookie":{},"n":1}'


def test_save_writes_and_returns_true(kit: StoreKit, db: Any) -> None:
    store = kit.store(write_concern=W0)
    kit.store().set(SID, session(n=1))
    loaded = store.get(SID)
    heard = events_of(store)
    loaded["n"] = 2
    assert store.save(SID, loaded) is True
    assert heard == [("update", SID), ("set", SID)]
    eventually(lambda: store.get(SID) == session(n=2))


def test_save_of_a_gone_session_writes_nothing_though_it_cannot_say_so(
    kit: StoreKit, db: Any
) -> None:
    store = kit.store(write_concern=W0)
    assert store.save(SID, session(n=1)) is True  # sent; whether it matched is unknown
    time.sleep(0.2)
    assert db.sessions.count_documents({}) == 0  # update-only: nothing resurrected


def test_save_after_a_concurrent_change_drops_this_change(kit: StoreKit, db: Any) -> None:
    acknowledged = kit.store()
    acknowledged.set(SID, session(a=1, b=1))
    store = kit.store(write_concern=W0)
    mine = store.get(SID)
    theirs = acknowledged.get(SID)
    theirs["a"] = 2
    assert acknowledged.save(SID, theirs)
    mine["b"] = 2
    assert store.save(SID, mine) is True
    time.sleep(0.2)
    # The compare-and-swap missed: their change stays, this one is lost (not merged).
    assert acknowledged.get(SID) == session(a=2, b=1)


def test_touch_moves_the_expiry_and_reports_touch(kit: StoreKit, db: Any) -> None:
    kit.store().set(SID, session(n=1))
    before = db.sessions.find_one()["expires"]
    store = kit.store(write_concern=W0)
    heard = events_of(store)
    later = _clock.after(_clock.now(), 30 * 24 * 3600)  # past the ttl of the first write
    store.touch(SID, cookie_session(later))
    assert heard == [("touch", SID)]
    eventually(lambda: db.sessions.find_one()["expires"] > before)


def test_touch_of_a_gone_session_creates_nothing_and_still_reports_touch(
    kit: StoreKit, db: Any
) -> None:
    store = kit.store(write_concern=W0)
    heard = events_of(store)
    store.touch(SID, session(n=1))
    assert heard == [("touch", SID)]  # connect-mongo's, with w: 0
    time.sleep(0.2)
    assert db.sessions.count_documents({}) == 0


# -- ending sessions ----------------------------------------------------------------------


@pytest.mark.parametrize("delete_flags", [False, True])
def test_destroy_ends_a_live_session_and_says_it_was_live(
    kit: StoreKit, db: Any, delete_flags: bool
) -> None:
    seed(db, SID)
    store = kit.store(write_concern=W0, delete_flags=delete_flags)
    heard = events_of(store)
    assert store.destroy(SID) is True
    assert heard == [("destroy", SID)]
    if delete_flags:
        eventually(lambda: db.sessions.find_one({"_id": SID}).get("deleted") is True)
    else:
        eventually(absent(db, SID))
    assert store.get(SID) is None


def test_destroy_of_a_missing_session_says_it_was_not_live(kit: StoreKit) -> None:
    store = kit.store(write_concern=W0)
    heard = events_of(store)
    assert store.destroy(SID) is False
    assert heard == [("destroy", SID)]


def test_regenerate_moves_a_live_session(kit: StoreKit, db: Any) -> None:
    seed(db, SID)
    store = kit.store(write_concern=W0)
    heard = events_of(store)
    assert store.regenerate(SID, OTHER, session(n=2)) is True
    assert heard == [("destroy", SID), ("create", OTHER), ("set", OTHER)]
    eventually(absent(db, SID))
    eventually(present(db, OTHER))


def test_regenerate_of_an_ended_session_leaves_nothing(kit: StoreKit, db: Any) -> None:
    store = kit.store(write_concern=W0)
    assert store.regenerate(SID, OTHER, session(n=2)) is False
    time.sleep(0.2)
    assert db.sessions.count_documents({}) == 0  # the new record was taken back


def test_flag_deletion_and_cleanup_count_what_they_sent(kit: StoreKit, db: Any) -> None:
    for _id in (SID, OTHER, THIRD):
        seed(db, _id)
    store = kit.store(write_concern=W0)
    assert store.flag_deletion(SID) == 1
    eventually(lambda: db.sessions.count_documents({"deleted": True}) == 1)
    assert store.flag_deletion() == 2  # the two still unflagged
    eventually(lambda: db.sessions.count_documents({"deleted": True}) == 3)
    assert store.cleanup() == 3
    eventually(lambda: db.sessions.count_documents({}) == 0)


@pytest.mark.parametrize("delete_flags", [False, True])
def test_destroy_user_counts_the_sessions_it_ended(
    kit: StoreKit, db: Any, delete_flags: bool
) -> None:
    for _id in (SID, OTHER):
        seed(db, _id, user="alice")
    seed(db, THIRD, user="bob")
    store = kit.store(write_concern=W0, user_key="user", delete_flags=delete_flags)
    assert store.destroy_user("alice") == 2
    eventually(lambda: store.sessions_of("alice") == {})
    assert list(store.sessions_of("bob")) == [THIRD]


def test_clear_deletes_everything(kit: StoreKit, db: Any) -> None:
    seed(db, SID)
    kit.store(write_concern=W0).clear()
    eventually(lambda: db.sessions.count_documents({}) == 0)


# -- sessions per user, indexes, the sweeper -----------------------------------------------


def test_a_login_over_the_limit_evicts_the_oldest(kit: StoreKit, db: Any) -> None:
    store = kit.store(write_concern=W0, user_key="user", max_sessions_per_user=1)
    store.set(SID, session(user="alice"))
    eventually(present(db, SID))
    store.set(OTHER, session(user="alice"))
    eventually(absent(db, SID))
    eventually(present(db, OTHER))


def test_a_refused_login_over_the_limit_writes_nothing(kit: StoreKit, db: Any) -> None:
    store = kit.store(
        write_concern=W0, user_key="user", max_sessions_per_user=1, on_session_limit="refuse"
    )
    store.set(SID, session(user="alice"))
    eventually(present(db, SID))
    with pytest.raises(SessionLimitReached):
        store.set(OTHER, session(user="alice"))
    time.sleep(0.2)
    assert db.sessions.find_one({"_id": OTHER}) is None


def test_a_refused_login_on_an_existing_session_is_taken_back(kit: StoreKit, db: Any) -> None:
    # The race "refuse" guards against: the count before the write saw room (here:
    # skipped), the count after it sees the limit passed, and the session that
    # gained the user gets its payload back; with w=0 the end is sent too, and
    # matches nothing once the payload is back.
    store = kit.store(
        write_concern=W0, user_key="user", max_sessions_per_user=1, on_session_limit="refuse"
    )
    kit.store(user_key="user").set(SID, session(user="alice"))
    kit.store().set(OTHER, session(n=1))
    anonymous = store.get(OTHER)
    raw = getattr(store, "store", store)

    async def no_check_async(*args: Any, **kwargs: Any) -> None:
        return None

    def no_check(*args: Any, **kwargs: Any) -> None:
        return None

    raw._check_session_limit = no_check_async if kit.flavour == "async" else no_check
    anonymous["user"] = "alice"
    with pytest.raises(SessionLimitReached):
        store.save(OTHER, anonymous)
    time.sleep(0.2)
    assert kit.store().get(OTHER) == session(n=1)
    assert db.sessions.find_one({"_id": OTHER}).get("user") is None


def test_index_creation_is_acknowledged_so_a_conflict_is_reported(kit: StoreKit, db: Any) -> None:
    db.sessions.create_index([("expires", 1)], name="expires_1", expireAfterSeconds=60)
    with pytest.raises(IndexConflict):
        kit.store(write_concern=W0).ensure_indexes()


def test_the_interval_sweep_counts_what_it_sent(kit: StoreKit, db: Any) -> None:
    past = _clock.now() - timedelta(minutes=1)
    db.sessions.insert_many([{"_id": i, "session": "{}", "expires": past} for i in (SID, OTHER)])
    store = kit.store(write_concern=W0, auto_remove="interval")
    raw = getattr(store, "store", store)
    removed = raw._remove_expired()
    assert (kit.run(removed) if kit.flavour == "async" else removed) == 2
    eventually(lambda: db.sessions.count_documents({}) == 0)
