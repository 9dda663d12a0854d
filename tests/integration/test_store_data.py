"""Store behaviour, part two: payloads, ids, users, events, clients and bad input.

Every test runs against MongoStore and AsyncMongoStore (the ``kit`` fixture). The
checks that need no server (options, the codecs alone, ids) are tests/unit's.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import pickle
import time
from datetime import datetime
from typing import Any

import pytest
from bson import ObjectId

from mongosession import (
    BsonCodec,
    SessionEncodingError,
    SessionTooLarge,
    StoreUnavailable,
    _clock,
)
from mongosession.testing.localdb import free_port
from tests.support.monitoring import CommandLog
from tests.support.sessions import OTHER, SID, cookie_session, session
from tests.support.stores import StoreKit

HOSTILE = {
    "$where": "1",
    "a.b": {"c.d": 1, "$gt": [{"$ne": None}]},
    "_id": "x",
    "cookie%": 1,
    "n\0ul": 2,
}


# -- codecs ------------------------------------------------------------------------


@pytest.mark.parametrize("codec", ["json", "bson-escaped"])  # raw bson: test_store_bson_keys.py
def test_hostile_keys_survive_insert_then_update(kit: StoreKit, db: Any, codec: str) -> None:
    store = kit.store(codec=BsonCodec(escape_keys=True) if codec == "bson-escaped" else codec)
    data = session(**HOSTILE)
    store.set(SID, data)
    loaded = store.get(SID)
    assert loaded == data
    loaded["more"] = 1
    assert store.save(SID, loaded)
    assert store.get(SID) == {**data, "more": 1}
    doc = db.sessions.find_one()
    assert doc["_id"] == SID  # the session's own "_id" key never reaches the document's
    assert set(doc) == {"_id", "session", "expires", "lastModified"}


def test_bson_codec_stores_a_sub_document_with_escaped_keys(kit: StoreKit, db: Any) -> None:
    kit.store(codec=BsonCodec(escape_keys=True)).set(SID, session(**{"a.b": 1, "$x": 2}))
    stored = db.sessions.find_one()["session"]
    assert isinstance(stored, dict)
    assert stored["a%2Eb"] == 1
    assert stored["%24x"] == 2


def test_bson_codec_stores_the_cookie_expiry_as_a_date(kit: StoreKit, db: Any) -> None:
    expires = _clock.after(_clock.now(), 600)
    store = kit.store(codec="bson")
    store.set(SID, cookie_session(expires))
    assert db.sessions.find_one()["session"]["cookie"]["expires"] == expires
    assert store.get(SID)["cookie"]["expires"] == _clock.to_js_iso(expires)


def test_bson_codec_keeps_dates_and_object_ids(kit: StoreKit) -> None:
    store = kit.store(codec="bson")
    when, oid = _clock.now(), ObjectId()
    store.set(SID, session(when=when, oid=oid))
    loaded = store.get(SID)
    assert loaded["when"] == when
    assert loaded["oid"] == oid


def test_json_codec_writes_the_string_json_stringify_writes(kit: StoreKit, db: Any) -> None:
    kit.store().set(SID, session(name="zoë", n=[1, 2.5, None, True]))
    text = db.sessions.find_one()["session"]
    assert '"name":"zoë"' in text
    assert '"n":[1,2.5,null,true]' in text


def test_json_codec_writes_nan_as_null_like_javascript(kit: StoreKit) -> None:
    store = kit.store()
    store.set(SID, session(x=float("nan"), y=[float("inf")]))
    assert store.get(SID) == session(x=None, y=[None])


class Upper:
    """A custom codec: JSON with upper-cased text, to see it is really used."""

    def encode(self, data: Any) -> str:
        return json.dumps(data).upper()

    def decode(self, stored: Any) -> dict[str, Any]:
        return {k.lower(): v for k, v in json.loads(stored).items()}


def test_a_custom_codec_is_used_both_ways(kit: StoreKit, db: Any) -> None:
    store = kit.store(codec=Upper())
    store.set(SID, {"name": 1})
    assert db.sessions.find_one()["session"] == '{"NAME": 1}'
    assert store.get(SID) == {"name": 1}


@pytest.mark.parametrize(
    ("codec", "value"),
    [("json", {1, 2}), ("json", datetime(2026, 1, 1)), ("json", b"raw"), ("bson", object())],
)
def test_unstorable_values_raise_and_leave_the_document(
    kit: StoreKit, db: Any, codec: str, value: Any
) -> None:
    store = kit.store(codec=codec)
    store.set(SID, session(n=1))
    before = db.sessions.find_one()
    with pytest.raises(SessionEncodingError):
        store.set(SID, session(bad=value))
    assert db.sessions.find_one() == before


def test_an_oversized_session_is_refused_before_writing(kit: StoreKit, db: Any) -> None:
    store = kit.store(max_size=1000)
    store.set(SID, session(n=1))
    before = db.sessions.find_one()
    loaded = store.get(SID)
    loaded["blob"] = "x" * 1000
    with pytest.raises(SessionTooLarge) as info:
        store.save(SID, loaded)
    assert info.value.limit == 1000
    with pytest.raises(SessionTooLarge):
        store.set(OTHER, loaded)
    assert list(db.sessions.find()) == [before]


class Boom:
    """A pickle that runs a shell command when unpickled."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize(
    "payload",
    [
        lambda marker: "not json {",
        lambda marker: "[1, 2]",
        lambda marker: pickle.dumps(Boom(marker)),
        lambda marker: {"$binary": 1},
        lambda marker: 12,
    ],
    ids=["garbage", "json-array", "pickle", "document", "number"],
)
def test_a_corrupt_payload_is_rejected_and_logged(
    kit: StoreKit, db: Any, caplog: pytest.LogCaptureFixture, tmp_path: Any, payload: Any
) -> None:
    marker = tmp_path / "executed"
    expires = _clock.after(_clock.now(), 60)
    db.sessions.insert_one({"_id": SID, "session": payload(str(marker)), "expires": expires})
    with caplog.at_level(logging.WARNING, logger="mongosession"):
        assert kit.store().get(SID) is None
    assert "rejected stored session" in caplog.text
    assert SID not in caplog.text  # logs name a session by a hash of its id
    assert not marker.exists()


# -- transform_id -------------------------------------------------------------------


def hashed(sid: str) -> str:
    return hashlib.sha256(sid.encode()).hexdigest()


def test_transform_id_sets_the_stored_id(kit: StoreKit, db: Any) -> None:
    store = kit.store(transform_id=hashed)
    store.set(SID, session(n=1))
    assert db.sessions.find_one()["_id"] == hashed(SID)
    assert store.get(SID) == session(n=1)
    assert store.all() == {hashed(SID): session(n=1)}
    store.destroy(SID)
    assert db.sessions.count_documents({}) == 0


def test_transform_id_must_return_a_string(kit: StoreKit) -> None:
    with pytest.raises(TypeError):
        kit.store(transform_id=lambda sid: {"$ne": None}).get(SID)


# -- encryption ---------------------------------------------------------------------

KEY_A = bytes(range(32))
KEY_B = bytes(range(1, 33))


@pytest.mark.parametrize("codec", ["json", "bson"])
def test_encrypted_sessions_hide_their_data(kit: StoreKit, db: Any, codec: str) -> None:
    store = kit.store(codec=codec, encryption_keys=[KEY_A])
    store.set(SID, session(secret="hunter2"))
    stored = db.sessions.find_one()["session"]
    assert isinstance(stored, str)
    assert stored.startswith("mse2.")
    assert "hunter2" not in stored
    assert store.get(SID) == session(secret="hunter2")


def test_key_rotation_reads_old_keys_and_writes_the_new_one(kit: StoreKit, db: Any) -> None:
    kit.store(encryption_keys=[KEY_A]).set(SID, session(n=1))
    rotated = kit.store(encryption_keys=[KEY_B, KEY_A])
    loaded = rotated.get(SID)
    assert loaded == session(n=1)
    loaded["n"] = 2
    assert rotated.save(SID, loaded)
    assert kit.store(encryption_keys=[KEY_B]).get(SID) == session(n=2)
    assert kit.store(encryption_keys=[KEY_A]).get(SID) is None


def test_a_ciphertext_moved_to_another_id_does_not_decrypt(
    kit: StoreKit, db: Any, caplog: pytest.LogCaptureFixture
) -> None:
    store = kit.store(encryption_keys=[KEY_A])
    store.set(SID, session(user="alice"))
    store.set(OTHER, session(user="mallory"))
    alice = db.sessions.find_one({"_id": SID})["session"]
    db.sessions.update_one({"_id": OTHER}, {"$set": {"session": alice}})
    with caplog.at_level(logging.WARNING, logger="mongosession"):
        assert store.get(OTHER) is None
    assert "failed authentication" in caplog.text


def test_a_passphrase_is_a_key(kit: StoreKit) -> None:
    kit.store(encryption_keys=["correct horse battery staple"]).set(SID, session(n=1))
    assert kit.store(encryption_keys=["correct horse battery staple"]).get(SID) == session(n=1)


# -- users ----------------------------------------------------------------------------


def test_user_key_copies_the_user_and_indexes_it(kit: StoreKit, db: Any) -> None:
    kit.store(user_key="user").set(SID, session(user="alice"))
    assert db.sessions.find_one()["user"] == "alice"
    index = db.sessions.index_information()["user_1"]
    assert index["key"] == [("user", 1)]
    assert index["partialFilterExpression"] == {"user": {"$exists": True}}


def test_a_nested_user_key_reads_passports_user(kit: StoreKit, db: Any) -> None:
    kit.store(user_key="passport.user").set(SID, session(passport={"user": 42}))
    assert db.sessions.find_one()["user"] == 42


def test_logging_out_removes_the_user_field(kit: StoreKit, db: Any) -> None:
    store = kit.store(user_key="user")
    store.set(SID, session(user="alice"))
    loaded = store.get(SID)
    del loaded["user"]
    assert store.save(SID, loaded)
    assert "user" not in db.sessions.find_one()


def fifty_sessions(store: Any) -> list[str]:
    sids = [f"sid{i:02d}" for i in range(50)]
    for sid in sids:
        store.set(sid, session(user="alice"))
    store.set(OTHER, session(user="bob"))
    return sids


def test_sessions_of_lists_one_users_sessions(kit: StoreKit) -> None:
    store = kit.store(user_key="user")
    sids = fifty_sessions(store)
    assert sorted(store.sessions_of("alice")) == sids
    assert list(store.sessions_of("bob")) == [OTHER]


def test_destroy_user_revokes_every_session_but_the_kept_one(kit: StoreKit) -> None:
    store = kit.store(user_key="user")
    sids = fifty_sessions(store)
    assert store.destroy_user("alice", keep=sids[0]) == 49
    assert list(store.sessions_of("alice")) == [sids[0]]
    assert all(store.get(sid) is None for sid in sids[1:])
    assert store.destroy_user("alice") == 1
    assert store.get(OTHER) is not None


def test_destroy_user_with_delete_flags_flags(kit: StoreKit, db: Any) -> None:
    store = kit.store(user_key="user", delete_flags=True)
    fifty_sessions(store)
    assert store.destroy_user("alice") == 50
    assert db.sessions.count_documents({"deleted": True}) == 50


@pytest.mark.parametrize("user", [{"$ne": None}, ["alice"], None, True])
def test_a_user_that_is_not_a_scalar_is_refused(
    kit: StoreKit, command_log: CommandLog, user: Any
) -> None:
    store = kit.store(client=kit.client(event_listeners=[command_log]))
    with pytest.raises(TypeError):
        store.sessions_of(user)
    with pytest.raises(TypeError):
        store.destroy_user(user)
    assert command_log.count() == 0


# -- events ---------------------------------------------------------------------------


def test_events_report_each_operation(kit: StoreKit) -> None:
    store = kit.store()
    seen: list[tuple[str, str]] = []
    for event in ("create", "update", "set", "touch", "destroy"):
        store.on(event, lambda sid, event=event: seen.append((event, sid)))
    store.set(SID, session(n=1))
    store.set(SID, session(n=2))
    store.touch(SID, session())
    store.destroy(SID)
    assert seen == [
        ("create", SID),
        ("set", SID),
        ("update", SID),
        ("set", SID),
        ("touch", SID),
        ("destroy", SID),
    ]


def test_a_failing_listener_does_not_fail_the_operation(
    kit: StoreKit, caplog: pytest.LogCaptureFixture
) -> None:
    store = kit.store()
    store.on("set", lambda sid: 1 / 0)
    store.set(SID, session())
    assert store.get(SID) is not None
    assert "set listener failed" in caplog.text


# -- clients, timeouts ------------------------------------------------------------------


def test_a_users_client_is_never_closed(kit: StoreKit) -> None:
    client = kit.client()
    store = kit.store(client=client, db_name=kit.db_name)
    store.set(SID, session())
    store.close()
    again = kit.store(client=client, db_name=kit.db_name)
    assert again.get(SID) is not None


def test_the_stores_own_client_is_closed_by_close(kit: StoreKit) -> None:
    store = kit.store()
    store.set(SID, session())
    store.close()
    with pytest.raises(Exception, match=r"after close|closed"):
        store.get(SID)


def test_an_unreachable_database_raises_store_unavailable_in_time(kit: StoreKit) -> None:
    store = kit.store(uri=f"mongodb://127.0.0.1:{free_port()}/app", timeout=0.5)
    started = time.monotonic()
    with pytest.raises(StoreUnavailable):
        store.get(SID)
    with pytest.raises(StoreUnavailable):
        store.set(SID, session())
    assert time.monotonic() - started < 5


# -- ids --------------------------------------------------------------------------------


@pytest.mark.parametrize("sid", [{"$ne": None}, None, 42, b"bytes", ["a"]])
def test_a_non_string_id_is_a_type_error_before_any_command(
    kit: StoreKit, command_log: CommandLog, sid: Any
) -> None:
    store = kit.store(client=kit.client(event_listeners=[command_log]))
    for call in (
        lambda: store.get(sid),
        lambda: store.set(sid, session()),
        lambda: store.save(sid, session()),
        lambda: store.touch(sid, session()),
        lambda: store.destroy(sid),
        lambda: store.create(sid, session()),
    ):
        with pytest.raises(TypeError):
            call()
    assert command_log.count() == 0


@pytest.mark.parametrize("sid", ["", " ", "a b", "x;y", "a\r\nb", "nul\0", "é", "x" * 257])
def test_a_malformed_id_is_a_value_error_before_any_command(
    kit: StoreKit, command_log: CommandLog, sid: str
) -> None:
    store = kit.store(client=kit.client(event_listeners=[command_log]))
    with pytest.raises(ValueError, match="malformed session id"):
        store.get(sid)
    with pytest.raises(ValueError, match="malformed session id"):
        store.set(sid, session())
    assert command_log.count() == 0
