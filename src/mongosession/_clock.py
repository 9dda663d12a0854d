"""Time, as the store and the session layer see it.

All times are timezone-aware UTC, truncated to milliseconds because BSON dates
and JavaScript dates carry no more. Tests replace :func:`now` to move time.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone


def now() -> datetime:
    """Return the current UTC time, truncated to milliseconds."""
    t = datetime.now(timezone.utc)
    # Subtracting the sub-millisecond part is cheaper than replace(microsecond=...).
    return t - timedelta(microseconds=t.microsecond % 1000)


def after(start: datetime, seconds: float) -> datetime:
    """Return ``start`` plus ``seconds``, truncated to milliseconds."""
    t = start + timedelta(seconds=seconds)
    return t.replace(microsecond=t.microsecond // 1000 * 1000)


def to_js_iso(t: datetime) -> str:
    """Format ``t`` as JavaScript's ``Date.prototype.toISOString`` does."""
    # isoformat truncates to milliseconds as JavaScript does, pads the year to four
    # digits as toISOString does, and is cheaper than strftime.
    return t.astimezone(timezone.utc).replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"


def parse_js_iso(text: str) -> datetime:
    """Parse an ISO 8601 date as written by JavaScript (``...Z``) or Python.

    Raises:
        ValueError: ``text`` is not an ISO 8601 date.
    """
    t = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
    if t.tzinfo is None:
        t = t.replace(tzinfo=timezone.utc)
    return t.astimezone(timezone.utc)
