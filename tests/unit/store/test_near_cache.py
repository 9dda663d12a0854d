"""The near cache's memory without a server: fills, invalidation, LRU, freshness, options."""

from __future__ import annotations

import math
import time
from datetime import datetime, timezone
from typing import Any

import pytest

from mongosession import (
    AsyncMongoStore,
    ConfigurationError,
    ConfigurationTypeError,
    MongoStore,
    NearCache,
)
from mongosession.store.nearcache import SessionCache, near_cache_option


def cache(max_entries: int = 10, max_staleness: float = 0.5) -> SessionCache:
    made = SessionCache(NearCache(max_entries=max_entries, max_staleness=max_staleness))
    made.fresh(time.monotonic())
    return made


def put(made: SessionCache, key: str, **doc: object) -> None:
    made.finish(made.begin(key), {"_id": key, **doc})


def test_a_fill_keeps_what_it_read_and_a_hit_is_a_new_copy() -> None:
    made = cache()
    when = datetime(2030, 1, 1, tzinfo=timezone.utc)
    put(made, "a", session={"cart": [1]}, expires=when)
    first = made.lookup("a")
    assert first == {"_id": "a", "session": {"cart": [1]}, "expires": when}
    assert first is not None
    first["session"]["cart"].append(2)
    assert made.lookup("a") == {"_id": "a", "session": {"cart": [1]}, "expires": when}


def test_an_invalidation_during_the_read_spoils_the_fill() -> None:
    made = cache()
    fill = made.begin("a")  # taken before the query is sent
    made.drop("a")  # the stream reports a change to "a" while the query is in flight
    made.finish(fill, {"_id": "a", "v": 1})  # what the query read: maybe older than the change
    assert made.lookup("a") is None
    put(made, "a", v=2)  # a read begun after the change is kept
    assert made.lookup("a") == {"_id": "a", "v": 2}


def test_an_invalidation_of_another_id_spoils_nothing() -> None:
    made = cache()
    fill = made.begin("a")
    made.drop("b")
    made.finish(fill, {"_id": "a"})
    assert made.lookup("a") == {"_id": "a"}


def test_a_reset_spoils_every_read_in_flight() -> None:
    made = cache()
    put(made, "kept-before", v=0)
    a, b = made.begin("a"), made.begin("b")
    made.drop_all()
    made.finish(a, {"_id": "a"})
    made.finish(b, {"_id": "b"})
    assert made.stats().entries == 0


def test_two_reads_of_one_id_are_judged_each_on_its_own() -> None:
    made = cache()
    early = made.begin("a")
    made.drop("a")
    late = made.begin("a")
    made.finish(late, {"_id": "a", "v": 2})
    made.finish(early, {"_id": "a", "v": 1})
    assert made.lookup("a") == {"_id": "a", "v": 2}
    assert made._pending == {}


def test_a_failed_read_unregisters_its_fill() -> None:
    made = cache()
    made.finish(made.begin("a"), None)
    assert made._pending == {}
    assert made.stats().entries == 0


def test_the_least_recently_used_entry_goes_first() -> None:
    made = cache(max_entries=2)
    put(made, "a")
    put(made, "b")
    assert made.lookup("a") is not None  # "b" is now the least recently used
    put(made, "c")
    assert made.lookup("b") is None
    assert made.lookup("a") is not None
    assert made.lookup("c") is not None


def test_nothing_is_served_unless_fresh_within_max_staleness() -> None:
    made = SessionCache(NearCache(max_staleness=0.5))
    put(made, "a")
    assert made.lookup("a") is None  # never vouched for
    made.fresh(time.monotonic() - 0.6)
    assert not made.serving
    assert made.lookup("a") is None
    made.fresh(time.monotonic())
    assert made.lookup("a") is not None
    made.stale()
    assert made.fresh_at == -math.inf
    assert made.lookup("a") is None
    stats = made.stats()
    assert (stats.hits, stats.misses, stats.serving) == (1, 3, False)


def test_freshness_never_goes_back() -> None:
    made = cache()
    now = made.fresh_at
    made.fresh(now - 10)
    assert made.fresh_at == now


def test_a_child_after_fork_starts_empty() -> None:
    made = cache()
    put(made, "a")
    made._after_fork()
    assert made.stats().entries == 0
    assert not made.serving


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, None), (False, None), (True, NearCache()), (NearCache(5, 1.0), NearCache(5, 1.0))],
)
def test_the_option(value: object, expected: NearCache | None) -> None:
    assert near_cache_option(value) == expected


@pytest.mark.parametrize(
    "options",
    [{"max_entries": 0}, {"max_entries": True}, {"max_entries": 1.5}, {"max_staleness": 0}],
)
def test_bad_options_are_refused(options: dict[str, object]) -> None:
    with pytest.raises(ConfigurationError):
        NearCache(**options)  # type: ignore[arg-type]


@pytest.mark.parametrize("staleness", [0.001, 61, math.nan, math.inf, True, "1"])
def test_a_bad_staleness_is_refused(staleness: object) -> None:
    with pytest.raises(ConfigurationError):
        NearCache(max_staleness=staleness)  # type: ignore[arg-type]


@pytest.mark.parametrize("store_class", [MongoStore, AsyncMongoStore])
def test_the_stores_check_the_option_before_any_network_use(store_class: Any) -> None:
    uri = "mongodb://127.0.0.1:9/app"  # never contacted: a store connects lazily
    assert store_class(uri=uri).near_cache_stats() is None
    stats = store_class(uri=uri, near_cache=True).near_cache_stats()
    assert stats is not None
    assert not stats.serving
    with pytest.raises(ConfigurationTypeError):
        store_class(uri=uri, near_cache="yes")
