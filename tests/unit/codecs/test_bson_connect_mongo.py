"""``BsonCodec()``, the default of ``codec="bson"``: connect-mongo's ``stringify: false`` document.

connect-mongo 6.0.0 stores ``{cookie: cookie.toJSON(), ...session}``: the cookie first,
with express-session's nine attributes (those left undefined become null through the
Node driver, a missing cookie ``cookie: null``), ``cookie.expires`` a Date, every key as
it is. The escaping form (``escape_keys=True``, mongosession 0.1.0's) is in
test_formats.py. Through MongoDB: tests/integration/test_store_bson_keys.py and the
differential (tests/conformance/test_differential.py).
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import bson
import pytest
from hypothesis import assume, given, settings

from mongosession import BsonCodec, SessionEncodingError
from mongosession.store.rules import StoreRules
from tests.support.strategies import bson_values, sessions_of

EXPIRES = "2030-01-01T00:00:00.000Z"
WHEN = datetime(2030, 1, 1, tzinfo=timezone.utc)


def through_mongodb(value: Any) -> Any:
    return bson.decode(bson.encode({"v": value}), bson.CodecOptions(tz_aware=True))["v"]


def rules(**options: Any) -> StoreRules:
    defaults: dict[str, Any] = {
        "collection": "sessions",
        "ttl": 60,
        "touch_after": 0,
        "absolute_lifetime": None,
        "auto_remove": "disabled",
        "auto_remove_interval": 60,
        "codec": "bson",
        "transform_id": None,
        "encryption_keys": None,
        "delete_flags": False,
        "user_key": None,
        "timestamps": False,
        "write_concern": None,
        "timeout": None,
        "max_size": 1 << 20,
        "create_indexes": False,
    }
    return StoreRules(**{**defaults, **options})


def test_keys_are_written_and_read_as_they_are() -> None:
    codec = BsonCodec()
    data = {"a.b": {"$in": [{"x.y": 1}]}, "100%": 1, "lit%2E": 2, "$where": "1"}
    stored = codec.encode(data)
    assert {k: v for k, v in stored.items() if k != "cookie"} == data
    assert codec.decode(through_mongodb(stored)) == data


def test_a_key_holding_an_escape_sequence_is_not_unescaped() -> None:
    assert BsonCodec().decode({"lit%2E": 1, "x": {"%24y": 2}}) == {"lit%2E": 1, "x": {"%24y": 2}}


def test_the_cookie_is_first_with_the_nine_attributes_of_express_session() -> None:
    cookie = {"originalMaxAge": 1000, "expires": EXPIRES, "httpOnly": True, "path": "/"}
    stored = BsonCodec().encode({"n": 1, "cookie": cookie})
    assert list(stored) == ["cookie", "n"]
    assert list(stored["cookie"].items()) == [
        ("originalMaxAge", 1000),
        ("partitioned", None),
        ("priority", None),
        ("expires", WHEN),
        ("secure", None),
        ("httpOnly", True),
        ("domain", None),
        ("path", "/"),
        ("sameSite", None),
    ]


def test_a_cookie_key_express_session_does_not_write_is_kept_after_its_own() -> None:
    stored = BsonCodec().encode({"cookie": {"path": "/", "custom": 1}})
    assert list(stored["cookie"])[-1] == "custom"


def test_a_session_without_cookie_is_stored_with_cookie_null() -> None:
    assert BsonCodec().encode({"n": 1}) == {"cookie": None, "n": 1}


def test_reading_gives_the_json_form_and_so_what_was_written() -> None:
    codec = BsonCodec()
    cookie = {"originalMaxAge": None, "expires": EXPIRES, "httpOnly": True, "path": "/"}
    for data in ({"n": 1}, {"cookie": cookie, "n": 1}, {"cookie": {**cookie, "domain": "x"}}):
        assert codec.decode(through_mongodb(codec.encode(data))) == data


def test_reading_what_node_stored_leaves_out_the_nulls_of_undefined_attributes() -> None:
    node = {
        "cookie": {
            "originalMaxAge": None,
            "partitioned": None,
            "priority": None,
            "expires": None,
            "secure": None,
            "httpOnly": True,
            "domain": None,
            "path": "/",
            "sameSite": None,
        },
        "n": 1,
    }
    assert BsonCodec().decode(node) == {
        "cookie": {"originalMaxAge": None, "expires": None, "httpOnly": True, "path": "/"},
        "n": 1,
    }
    assert BsonCodec().decode({"cookie": None, "n": 1}) == {"n": 1}


def test_cookie_expires_is_a_date_stored_and_an_iso_string_read() -> None:
    codec = BsonCodec()
    stored = codec.encode({"cookie": {"expires": EXPIRES}})
    assert stored["cookie"]["expires"] == WHEN
    assert codec.decode(through_mongodb(stored))["cookie"]["expires"] == EXPIRES


def test_the_stored_form_shares_no_container_with_the_session() -> None:
    # The stored form is the revision a later save compares against: a change to the
    # session after a write must not change it, nor a change to what get() returned.
    codec = BsonCodec()
    data = {"cart": [1], "nested": {"k": [2]}, "t": (3, 4)}
    stored = codec.encode(data)
    data["cart"].append(9)
    data["nested"]["k"].append(9)
    assert stored["cart"] == [1]
    assert stored["nested"] == {"k": [2]}
    assert stored["t"] == [3, 4]
    read = codec.decode(stored)
    read["cart"].append(8)
    read["nested"]["k"].append(8)
    assert stored["cart"] == [1]
    assert stored["nested"] == {"k": [2]}


def test_a_key_that_is_not_a_str_is_an_encoding_error() -> None:
    with pytest.raises(SessionEncodingError):
        BsonCodec().encode({"n": {1: "x"}})


def test_a_key_with_nul_is_an_encoding_error_before_any_write() -> None:
    # BSON cannot hold it (connect-mongo's serialiser refuses it too).
    with pytest.raises(SessionEncodingError, match="NUL"):
        rules().encode({"a\0b": 1}, "sid")


def has_nul(value: Any) -> bool:
    if isinstance(value, dict):
        return any("\0" in k or has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(has_nul(v) for v in value)
    return False


@settings(max_examples=200, deadline=None)
@given(data=sessions_of(bson_values))
def test_any_bson_value_round_trips_with_raw_keys(data: dict[str, Any]) -> None:
    assume(not has_nul(data))
    codec = BsonCodec()
    stored = through_mongodb(codec.encode(data))
    assert stored["cookie"] is None
    assert codec.decode(stored) == data
