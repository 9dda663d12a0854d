"""The payload codecs (:mod:`mongosession.codecs.formats`): ``json`` and ``bson``.

Requirement 17: any value round-trips, hostile keys included (Hypothesis); the BSON
codec's key escaping (``escape_keys=True``), a shortcut taken on the hot path, checked
against its plain definition (the default, connect-mongo's raw keys:
test_bson_connect_mongo.py); the JSON codec gives the same text with and without orjson. Through a
store: tests/integration/test_store_data.py and reliability/test_properties.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

import bson
import pytest
from hypothesis import given, settings

from mongosession import BsonCodec, JsonCodec, escape_key, unescape_key
from tests.support.sessions import session
from tests.support.strategies import bson_values, json_values, sessions_of

FAST = settings(max_examples=100, deadline=None)


def through_mongodb(value: Any) -> Any:
    """What MongoDB hands back for a stored value (a BSON round trip)."""
    return bson.decode(bson.encode({"v": value}), bson.CodecOptions(tz_aware=True))["v"]


@FAST
@given(data=sessions_of(json_values))
def test_the_json_codec_round_trips_any_json_value(data: dict[str, Any]) -> None:
    codec = JsonCodec()
    assert codec.decode(through_mongodb(codec.encode(data))) == data


@FAST
@given(data=sessions_of(bson_values))
def test_the_bson_codec_round_trips_any_bson_value(data: dict[str, Any]) -> None:
    codec = BsonCodec(escape_keys=True)  # the raw default: test_bson_connect_mongo.py
    stored = through_mongodb(codec.encode(data))
    assert all("." not in k and not k.startswith("$") and "\0" not in k for k in stored)
    assert codec.decode(stored) == data


def escaped_by_definition(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {escape_key(k): escaped_by_definition(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [escaped_by_definition(v) for v in value]
    return value


class Mapped(Mapping[str, Any]):
    """A mapping that is not a dict."""

    def __init__(self, data: dict[str, Any]) -> None:
        self._data = data

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __iter__(self) -> Any:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)


def test_bson_codec_escapes_and_restores_keys_by_the_definition() -> None:
    when = datetime(2030, 1, 1, tzinfo=timezone.utc)
    session = {
        "cookie": {"originalMaxAge": None, "expires": None},
        "a.b": {"$where": [1, {"%2E": (2, 3)}, "x.y"], "nul\0": True},
        "plain": [{"k": 1.5, "n": None, "when": when}, Mapped({"$in": Mapped({"q.r": 1})})],
        "flag": False,
    }
    codec = BsonCodec(escape_keys=True)
    encoded = codec.encode(session)
    assert encoded == escaped_by_definition(session)
    restored = codec.decode(encoded)
    assert restored["a.b"] == {"$where": [1, {"%2E": [2, 3]}, "x.y"], "nul\0": True}
    assert restored["plain"] == [{"k": 1.5, "n": None, "when": when}, {"$in": {"q.r": 1}}]
    assert unescape_key(escape_key("%2E.$\0")) == "%2E.$\0"


def test_json_codec_is_the_same_with_and_without_orjson(monkeypatch: pytest.MonkeyPatch) -> None:
    from mongosession.codecs import formats as _codecs

    data = session(
        name="zoë", n=[1, 2.5, None, True], nested={"k": {"z": "\u2028"}}, x=float("nan")
    )
    with_orjson = _codecs.JsonCodec().encode(data)
    monkeypatch.setattr(_codecs, "_orjson", None)
    assert _codecs.JsonCodec().encode(data) == with_orjson
