"""Hypothesis strategies for what a session holds: any JSON or BSON value, hostile keys."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from bson import ObjectId
from hypothesis import strategies as st

no_surrogates = st.characters(blacklist_categories=("Cs",))
any_text = st.text(no_surrogates, max_size=40)

HOSTILE_KEYS = st.sampled_from(["$where", "a.b", "_id", "expires", "session", "user", "%2E", "\0"])
keys = st.one_of(HOSTILE_KEYS, any_text)
json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**53), 2**53),
    st.floats(allow_nan=False, allow_infinity=False),
    any_text,
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4),
    max_leaves=12,
)
bson_scalars = st.one_of(
    json_scalars,
    st.integers(-(2**63), 2**63 - 1),
    st.binary(max_size=16),
    st.datetimes(
        min_value=datetime(1900, 1, 1),
        max_value=datetime(2200, 1, 1),
        timezones=st.just(timezone.utc),
    ).map(lambda t: t.replace(microsecond=t.microsecond // 1000 * 1000)),
    st.builds(ObjectId),
)
bson_values = st.recursive(
    bson_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4),
    max_leaves=12,
)


def sessions_of(values: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    """Session dicts: hostile top-level keys, never ``cookie`` (the store's own)."""
    return st.dictionaries(keys.filter(lambda k: k != "cookie"), values, max_size=6)
