"""The store's options, refused at construction before any I/O (:mod:`mongosession.store.rules`).

A store with a bad option never gets as far as a client; one with good options makes a
client that has not connected yet (``connect=False``), so nothing here needs a server.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import mongosession
from mongosession import AsyncMongoStore, MongoStore
from mongosession._ids import hashed_sid

#: No server listens there, and none is asked: the tests end before any I/O.
NOWHERE = "mongodb://127.0.0.1:1/app"

FLAVOURS = pytest.mark.parametrize("flavour", [MongoStore, AsyncMongoStore], ids=["sync", "async"])


def close(store: Any) -> None:
    """Close a store of either flavour (its client never connected)."""
    if isinstance(store, AsyncMongoStore):
        asyncio.run(store.close())
    else:
        store.close()


@pytest.mark.parametrize("options", [{}, {"uri": "mongodb://h/db", "client": object()}])
def test_exactly_one_of_uri_and_client(options: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="exactly one"):
        mongosession.MongoStore(**options)


@pytest.mark.parametrize(
    "options",
    [
        {"ttl": 0},
        {"touch_after": -1},
        {"auto_remove": "sometimes"},
        {"codec": "pickle"},
        {"timeout": 0},
    ],
)
def test_bad_options_are_refused(options: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=r"must be|codec"):
        mongosession.AsyncMongoStore(uri="mongodb://127.0.0.1:1/db", **options)


@FLAVOURS
def test_the_database_must_be_named(flavour: Any) -> None:
    with pytest.raises(ValueError, match="name the database"):
        flavour(uri="mongodb://127.0.0.1:1")


@FLAVOURS
def test_a_wrong_size_key_is_refused(flavour: Any) -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        flavour(uri=NOWHERE, encryption_keys=[b"short"])


@pytest.mark.parametrize(
    ("key", "error"),
    [
        (True, TypeError),
        (b"short", ValueError),
        ("", ValueError),
        (42, TypeError),
        ([], ValueError),  # a rotation's list names at least one key
        ([b"k" * 16, b"k" * 16], ValueError),  # the same key twice
        ([b"k" * 16, b"short"], ValueError),
        ([b"k" * 16, True], TypeError),
        ([None, None], ValueError),
    ],
)
def test_hash_ids_needs_a_real_key(key: Any, error: type[Exception]) -> None:
    with pytest.raises(error, match="hash_ids"):
        AsyncMongoStore(uri="mongodb://127.0.0.1:1/app", hash_ids=key)


def test_a_hash_ids_rotation_looks_under_every_key_the_first_for_new_sessions() -> None:
    new, old = b"n" * 16, b"o" * 16
    store = AsyncMongoStore(
        uri="mongodb://127.0.0.1:1/app", hash_ids=[new, old, None], transform_id="p:".__add__
    )
    single_store = AsyncMongoStore(uri="mongodb://127.0.0.1:1/app", hash_ids=new)
    rules, single = store._rules, single_store._rules
    close(store)
    close(single_store)
    expected = ("p:" + hashed_sid(new, "sid"), "p:" + hashed_sid(old, "sid"), "p:sid")
    assert rules.storage_ids("sid") == expected
    assert rules.storage_id("sid") == expected[0]
    assert rules.user_filter("u", mongosession._clock.now(), keep="sid")["_id"] == {
        "$nin": list(expected)
    }
    assert (single.rotating, rules.rotating) == (False, True)
    assert single.storage_ids("sid") == (hashed_sid(new, "sid"),)


def test_the_limit_needs_a_user_key_and_a_sane_value() -> None:
    uri = "mongodb://127.0.0.1:1/app"
    with pytest.raises(ValueError, match="user_key"):
        AsyncMongoStore(uri=uri, max_sessions_per_user=3)
    for bad in (0, -1, True, 2.5):
        with pytest.raises(ValueError, match="positive int"):
            AsyncMongoStore(uri=uri, user_key="user", max_sessions_per_user=bad)
    with pytest.raises(ValueError, match="on_session_limit"):
        AsyncMongoStore(uri=uri, user_key="u", max_sessions_per_user=1, on_session_limit="kick")  # type: ignore[arg-type]


@FLAVOURS
def test_an_unknown_event_is_refused(flavour: Any) -> None:
    store = flavour(uri=NOWHERE)
    try:
        with pytest.raises(ValueError, match="unknown event"):
            store.on("expire", print)
    finally:
        close(store)


def test_max_await_must_be_shorter_than_the_store_timeout() -> None:
    with MongoStore(uri="mongodb://127.0.0.1:1/app", timeout=1) as store:  # never connects
        with pytest.raises(ValueError, match="max_await"):
            store.watch(max_await=2)
        with pytest.raises(ValueError, match="max_await"):
            store.watch(max_await=0)
