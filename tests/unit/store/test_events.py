"""How a change-stream event becomes a :class:`~mongosession.SessionEvent`, without a server.

:func:`~mongosession.store.events.event_from_change` classifies a change by its
pre-image; ``store.watch()`` on a real replica set is tests/integration/test_watch.py's.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from bson import Timestamp

from mongosession.store.events import event_from_change


def _change(operation: str, before: dict[str, Any] | None, **extra: Any) -> dict[str, Any]:
    return {
        "_id": {"_data": "token"},
        "operationType": operation,
        "documentKey": {"_id": "sid"},
        "wallTime": datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc),
        "fullDocumentBeforeChange": before,
        **extra,
    }


NOON = datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("before", "kind"),
    [
        ({"expires": NOON}, "expired"),  # expired at the very moment of the delete
        ({"expires": NOON - timedelta(seconds=1)}, "expired"),
        ({"expires": NOON + timedelta(milliseconds=1)}, "destroyed"),
        ({}, "destroyed"),  # no expiry field: never expires, so an explicit delete
        ({"expires": NOON, "deleted": True}, "purged"),
        (None, "deleted"),
    ],
)
def test_a_delete_is_classified_by_its_pre_image(before: Any, kind: str) -> None:
    event = event_from_change(_change("delete", before))
    assert event is not None
    assert event.kind == kind
    assert event.resume_token == {"_data": "token"}


def test_only_an_update_that_sets_the_flag_is_an_event() -> None:
    flag = _change("update", None, updateDescription={"updatedFields": {"deleted": True}})
    touch = _change("update", None, updateDescription={"updatedFields": {"expires": NOON}})
    insert = _change("insert", None)
    assert event_from_change(flag) is not None
    assert event_from_change(flag).kind == "flagged"  # type: ignore[union-attr]
    assert event_from_change(touch) is None
    assert event_from_change(insert) is None


def test_the_time_falls_back_to_the_cluster_time() -> None:
    change = _change("delete", None)
    del change["wallTime"]
    change["clusterTime"] = Timestamp(1_700_000_000, 1)
    event = event_from_change(change)
    assert event is not None
    assert event.at == datetime.fromtimestamp(1_700_000_000, timezone.utc)
