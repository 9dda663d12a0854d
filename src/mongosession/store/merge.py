"""Merging concurrent changes to one session, key by key."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from mongosession._errors import (
    SessionConflict,
)

MERGE_ATTEMPTS = 64

_MISSING: Any = object()


def same_value(a: Any, b: Any) -> bool:
    """``a == b``, except that NaN equals NaN, at any depth (a stored NaN is unchanged)."""
    if a is b or a == b:
        return True
    if isinstance(a, float) and isinstance(b, float):
        return math.isnan(a) and math.isnan(b)
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return a.keys() == b.keys() and all(same_value(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(same_value(x, y) for x, y in zip(a, b, strict=True))
    return False


def merge_changes(
    base: Mapping[str, Any], ours: Mapping[str, Any], current: Mapping[str, Any]
) -> dict[str, Any]:
    """Apply the top-level changes from ``base`` to ``ours`` onto ``current``.

    ``cookie`` is always ours (this request decides the cookie). A key that
    both sides changed is a conflict (:class:`SessionConflict`) even when the
    values agree: two requests that each add one to a counter write the same
    value, and taking either would lose an increment. Values compare with
    :func:`same_value` (a NaN stored under one key is not a change to it).
    """
    merged = dict(current)
    conflicts = []
    for key in base.keys() | ours.keys():
        mine = ours.get(key, _MISSING)
        before = base.get(key, _MISSING)
        if key != "cookie" and same_value(mine, before):
            continue
        theirs = current.get(key, _MISSING)
        if key != "cookie" and not same_value(theirs, before):
            conflicts.append(key)
        elif mine is _MISSING:
            merged.pop(key, None)
        else:
            merged[key] = mine
    if conflicts:
        raise SessionConflict(conflicts)
    return merged
