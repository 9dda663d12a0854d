"""The shortcuts taken on hot paths give exactly what the general code gives.

Each was added after profiling (``python -m bench``): a signed cookie decoded
without ``unquote``, dates formatted without ``strftime``, BSON keys escaped without
an ABC check per value. Each is checked here against the plain definition.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import unquote

import pytest

from mongosession import BsonCodec, escape_key, unescape_key
from mongosession._clock import to_js_iso
from mongosession._ids import generate_sid
from mongosession.web.cookies import decode_component, encode_component, sign


def plain_decode(value: str) -> str:
    """decodeURIComponent by the definition: unquote, or the value when it fails."""
    try:
        return unquote(value, errors="strict")
    except UnicodeDecodeError:
        return value


def test_signed_cookies_decode_as_unquote_does() -> None:
    for i in range(2000):
        value = encode_component(sign(generate_sid(), f"secret {i}"))
        assert decode_component(value) == plain_decode(value)


def test_near_miss_escapes_after_the_prefix_decode_as_unquote_does() -> None:
    pieces = ["%2B", "%2F", "%3D", "%2b", "%", "2", "B", "%25", "%3A", "a", ".", "%E2%82%AC"]
    rng = random.Random(7)
    for _ in range(20_000):
        value = "s%3A" + "".join(rng.choice(pieces) for _ in range(rng.randint(0, 8)))
        assert decode_component(value) == plain_decode(value), value


@pytest.mark.parametrize(
    "moment",
    [
        datetime(2024, 2, 29, 23, 59, 59, 999_999, tzinfo=timezone.utc),
        datetime(1970, 1, 1, tzinfo=timezone.utc),
        datetime(2030, 6, 1, 12, 0, 0, 1000, tzinfo=timezone(timedelta(hours=-7))),
        datetime(9999, 12, 31, 23, 59, 59, 123_456, tzinfo=timezone.utc),
    ],
)
def test_js_iso_dates_match_the_strftime_form(moment: datetime) -> None:
    utc = moment.astimezone(timezone.utc)
    expected = utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"
    assert to_js_iso(moment) == expected


def test_js_iso_pads_years_before_1000_as_javascript_does() -> None:
    # new Date(Date.UTC(999, 0, 1)).toISOString() === "0999-01-01T00:00:00.000Z"
    assert to_js_iso(datetime(999, 1, 1, tzinfo=timezone.utc)) == "0999-01-01T00:00:00.000Z"


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
    codec = BsonCodec()
    encoded = codec.encode(session)
    assert encoded == escaped_by_definition(session)
    restored = codec.decode(encoded)
    assert restored["a.b"] == {"$where": [1, {"%2E": [2, 3]}, "x.y"], "nul\0": True}
    assert restored["plain"] == [{"k": 1.5, "n": None, "when": when}, {"$in": {"q.r": 1}}]
    assert unescape_key(escape_key("%2E.$\0")) == "%2E.$\0"
