"""The indexes the store needs, and how an existing index is judged."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

#: The TTL index connect-mongo creates; the same spec under the same name.
EXPIRES_INDEX: dict[str, Any] = {
    "name": "expires_1",
    "key": {"expires": 1},
    "expireAfterSeconds": 0,
}

#: The per-user index, sparse so sessions without a user cost nothing.
USER_INDEX: dict[str, Any] = {
    "name": "user_1",
    "key": {"user": 1},
    "partialFilterExpression": {"user": {"$exists": True}},
}


def index_matches(existing: Mapping[str, Any], wanted: Mapping[str, Any]) -> bool:
    return (
        dict(existing["key"]) == wanted["key"]
        and existing.get("expireAfterSeconds") == wanted.get("expireAfterSeconds")
        and existing.get("partialFilterExpression") == wanted.get("partialFilterExpression")
    )


def indexes_to_create(
    wanted: Sequence[dict[str, Any]], existing: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """Return the wanted indexes that are missing; raise if one conflicts.

    An identical index is accepted under any name; an index under our name, or
    on our key, with other options is a conflict the user must resolve.
    """
    from mongosession._errors import IndexConflict

    missing = []
    for spec in wanted:
        same_name = [ix for ix in existing if ix.get("name") == spec["name"]]
        same_key = [ix for ix in existing if dict(ix["key"]) == spec["key"]]
        if any(index_matches(ix, spec) for ix in same_name + same_key):
            continue
        if same_name or same_key:
            found = (same_name or same_key)[0]
            raise IndexConflict(
                f"index {found.get('name')!r} exists with other options "
                f"({dict(found)}); mongosession needs {spec}. Drop it, or use "
                'auto_remove="interval" / another collection.'
            )
        missing.append(spec)
    return missing
