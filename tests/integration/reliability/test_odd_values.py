"""Values an attacker can get stored: NaN, very deep nesting, a date past year 9999.

Issue 11, finding 4 (an out-of-range date), finding 8 (a NaN under the bson codec)
and the tidy-up (deep nesting). The NaN and the date are reproduced through every
adapter on a real server, as found; deep nesting on both stores and both codecs.
"""

from __future__ import annotations

import json
import math
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import bson
import pytest

from mongosession import SessionEncodingError, generate_sid
from tests.integration.reliability.conftest import Serve
from tests.support.adapter_apps import ThreadGate
from tests.support.stores import StoreKit

#: A BSON date in year 11476, which Python's datetime cannot hold (JavaScript can).
FAR_FUTURE = bson.DatetimeMS(300_000_000_000_000)


def nested(depth: int) -> Any:
    value: Any = "bottom"
    for _ in range(depth):
        value = {"d": value}
    return value


# -- finding 8 ----------------------------------------------------------------------------


def test_a_stored_nan_does_not_turn_different_key_merges_into_conflicts(
    serve: Serve, gate: ThreadGate, pool: ThreadPoolExecutor, test_uri: str, db: Any
) -> None:
    app = serve(test_uri, codec="bson")
    browser = app.browser()
    assert browser.post("/login?user=alice").status == 200
    # One NaN in the stored session (the bson codec stores it as a double).
    result = db.sessions.update_one({}, {"$set": {"session.score": float("nan")}})
    assert result.modified_count == 1
    count = 10
    replies = [
        pool.submit(app.browser(browser.session_cookie).get, f"/set?key=k{i}&value={i}")
        for i in range(count)
    ]
    gate.wait_for(count)
    gate.release()
    assert [r.result(timeout=30).status for r in replies] == [200] * count
    [doc] = db.sessions.find()
    stored = doc["session"]
    assert {f"k{i}": str(i) for i in range(count)}.items() <= stored.items()
    assert math.isnan(stored["score"])


# -- finding 4 ----------------------------------------------------------------------------


@pytest.mark.parametrize("field", ["expires", "createdAt"])
def test_a_date_past_year_9999_reads_as_no_session_and_breaks_nothing_else(
    serve: Serve, test_uri: str, db: Any, field: str
) -> None:
    app = serve(test_uri, user_key="user", absolute_lifetime=3600)
    healthy = app.browser()
    assert healthy.post("/login?user=alice").status == 200
    [healthy_id] = db.sessions.distinct("_id")
    broken = app.browser()
    assert broken.post("/login?user=alice").status == 200
    [broken_id] = set(db.sessions.distinct("_id")) - {healthy_id}
    db.sessions.update_one({"_id": broken_id}, {"$set": {field: FAR_FUTURE}})
    # Its holder gets no session (not a 500); the other session works.
    reply = broken.get("/whoami")
    assert (reply.status, reply.text) == (200, "anonymous")
    assert healthy.get("/whoami").text == "alice"
    # The user's listing skips it rather than failing.
    assert list(app.store.sessions_of("alice")) == [healthy_id]
    assert list(app.store.all()) == [healthy_id]


# -- deep nesting -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("codec", "depth"),
    # bson, 190 levels: fine for Python, past MongoDB's 180 (the server's code 15; a
    # JSON string holds it). 5000 levels: past Python's recursion limit in the encoders.
    [("bson", 190), ("bson", 5000), ("json", 5000)],
)
def test_very_deep_nesting_is_the_librarys_encoding_error(
    kit: StoreKit, codec: str, depth: int
) -> None:
    store = kit.store(codec=codec)
    sid = generate_sid()
    store.set(sid, {"n": 1})
    with pytest.raises(SessionEncodingError):
        store.set(sid, {"n": 2, "deep": nested(depth)})
    assert store.get(sid) == {"n": 1}  # nothing was written


def test_a_stored_payload_too_deep_to_decode_reads_as_corrupt(kit: StoreKit, db: Any) -> None:
    store = kit.store()
    sid = generate_sid()
    db.sessions.insert_one({"_id": sid, "session": "[" * 100_000 + "]" * 100_000})
    assert store.get(sid) is None
    db.sessions.replace_one({"_id": sid}, {"_id": sid, "session": json.dumps({"a": 1})})
    assert store.get(sid) == {"a": 1}
