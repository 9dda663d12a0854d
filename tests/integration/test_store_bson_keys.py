"""``codec="bson"`` through a real MongoDB: connect-mongo's ``stringify: false`` document.

Keys are stored as they are (MongoDB 5.0+ accepts ``.`` and ``$`` in field names of
inserted, replaced and ``$set`` documents), on every write path: ``set``, ``create``,
``save`` (whose compare-and-swap matches the stored payload with ``$eq``), the
``absolute_lifetime`` pipeline, the session limit's take-back. The cookie is stored
with express-session's nine attributes, null when unset. ``BsonCodec(escape_keys=True)``
keeps the escaped format of mongosession 0.1.0. Both stores (``kit``).
"""

from __future__ import annotations

from typing import Any

import pytest
from bson import ObjectId
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from mongosession import BsonCodec, SessionEncodingError, SessionLimitReached, _clock
from tests.support.sessions import OTHER, SID, cookie_session, session
from tests.support.stores import StoreKit
from tests.support.strategies import bson_values, sessions_of

#: Keys that need escaping in the old format, and that MongoDB 5.0+ stores raw.
RAW = {
    "$where": "1",
    "a.b": {"c.d": 1, "$gt": [{"$ne": None}]},
    "_id": "x",
    "cookie%": 1,
    "lit%2E": 2,
    "": {"": 3},
}


def stored_session(db: Any, _id: str = SID) -> Any:
    return db.sessions.find_one({"_id": _id})["session"]


def test_keys_are_stored_as_they_are(kit: StoreKit, db: Any) -> None:
    kit.store(codec="bson").set(SID, session(**RAW))
    stored = stored_session(db)
    assert {k: v for k, v in stored.items() if k != "cookie"} == RAW


def test_the_cookie_comes_first_with_every_attribute_null_when_unset(
    kit: StoreKit, db: Any
) -> None:
    expires = _clock.after(_clock.now(), 600)
    kit.store(codec="bson").set(SID, cookie_session(expires, n=1))
    stored = stored_session(db)
    assert list(stored) == ["cookie", "n"]
    assert stored["cookie"] == {
        "originalMaxAge": 3600000,
        "partitioned": None,
        "priority": None,
        "expires": expires,
        "secure": None,
        "httpOnly": True,
        "domain": None,
        "path": "/",
        "sameSite": None,
    }
    assert list(stored["cookie"]) == [
        "originalMaxAge",
        "partitioned",
        "priority",
        "expires",
        "secure",
        "httpOnly",
        "domain",
        "path",
        "sameSite",
    ]


def test_a_session_without_cookie_is_stored_with_a_null_cookie(kit: StoreKit, db: Any) -> None:
    store = kit.store(codec="bson")
    store.set(SID, {"n": 1})
    assert stored_session(db) == {"cookie": None, "n": 1}
    assert store.get(SID) == {"n": 1}  # the JSON form: no cookie, as written


def test_a_session_reads_back_as_it_was_written(kit: StoreKit) -> None:
    store = kit.store(codec="bson")
    data = session(**RAW)
    store.set(SID, data)
    assert store.get(SID) == data


@pytest.mark.parametrize("write", ["set", "create"])
def test_raw_keys_survive_each_first_write_then_a_save(kit: StoreKit, write: str) -> None:
    store = kit.store(codec="bson")
    getattr(store, write)(SID, session(**RAW))
    loaded = store.get(SID)
    loaded["$more"] = {"x.y": 1}
    assert store.save(SID, loaded)  # its filter holds the payload read, with $eq
    assert store.get(SID) == session(**RAW, **{"$more": {"x.y": 1}})


def test_a_concurrent_save_merges_with_raw_keys(kit: StoreKit) -> None:
    store = kit.store(codec="bson")
    store.set(SID, session(**{"a.b": 1, "$c": 1}))
    first, second = store.get(SID), store.get(SID)
    first["a.b"] = 2
    assert store.save(SID, first)
    second["$c"] = 2
    assert store.save(SID, second)  # the compare-and-swap misses, then merges
    assert store.get(SID) == session(**{"a.b": 2, "$c": 2})


class DollarFirst:
    """A codec whose stored document starts with a ``$`` key: an operator, unless ``$eq``."""

    def encode(self, data: Any) -> Any:
        return {"$in": [1], **{k: v for k, v in data.items() if k != "cookie"}}

    def decode(self, stored: Any) -> dict[str, Any]:
        return {k: v for k, v in stored.items() if k != "$in"}


def test_a_payload_starting_with_a_dollar_key_is_compared_as_a_value(kit: StoreKit) -> None:
    store = kit.store(codec=DollarFirst())
    store.set(SID, {"n": 1})
    loaded = store.get(SID)
    loaded["n"] = 2
    assert store.save(SID, loaded)
    assert store.get(SID) == {"n": 2}


def test_the_absolute_lifetime_pipeline_writes_raw_keys_literally(kit: StoreKit, db: Any) -> None:
    store = kit.store(codec="bson", absolute_lifetime=3600)
    store.set(SID, session(**RAW))
    loaded = store.get(SID)
    loaded["$literal"] = "not an expression"
    assert store.save(SID, loaded)
    assert store.get(SID) == session(**RAW, **{"$literal": "not an expression"})
    assert stored_session(db)["$where"] == "1"


def test_a_refused_login_gets_its_raw_payload_back(kit: StoreKit) -> None:
    store = kit.store(
        codec="bson", user_key="user", max_sessions_per_user=1, on_session_limit="refuse"
    )
    store.set(SID, session(user="alice"))
    store.set(OTHER, session(**{"$k.x": 1}))
    anonymous = store.get(OTHER)
    raw = getattr(store, "store", store)

    async def no_check_async(*args: Any, **kwargs: Any) -> None:
        return None

    def no_check(*args: Any, **kwargs: Any) -> None:
        return None

    # Skip the check before the write, as a racing login would: the check after it
    # refuses and restores the payload read (matched by value, raw keys and all).
    raw._check_session_limit = no_check_async if kit.flavour == "async" else no_check
    anonymous["user"] = "alice"
    with pytest.raises(SessionLimitReached):
        store.save(OTHER, anonymous)
    assert store.get(OTHER) == session(**{"$k.x": 1})


def test_a_key_with_nul_is_refused_before_anything_is_written(kit: StoreKit, db: Any) -> None:
    store = kit.store(codec="bson")
    with pytest.raises(SessionEncodingError, match="NUL"):
        store.set(SID, session(**{"n\0ul": 1}))
    assert db.sessions.count_documents({}) == 0


def test_a_node_key_holding_an_escape_sequence_reads_as_it_is(kit: StoreKit, db: Any) -> None:
    expires = _clock.after(_clock.now(), 600)
    node_doc = {"cookie": None, "lit%2E": 1, "a%24b": {"x%25": 2}}
    db.sessions.insert_one({"_id": SID, "session": node_doc, "expires": expires})
    assert kit.store(codec="bson").get(SID) == {"lit%2E": 1, "a%24b": {"x%25": 2}}


def test_escape_keys_reads_and_writes_the_format_of_mongosession_0_1(
    kit: StoreKit, db: Any
) -> None:
    expires = _clock.after(_clock.now(), 600)
    old_doc = {"cookie": {"path": "/"}, "a%2Eb": 1, "%24x": {"100%25": 2}}
    db.sessions.insert_one({"_id": SID, "session": old_doc, "expires": expires})
    store = kit.store(codec=BsonCodec(escape_keys=True))
    loaded = store.get(SID)
    assert loaded == {"cookie": {"path": "/"}, "a.b": 1, "$x": {"100%": 2}}
    loaded["n\0"] = 3
    assert store.save(SID, loaded)
    assert stored_session(db) == {**old_doc, "n%00": 3}


def has_nul(value: Any) -> bool:
    if isinstance(value, dict):
        return any("\0" in k or has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(has_nul(v) for v in value)
    return False


@pytest.fixture
def bson_store(kit: StoreKit) -> Any:
    """One store per test (both flavours), shared by its examples."""
    return kit.store(codec="bson")


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_any_bson_value_survives_insert_then_update(bson_store: Any, data: st.DataObject) -> None:
    first = data.draw(sessions_of(bson_values))
    second = data.draw(sessions_of(bson_values))
    assume(not has_nul(first) and not has_nul(second))  # BSON holds no NUL in a key
    store = bson_store
    sid = f"prop-{ObjectId()}"
    store.set(sid, session(**first))
    loaded = store.get(sid)
    assert loaded == session(**first)
    loaded.clear()
    loaded.update(session(**second))
    assert store.save(sid, loaded)
    assert store.get(sid) == session(**second)
    store.destroy(sid)
