"""What the store's admin methods return, and the pure parts of them (no I/O).

The admin methods (:class:`AsyncStoreAdmin` and its generated twin
:class:`StoreAdmin`, both part of every store) let a tool such as the
``mongosession`` command line read and clean up the sessions collection with the
store's own rules: its live filter (``absolute_lifetime`` included), its cleanup
filter, its flag. The typed results are defined here, once, for both stores.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Literal, NamedTuple

from bson.datetime_ms import DatetimeMS

from mongosession import _clock
from mongosession.store.documents import DATE_FIELDS
from mongosession.store.indexes import USER_INDEX, index_matches

#: What a stored document is to a reader: ``live`` (``get`` returns it), ``expired``
#: (past ``expires``, or past ``absolute_lifetime``), ``flagged`` (``deleted: true``),
#: or ``unreadable`` (a date no ``datetime`` holds, which ``get`` reads as no session).
SessionState = Literal["live", "expired", "flagged", "unreadable"]

#: A partial index on flagged sessions, so counting and cleaning them up needs no
#: scan. The store never needs it; ``setup_indexes(flagged_index=True)`` makes it.
FLAGGED_INDEX: dict[str, Any] = {
    "name": "deleted_1",
    "key": {"deleted": 1},
    "partialFilterExpression": {"deleted": True},
}

#: The fields :meth:`AsyncStoreAdmin.list_sessions` returns: every date, the user,
#: the flag, the device record (docs/devices.md), and the document's BSON size,
#: computed by the server (never the payload).
SUMMARY_PROJECTION: dict[str, Any] = {
    "user": 1,
    "deleted": 1,
    "device": 1,
    **dict.fromkeys(DATE_FIELDS, 1),
    "size": {"$bsonSize": "$$ROOT"},
}


class FlagCounts(NamedTuple):
    """How many of the documents a query matches are flagged, and how many are not."""

    flagged: int
    unflagged: int


class IndexSetup(NamedTuple):
    """The indexes :meth:`AsyncStoreAdmin.setup_indexes` created, and those already there."""

    created: list[str]
    present: list[str]


class IndexStatus(NamedTuple):
    """How the collection serves one of the store's indexes (:func:`index_status`).

    ``name`` is the index with the wanted key and options, whatever it is called, or
    None; ``problem`` says why an index on the same key does not serve (other
    options: a TTL index with another ``expireAfterSeconds``, say), or is None.
    """

    name: str | None
    problem: str | None


class NamespaceCheck(NamedTuple):
    """Whether the store's database and collection exist (:meth:`AsyncStoreAdmin.namespace_check`).

    ``database`` and ``collection`` are None when the user may not list them;
    ``collections`` are the database's collections the user may see, and
    ``databases`` the server's databases, when the collection or the database is
    missing (for a hint), else empty.
    """

    database: str
    collection: str
    database_exists: bool | None
    collection_exists: bool | None
    collections: list[str]
    databases: list[str]


class UserCount(NamedTuple):
    """A user and how many live sessions they have."""

    user: Any
    sessions: int


@dataclass(frozen=True)
class SessionStats:
    """The sessions collection at a glance (:meth:`AsyncStoreAdmin.session_stats`).

    ``live + expired + flagged == documents`` for the documents the store writes.
    ``ttl_index`` and ``user_index`` name the indexes serving expiry and per-user
    lookups: an index with the store's key and options, whatever its name (None
    when missing); ``ttl_index_problem`` and ``user_index_problem`` say what is wrong
    with an index on the same key but other options (None when there is none);
    ``indexes_visible`` is False when the database user may not list indexes (the
    names are then None).
    """

    namespace: str
    live: int
    expired: int
    flagged: int
    documents: int
    average_size: int | None
    users: int
    top_users: list[UserCount]
    ttl_index: str | None
    user_index: str | None
    indexes_visible: bool
    ttl_index_problem: str | None = None
    user_index_problem: str | None = None


def unreadable_dates(doc: Mapping[str, Any]) -> list[str]:
    """The date fields of ``doc`` that hold a date no ``datetime`` can hold.

    JavaScript can write a date past year 9999 (or before year 1); it reads as a
    ``bson.DatetimeMS`` (the store's ``CODEC_OPTIONS``), and the store reads the
    document as corrupt: no session.
    """
    return [name for name in DATE_FIELDS if isinstance(doc.get(name), DatetimeMS)]


def state(doc: Mapping[str, Any], live: bool) -> SessionState:
    """The :data:`SessionState` of ``doc``, given whether the store's live rule holds."""
    if unreadable_dates(doc):
        return "unreadable"
    if live:
        return "live"
    deleted = doc.get("deleted")
    if deleted is True or (isinstance(deleted, list) and True in deleted):
        return "flagged"
    return "expired"


def cleanup_filter(now: datetime, older_than: float = 0) -> dict[str, Any]:
    """What ``cleanup`` deletes: expired, or flagged ``older_than`` seconds ago or more."""
    try:
        cutoff = _clock.after(now, -older_than)
    except OverflowError:  # beyond the calendar: spare every dated flag, or none
        cutoff = (datetime.min if older_than > 0 else datetime.max).replace(tzinfo=timezone.utc)
    flagged = {"deleted": True, "deletedAt": {"$not": {"$gt": cutoff}}}
    return {"$or": [flagged, {"expires": {"$lte": now}}]}


def over_age_filter(now: datetime, absolute_lifetime: float | None) -> dict[str, Any] | None:
    """The documents neither flagged nor expired that ``absolute_lifetime`` has ended.

    None without an ``absolute_lifetime``. With the expired and the flagged
    documents, these are what the store's live filter leaves out.
    """
    if absolute_lifetime is None:
        return None
    return {
        "deleted": {"$ne": True},
        "expires": {"$not": {"$lte": now}},
        "createdAt": {"$lte": now - timedelta(seconds=absolute_lifetime)},
    }


def after_id(after: Any) -> dict[str, Any]:
    """The documents whose ``_id`` sorts after ``after``, by a range of the ``_id`` index.

    ``$expr`` compares across BSON types as a sort does (a plain ``$gt`` sees only
    values of ``after``'s own type), and the server still reads it as the index
    range ``(after, MaxKey]``; ``$literal`` keeps an id that starts with ``$`` a value.
    """
    return {"$expr": {"$gt": ["$_id", {"$literal": after}]}}


def both(*queries: Mapping[str, Any] | None) -> dict[str, Any]:
    """A query matching what every given query matches (None and ``{}`` match all)."""
    given = [dict(q) for q in queries if q]
    if len(given) <= 1:
        return given[0] if given else {}
    return {"$and": given}


def stats_queries(
    now: datetime, top: int, user_index: str | None, live: Mapping[str, Any]
) -> dict[str, Any]:
    """What :meth:`AsyncStoreAdmin.session_stats` asks the server, each through an index.

    - ``expired``: a range of the TTL index ``expires_1`` (the expired but not yet
      removed documents, few where the TTL monitor runs);
    - ``flagged``: the partial index :data:`FLAGGED_INDEX` (else a scan);
    - ``users``: the sessions ``live`` (the store's live filter) matches that have a
      user, read through the per-user index (hinted by name, when it exists),
      grouped by user.
    """
    users: dict[str, Any] = {
        "pipeline": [
            {"$match": {**live, "user": {"$exists": True}}},
            {"$group": {"_id": "$user", "sessions": {"$sum": 1}}},
            {
                "$facet": {
                    "top": [{"$sort": {"sessions": -1, "_id": 1}}, {"$limit": top}],
                    "count": [{"$count": "users"}],
                }
            },
        ]
    }
    if user_index:
        users["hint"] = user_index
    return {
        "expired": {"expires": {"$lte": now}, "deleted": {"$ne": True}},
        "flagged": {"deleted": True},
        "users": users,
    }


#: The options :func:`index_matches` compares, besides the key.
_JUDGED_OPTIONS = ("expireAfterSeconds", "partialFilterExpression")


def _option_text(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, Mapping):
        return json.dumps(value, default=str, sort_keys=True)
    return str(value)


def index_status(indexes: Sequence[Mapping[str, Any]], wanted: Mapping[str, Any]) -> IndexStatus:
    """Whether one of ``indexes`` is the index ``wanted`` (a spec of :mod:`.indexes`).

    Judged by the key and the options, as :func:`.indexes.index_matches` does when the
    store creates its indexes, never by the name: the TTL index is any index on
    ``{expires: 1}`` with ``expireAfterSeconds: 0``, and an index on that key with
    ``expireAfterSeconds: 3600`` is reported, whatever either is called.
    """
    same_key = [ix for ix in indexes if dict(ix["key"]) == dict(wanted["key"])]
    for ix in same_key:
        if index_matches(ix, wanted):
            return IndexStatus(str(ix["name"]), None)
    if not same_key:
        return IndexStatus(None, None)
    found = same_key[0]
    differences = [
        f"{option} {_option_text(found.get(option))} (the store needs "
        f"{_option_text(wanted.get(option))})"
        for option in _JUDGED_OPTIONS
        if found.get(option) != wanted.get(option)
    ]
    return IndexStatus(None, f"index '{found['name']}' has " + ", ".join(differences))


def index_on(indexes: Sequence[Mapping[str, Any]], wanted: Mapping[str, Any]) -> str | None:
    """The name of the index that is ``wanted`` (by key and options), or None."""
    return index_status(indexes, wanted).name


def _near(name: str, candidates: Sequence[str]) -> str | None:
    found = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return found[0] if found else None


def namespace_hint(check: NamespaceCheck) -> str | None:
    """Advice when the store's database or collection does not exist, else None.

    For a command that found nothing: a misspelt ``--db`` or ``--collection`` reads
    as an empty collection. Names a close existing one when there is one.
    """
    if check.database_exists is False:
        near = _near(check.database, check.databases)
        guess = f"; did you mean '{near}'? " if near is not None else ". "
        return (
            f"database '{check.database}' does not exist{guess}"
            "Pass --db, or name the database in the URI"
        )
    if check.collection_exists is False:
        near = _near(check.collection, check.collections)
        if near is not None:
            guess = f"; did you mean '{near}'? "
        elif 0 < len(check.collections) <= 5:
            guess = "; it has " + ", ".join(f"'{n}'" for n in sorted(check.collections)) + ". "
        else:
            guess = ". "
        return f"database '{check.database}' has no collection '{check.collection}'{guess}Pass --collection"
    return None


def user_index_hint(indexes: Sequence[Mapping[str, Any]]) -> str | None:
    """The name of an index the per-user queries may be hinted to: exactly the store's."""
    return next((str(ix["name"]) for ix in indexes if index_matches(ix, USER_INDEX)), None)
