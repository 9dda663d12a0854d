"""Dates as JavaScript writes them (:mod:`mongosession._clock`).

``to_js_iso`` formats without ``strftime`` (a shortcut added after profiling with
``python -m bench``): checked here against the plain definition.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from mongosession._clock import to_js_iso


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
