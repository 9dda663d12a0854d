"""Numbers keep their Python type through both codecs (docs/options.md#numbers).

A declared divergence from connect-mongo, where a JavaScript number has one type:
``JSON.stringify`` writes ``100`` for 100.0 and the Node driver stores an integral
number in int32 range as int32, else a double. mongosession writes a float so that it
reads back as a float, and an int beyond int32 as int64; Node reads the same numbers.
"""

from __future__ import annotations

from typing import Any

import bson
from bson.int64 import Int64

from mongosession import BsonCodec, JsonCodec


def through_mongodb(value: Any) -> Any:
    return bson.decode(bson.encode({"v": value}))["v"]


def test_json_writes_a_float_so_that_it_reads_back_a_float() -> None:
    codec = JsonCodec()
    text = codec.encode({"integral": 100.0, "large": 1e20, "negzero": -0.0, "n": 100})
    assert text == '{"integral":100.0,"large":1e+20,"negzero":-0.0,"n":100}'
    read = codec.decode(text)
    assert [type(read[k]) for k in ("integral", "large", "negzero", "n")] == [
        float,
        float,
        float,
        int,
    ]


def test_bson_stores_a_large_int_as_int64_and_an_integral_float_as_a_double() -> None:
    stored = through_mongodb(BsonCodec().encode({"big": 2**40, "small": 7, "integral": 100.0}))
    assert type(stored["big"]) is Int64
    assert type(stored["small"]) is int  # int32
    assert type(stored["integral"]) is float
    assert BsonCodec().decode(stored) == {"big": 2**40, "small": 7, "integral": 100.0}
