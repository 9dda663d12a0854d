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

#: The hint that sends a per-user query to the per-user index, by key (so an
#: identical index under another name serves too). Without it the planner may
#: pick ``expires_1`` for the live filter and read every live session to find
#: one user's (docs/scaling.md#per-user-operations).
USER_HINT: dict[str, Any] = {"user": 1}

#: The server's answer to a hint naming an index the collection does not have.
_NO_SUCH_INDEX = "hint provided does not correspond to an existing index"


def hint_missing(exc: Exception) -> bool:
    """Whether ``exc`` (an ``OperationFailure``) says a hinted index does not exist.

    The store hints its own indexes; a deployment may lack one (``create_indexes=False``
    before ``mongosession ensure-indexes``, or an index dropped since): the operation
    then runs again without the hint, slower but correct.
    """
    return getattr(exc, "code", None) == 2 and _NO_SUCH_INDEX in str(exc)


def hint_option(hint: Any) -> dict[str, Any]:
    """``hint=`` for a driver call that refuses ``hint=None`` (``count_documents``, ``aggregate``)."""
    return {} if hint is None else {"hint": hint}


def names_user(query: Mapping[str, Any] | None) -> bool:
    """Whether ``query`` selects by ``user``: at its top level or in a top-level ``$and``.

    Such a query is one user's sessions (the command line's ``--user``, say): the
    admin methods hint the per-user index for it.
    """
    if not query:
        return False
    if "user" in query:
        return True
    parts = query.get("$and")
    return isinstance(parts, list) and any(
        isinstance(part, Mapping) and names_user(part) for part in parts
    )


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
