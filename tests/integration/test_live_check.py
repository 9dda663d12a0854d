"""``StoreRules.is_live`` (the check ``get`` makes after reading by ``_id`` alone)
gives the server's answer to ``live_filter`` for every kind of stored value."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from mongosession.store.documents import CODEC_OPTIONS
from mongosession.store.rules import StoreRules

NOW = datetime(2030, 1, 1, 12, 0, 0, tzinfo=timezone.utc)
PAST = NOW - timedelta(seconds=1)
FUTURE = NOW + timedelta(seconds=1)

#: Stored field values that a query treats differently: dates either side of now,
#: now itself, other BSON types (which never compare with a date), arrays.
DOCS: list[dict[str, Any]] = [
    {},
    {"expires": FUTURE},
    {"expires": PAST},
    {"expires": NOW},
    {"expires": None},
    {"expires": "2999-01-01T00:00:00.000Z"},
    {"expires": 4102444800000},
    {"expires": [PAST, FUTURE]},
    {"expires": [PAST]},
    {"expires": []},
    {"expires": FUTURE, "deleted": True},
    {"expires": FUTURE, "deleted": False},
    {"expires": FUTURE, "deleted": 1},
    {"expires": FUTURE, "deleted": "true"},
    {"expires": FUTURE, "deleted": [False, True]},
    {"expires": FUTURE, "deleted": [1]},
    {"expires": FUTURE, "createdAt": NOW - timedelta(hours=2)},
    {"expires": FUTURE, "createdAt": NOW - timedelta(minutes=30)},
    {"expires": FUTURE, "createdAt": NOW - timedelta(hours=1)},
    {"expires": FUTURE, "createdAt": "long ago"},
    {"expires": FUTURE, "createdAt": [NOW, NOW - timedelta(days=1)]},
    {"expires": FUTURE, "createdAt": None},
]


def rules(absolute_lifetime: float | None) -> StoreRules:
    return StoreRules(
        collection="sessions",
        ttl=3600,
        touch_after=0,
        absolute_lifetime=absolute_lifetime,
        auto_remove="disabled",
        auto_remove_interval=600,
        codec="json",
        transform_id=None,
        encryption_keys=None,
        delete_flags=False,
        user_key=None,
        timestamps=False,
        write_concern=None,
        timeout=5,
        max_size=1024 * 1024,
        create_indexes=False,
    )


@pytest.mark.parametrize("absolute_lifetime", [None, 3600])
def test_is_live_agrees_with_the_servers_live_filter(
    db: Any, absolute_lifetime: float | None
) -> None:
    collection = db.get_collection("sessions", codec_options=CODEC_OPTIONS)
    collection.insert_many([{"_id": f"s{i}", **doc} for i, doc in enumerate(DOCS)])
    store_rules = rules(absolute_lifetime)
    by_server = {d["_id"] for d in collection.find(store_rules.live_filter(NOW))}
    by_python = {d["_id"] for d in collection.find() if store_rules.is_live(d, NOW)}
    assert by_python == by_server
    # The cases above do split both ways (the comparison is not vacuous).
    assert 0 < len(by_server) < len(DOCS)
