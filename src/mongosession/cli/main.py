"""The ``mongosession`` admin command line (argparse, no extra dependency).

Every command talks to one sessions collection through a :class:`MongoStore`
(``--uri`` or ``MONGODB_URI``, ``--collection``). Exit statuses are part of the
interface and listed in :data:`EXIT_CODES`.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import re
import sys
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timezone
from typing import Any, TextIO

import bson
from bson.datetime_ms import DatetimeMS
from pymongo.errors import (
    ConfigurationError,
    ConnectionFailure,
    OperationFailure,
)

from mongosession import _clock
from mongosession._errors import (
    ChangeStreamsUnsupported,
    CorruptSession,
    IndexConflict,
    IndexPermissionError,
    StoreUnavailable,
)
from mongosession.codecs.encryption import is_envelope
from mongosession.codecs.formats import BsonCodec, JsonCodec
from mongosession.store.indexes import EXPIRES_INDEX, USER_INDEX, index_matches, indexes_to_create
from mongosession.store.synchronous.store import MongoStore

EXIT_OK = 0
EXIT_NOTHING_DONE = 1
EXIT_USAGE = 2
EXIT_UNAVAILABLE = 3
EXIT_PERMISSION = 4
EXIT_ENCRYPTED = 5

#: Where ``show`` finds the store's secrets when they are not given as options.
ENCRYPTION_KEYS_ENV = "MONGOSESSION_ENCRYPTION_KEYS"
HASH_KEY_ENV = "MONGOSESSION_HASH_KEY"

#: Exit status -> meaning; scripts may rely on these.
EXIT_CODES = {
    EXIT_OK: "success",
    EXIT_NOTHING_DONE: "not found, or nothing done (no such session, nothing matched, "
    "confirmation declined, index conflict, change streams unsupported)",
    EXIT_USAGE: "usage error (bad arguments, no URI, no database name, no terminal to confirm on)",
    EXIT_UNAVAILABLE: "database unavailable (cannot connect, or no answer within --timeout)",
    EXIT_PERMISSION: "permission denied (authentication failed, or the user lacks a privilege)",
    EXIT_ENCRYPTED: "encrypted session data that no given key opens (show without the "
    "store's encryption keys, or with the wrong ones)",
}

_UNAUTHORIZED = 13
_AUTHENTICATION_FAILED = 18
_DEFAULT_BATCH = 10_000
_INT64 = 2**63


class CliError(Exception):
    """A failure the command line reports in one line, with an exit status."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


# -- output ---------------------------------------------------------------------
#
# What the commands print comes from the database, and the database from web users (a
# user name, session data) or from other applications sharing the collection (an id,
# a date, an index name). A control character in it would drive the operator's
# terminal: retitle it, clear it, forge a row. So every line written goes through
# printable() (_say, _warn, the revoke question, Progress), which escapes the whole
# line, or, for JSON, _printable_json() (_say_json). Both follow str.isprintable().

_NAMED_ESCAPES = {"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(char: str) -> str:
    named = _NAMED_ESCAPES.get(char)
    if named is not None:
        return named
    code = ord(char)
    if code < 0x80:
        return f"\\x{code:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def printable(value: object) -> str:
    """``value`` as text that is safe to write to a terminal.

    Every character :meth:`str.isprintable` rejects (C0 controls and newlines, DEL,
    C1 controls, the line and paragraph separators, format characters such as the
    bidirectional overrides and zero-width spaces, lone surrogates) and the backslash
    are escaped as Python writes them: ``\\n``, ``\\x1b``, ``\\u0085``, ``\\\\``. The
    escaping is one-to-one, and bash's ``$'...'`` reads it back. Example::

        printable("\\x1b]0;owned\\x07\\nroot")  # '\\\\x1b]0;owned\\\\x07\\\\nroot'
    """
    text = value if isinstance(value, str) else str(value)
    if text.isprintable() and "\\" not in text:
        return text
    return "".join(c if c.isprintable() and c != "\\" else _escape(c) for c in text)


def _json_escape(char: str) -> str:
    code = ord(char)
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    code -= 0x10000  # JSON spells a character beyond the BMP as a surrogate pair
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"


def _printable_json(text: str) -> str:
    """JSON text with every unprintable character (:func:`printable`'s rule) as ``\\uXXXX``.

    ``json.dumps`` escapes C0, the quote and the backslash itself; with
    ``ensure_ascii=False`` the rest (DEL, C1, separators...) would go out raw. Outside
    its strings JSON text holds only printable characters and the line breaks of its
    indentation, so the result is the same JSON value.
    """
    return "\n".join(
        line
        if line.isprintable()
        else "".join(c if c.isprintable() else _json_escape(c) for c in line)
        for line in text.split("\n")
    )


def _say(line: object = "", *, flush: bool = False) -> None:
    """Write one line of text on stdout, escaped by :func:`printable`."""
    print(printable(line), flush=flush)


def _say_json(text: str, *, flush: bool = False) -> None:
    """Write JSON text on stdout, escaped by :func:`_printable_json`."""
    print(_printable_json(text), flush=flush)


def _warn(message: object) -> None:
    """Write one line on stderr, escaped by :func:`printable`."""
    print(printable(message), file=sys.stderr)


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return _clock.to_js_iso(value)
    if isinstance(value, DatetimeMS):  # a date no datetime holds: Extended JSON's form
        return {"$date": {"$numberLong": str(int(value))}}
    if isinstance(value, bytes):
        return value.hex()
    return str(value)  # ObjectId, Decimal128, Timestamp...


def _print_json(value: Any) -> None:
    _say_json(json.dumps(value, indent=2, default=_json_default))


#: The document's dates. One of them past year 9999 (JavaScript can write it) or
#: before year 1 reads as a ``DatetimeMS`` (the store's ``CODEC_OPTIONS``), and the
#: store reads the document as corrupt: the commands show it as ``unreadable``.
DATE_FIELDS = ("expires", "createdAt", "updatedAt", "lastModified", "userSince", "deletedAt")


def _unreadable_dates(doc: Mapping[str, Any]) -> list[str]:
    """The date fields of ``doc`` that hold a date no ``datetime`` can hold."""
    return [name for name in DATE_FIELDS if isinstance(doc.get(name), DatetimeMS)]


def _when(value: Any) -> str:
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ")
    if isinstance(value, DatetimeMS):
        return f"unreadable ({int(value)} ms)"
    return "-" if value is None else str(value)


def _size(n: float | None) -> str:
    if n is None:
        return "-"
    if n < 1024:
        return f"{n:.0f} B"
    if n < 1024 * 1024:
        return f"{n / 1024:.1f} KiB"
    return f"{n / 1024 / 1024:.1f} MiB"


def _say_table(headers: Sequence[str] | None, rows: Iterable[Sequence[Any]]) -> None:
    """Print aligned columns, each cell as :func:`printable` shows it."""
    cells = [[str(c) for c in row] for row in rows]
    if headers is not None:
        cells.insert(0, [str(c) for c in headers])
    if not cells:
        return
    shown = [[len(printable(c)) for c in row] for row in cells]
    widths = [max(row[i] for row in shown) for i in range(len(cells[0]))]
    for row, lengths in zip(cells, shown, strict=True):
        padded = (c + " " * (w - n) for c, n, w in zip(row, lengths, widths, strict=True))
        _say("  ".join(padded).rstrip(" "))


class Progress:
    """Progress of a long deletion on stderr.

    A redrawn bar on a terminal; otherwise (logs, pipes) one line at every
    further 5 % and at the end, so a cron log stays short for millions.
    """

    def __init__(self, total: int, label: str, stream: TextIO | None = None) -> None:
        self.total = total
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        self.interactive = self.stream.isatty()
        self._last_step = -1

    def update(self, done: int) -> None:
        """Report ``done`` of ``total``."""
        percent = 100.0 if self.total <= 0 else min(100.0, 100.0 * done / self.total)
        if self.interactive:
            filled = int(percent // 5)
            bar = "#" * filled + "." * (20 - filled)
            line = printable(f"{self.label} [{bar}] {done}/{self.total} {percent:3.0f}%")
            self.stream.write(f"\r{line}")
            self.stream.flush()
            return
        step = int(percent // 5)
        if step > self._last_step:
            self._last_step = step
            line = f"{self.label}: {done}/{self.total} ({percent:.0f}%)"
            print(printable(line), file=self.stream)

    def finish(self, done: int) -> None:
        """Report the final count and end the line."""
        if self.interactive:
            self.update(done)
            self.stream.write("\n")
            self.stream.flush()
        elif self._last_step < 20:
            print(printable(f"{self.label}: {done}/{self.total} (done)"), file=self.stream)


# -- queries --------------------------------------------------------------------


def _live(now: datetime) -> dict[str, Any]:
    # The store's own rule: not flagged, and no expiry or an expiry to come.
    return {
        "deleted": {"$ne": True},
        "$or": [{"expires": {"$exists": False}}, {"expires": {"$gt": now}}],
    }


def _cleanup_query(now: datetime, older_than: float) -> dict[str, Any]:
    # The store's cleanup(older_than) rule: expired, or flagged before the cutoff.
    try:
        cutoff = _clock.after(now, -older_than)
    except OverflowError:  # further back than year 1: every dated flag is spared
        cutoff = datetime.min.replace(tzinfo=timezone.utc)
    flagged = {"deleted": True, "deletedAt": {"$not": {"$gt": cutoff}}}
    return {"$or": [flagged, {"expires": {"$lte": now}}]}


def user_values(text: str) -> list[Any]:
    """The stored values a user given on the command line may have.

    The ``user`` field holds what the application put there: a str, an int or
    an ObjectId. ``"42"`` matches the string and the number, a 24-digit hex
    string matches the string and the ObjectId.
    """
    values: list[Any] = [text]
    if re.fullmatch(r"-?[0-9]{1,19}", text) and -_INT64 <= int(text) < _INT64:
        values.append(int(text))
    if re.fullmatch(r"[0-9a-fA-F]{24}", text):
        values.append(bson.ObjectId(text))
    return values


def _state(doc: Mapping[str, Any], now: datetime) -> str:
    if _unreadable_dates(doc):
        return "unreadable"
    if doc.get("deleted") is True:
        return "flagged"
    expires = doc.get("expires")
    if isinstance(expires, datetime) and expires <= now:
        return "expired"
    return "live"


def batched_delete(
    collection: Any,
    query: Mapping[str, Any],
    *,
    batch_size: int,
    on_batch: Callable[[int], None] | None = None,
) -> int:
    """Delete what ``query`` matches in batches of ``batch_size`` ids; return how many.

    One scan reads the matching ids; each batch is deleted with the query
    applied again, so a session that was touched (its expiry moved) or
    re-flagged between the read and the delete is judged on its current state.
    No single command holds a lock on millions of documents.
    """
    deleted = 0
    ids: list[Any] = []

    def flush() -> None:
        nonlocal deleted
        result = collection.delete_many({"$and": [{"_id": {"$in": ids}}, dict(query)]})
        deleted += result.deleted_count
        ids.clear()
        if on_batch is not None:
            on_batch(deleted)

    for doc in collection.find(query, projection={"_id": 1}, batch_size=batch_size):
        ids.append(doc["_id"])
        if len(ids) >= batch_size:
            flush()
    if ids:
        flush()
    return deleted


# -- commands -------------------------------------------------------------------


def _namespace(store: MongoStore) -> str:
    return f"{_collection(store).database.name}.{store.collection_name}"


def _collection(store: MongoStore) -> Any:
    # The store's own collection object: primary reads, tz-aware dates.
    return store._collection


#: An index stats and cleanup use for flagged sessions (``ensure-indexes --flag-index``):
#: partial, so it holds only the flagged few.
FLAGGED_INDEX: dict[str, Any] = {
    "name": "deleted_1",
    "key": {"deleted": 1},
    "partialFilterExpression": {"deleted": True},
}
_NAMESPACE_NOT_FOUND = 26


def stats_queries(now: datetime, top: int, user_index: str | None) -> dict[str, Any]:
    """What ``stats`` asks the server, each through an index when the index exists.

    - ``expired``: a range of the TTL index ``expires_1`` (the expired but not yet
      removed documents, few where the TTL monitor runs);
    - ``flagged``: the partial index :data:`FLAGGED_INDEX` (else a scan);
    - ``users``: the live sessions with a user, read through the per-user index
      (hinted by name, when it exists), grouped by user.
    """
    users: dict[str, Any] = {
        "pipeline": [
            {"$match": {**_live(now), "user": {"$exists": True}}},
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


def _storage_totals(collection: Any) -> tuple[int, int]:
    """The number of documents and their total BSON size, from the server's statistics.

    ``$collStats`` reads the counters the storage engine keeps (one document per
    shard on a sharded cluster); a user without the ``collStats`` action gets the
    same numbers from a scan.
    """
    try:
        shards = list(collection.aggregate([{"$collStats": {"storageStats": {}}}]))
        return (
            sum(int(shard["storageStats"]["count"]) for shard in shards),
            sum(int(shard["storageStats"]["size"]) for shard in shards),
        )
    except OperationFailure as exc:
        if exc.code == _NAMESPACE_NOT_FOUND:
            return 0, 0
        if exc.code != _UNAUTHORIZED:
            raise
    totals = next(
        collection.aggregate(
            [
                {
                    "$group": {
                        "_id": None,
                        "documents": {"$sum": 1},
                        "bytes": {"$sum": {"$bsonSize": "$$ROOT"}},
                    }
                }
            ]
        ),
        {"documents": 0, "bytes": 0},
    )
    return totals["documents"], totals["bytes"]


def cmd_stats(store: MongoStore, args: argparse.Namespace) -> int:
    """Counts by state, average size, indexes, and the users with most live sessions.

    Nothing here reads the whole collection when the store's indexes exist: the
    totals come from the collection's statistics, the counts from index ranges.
    """
    collection = _collection(store)
    now = _clock.now()
    try:
        indexes = list(collection.list_indexes())
    except OperationFailure as exc:
        if exc.code != _UNAUTHORIZED:
            raise
        indexes = None

    def index_named(key: Mapping[str, Any]) -> str | None:
        if indexes is None:
            return None
        for ix in indexes:
            if dict(ix["key"]) == key and ("expires" not in key or "expireAfterSeconds" in ix):
                return str(ix["name"])
        return ""

    # A hint must name an index the filter can use: exactly the store's per-user index.
    hint = next((ix["name"] for ix in indexes or () if index_matches(ix, USER_INDEX)), None)
    queries = stats_queries(now, args.top, hint)
    documents, total_bytes = _storage_totals(collection)
    expired = collection.count_documents(queries["expired"])
    flagged = collection.count_documents(queries["flagged"])
    users = next(collection.aggregate(**queries["users"]))
    ttl_index = index_named(EXPIRES_INDEX["key"])
    user_index = index_named(USER_INDEX["key"])
    stats: dict[str, Any] = {
        "namespace": _namespace(store),
        "live": documents - flagged - expired,
        "expired": expired,
        "flagged": flagged,
        "documents": documents,
        "average_size": round(total_bytes / documents) if documents else None,
        "users": users["count"][0]["users"] if users["count"] else 0,
        "top_users": [{"user": u["_id"], "sessions": u["sessions"]} for u in users["top"]],
        "ttl_index": ttl_index or None,
        "user_index": user_index or None,
        "indexes_visible": indexes is not None,
    }
    if args.json:
        _print_json(stats)
        return EXIT_OK

    def index_text(name: str | None) -> str:
        return "unknown (no listIndexes privilege)" if name is None else (name or "missing")

    _say(f"sessions in {stats['namespace']}")
    _say_table(
        None,
        [
            ("live", stats["live"]),
            ("expired, not yet removed", stats["expired"]),
            ("flagged as deleted", stats["flagged"]),
            ("documents", documents),
            ("average document size", _size(stats["average_size"])),
            ("users with live sessions", stats["users"]),
            ("TTL index on expires", index_text(ttl_index)),
            ("per-user index", index_text(user_index)),
        ],
    )
    if stats["top_users"]:
        _say()
        _say(f"top {len(stats['top_users'])} users by live sessions")
        _say_table(("USER", "SESSIONS"), [(u["user"], u["sessions"]) for u in stats["top_users"]])
    return EXIT_OK


def _summary(doc: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    return {
        "id": doc["_id"],
        "state": _state(doc, now),
        "user": doc.get("user"),
        "expires": doc.get("expires"),
        "created": doc.get("createdAt"),
        "modified": doc.get("updatedAt") or doc.get("lastModified"),
        "size": doc.get("size"),
    }


def cmd_list(store: MongoStore, args: argparse.Namespace) -> int:
    """Live sessions, latest expiry first, optionally of one user."""
    now = _clock.now()
    query = _live(now)
    if args.user is not None:
        query["user"] = {"$in": user_values(args.user)}
    pipeline: list[dict[str, Any]] = [{"$match": query}, {"$sort": {"expires": -1, "_id": 1}}]
    if args.limit:
        pipeline.append({"$limit": args.limit + 1})
    pipeline.append(
        {
            "$project": {
                "user": 1,
                "expires": 1,
                "createdAt": 1,
                "updatedAt": 1,
                "lastModified": 1,
                "userSince": 1,
                "deletedAt": 1,
                "size": {"$bsonSize": "$$ROOT"},
            }
        }
    )
    docs = list(_collection(store).aggregate(pipeline))
    truncated = bool(args.limit) and len(docs) > args.limit
    sessions = [_summary(doc, now) for doc in docs[: args.limit or None]]
    if args.json:
        _print_json({"sessions": sessions, "count": len(sessions), "truncated": truncated})
    else:
        rows = [
            (
                s["id"],
                "-" if s["user"] is None else s["user"],
                s["state"],
                _when(s["expires"]),
                _size(s["size"]),
            )
            for s in sessions
        ]
        _say_table(("ID", "USER", "STATE", "EXPIRES (UTC)", "SIZE"), rows)
        if truncated:
            _warn(f"(first {args.limit} shown; --limit 0 lists all)")
        unreadable = sum(s["state"] == "unreadable" for s in sessions)
        if unreadable:
            _warn(
                f"({unreadable} unreadable: a date past year 9999 or before year 1, which "
                "the store reads as no session; `show ID` names the field)"
            )
    if not sessions and args.user is not None:
        _warn(f"no live sessions for user '{args.user}'")
        return EXIT_NOTHING_DONE
    return EXIT_OK


def _decode_plain(stored: Any) -> tuple[Any, str]:
    """The session dict of an unencrypted payload and its format: json, bson or unreadable."""
    if isinstance(stored, str):
        try:
            return JsonCodec().decode(stored), "json"
        except CorruptSession:
            return None, "unreadable (a foreign format)"
    if isinstance(stored, Mapping):
        try:
            return BsonCodec().decode(dict(stored)), "bson"
        except CorruptSession:
            pass
    return None, "unreadable"


def _decode_payload(stored: Any, stored_id: str, store: MongoStore) -> tuple[Any, str, str | None]:
    """The session dict, how it was stored, and why encrypted data could not be read.

    An encrypted payload is opened with the keys the store was given
    (``--encryption-key`` or :data:`ENCRYPTION_KEYS_ENV`).
    """
    if not is_envelope(stored):
        return (*_decode_plain(stored), None)
    rules = store._rules
    if rules.encryptor is None:
        return (
            None,
            "encrypted",
            "the session data is encrypted: give the store's encryption keys in "
            f"${ENCRYPTION_KEYS_ENV} (one per line) or with --encryption-key to read it",
        )
    try:
        opened = rules.unseal(stored, stored_id)
    except CorruptSession as exc:
        return None, "encrypted", f"the given encryption keys do not open it: {exc}"
    data, kind = _decode_plain(opened)
    return data, f"encrypted {kind}", None


def cmd_show(store: MongoStore, args: argparse.Namespace) -> int:
    """One session document, whatever its state, with its decoded data."""
    stored_id = args.sid
    if args.hash_ids:
        try:
            stored_id = store._rules.storage_id(args.sid)
        except (TypeError, ValueError) as exc:
            raise CliError(f"not a session id: {exc}", EXIT_USAGE) from None
    doc = _collection(store).find_one({"_id": stored_id})
    if doc is None:
        hashed = f" (stored as '{stored_id}')" if stored_id != args.sid else ""
        _warn(f"no session '{args.sid}'{hashed} in {_namespace(store)}")
        return EXIT_NOTHING_DONE
    data, payload, problem = _decode_payload(doc.get("session"), str(doc["_id"]), store)
    shown = {
        **_summary(doc, _clock.now()),
        "deleted_at": doc.get("deletedAt"),
        "size": len(bson.encode(doc)),
        "payload": payload,
        "session": data,
    }
    if args.json:
        _print_json(shown)
    else:
        for key in ("id", "state", "user", "expires", "created", "modified", "deleted_at"):
            value = shown[key]
            text = _when(value) if isinstance(value, (datetime, DatetimeMS)) else value or "-"
            _say(f"{key + ':':12} {text}")
        _say(f"{'size:':12} {_size(shown['size'])} ({payload})")
        if data is not None:
            _say("session:")
            _say_json(json.dumps(data, indent=2, default=_json_default, ensure_ascii=False))
    for name in _unreadable_dates(doc):
        _warn(
            f"mongosession: {name} holds a date past year 9999 or before year 1 "
            f"({int(doc[name])} ms since 1970): the store reads this session as no session"
        )
    if problem is not None:
        _warn(f"mongosession: {problem}")
        return EXIT_ENCRYPTED
    return EXIT_OK


def _confirm(question: str, args: argparse.Namespace) -> bool:
    if args.yes:
        return True
    if not sys.stdin.isatty():
        raise CliError(
            "refusing to revoke without confirmation: standard input is not a terminal "
            "(pass --yes to skip the question)",
            EXIT_USAGE,
        )
    print(f"{printable(question)} [y/N] ", end="", file=sys.stderr, flush=True)
    return sys.stdin.readline().strip().lower() in ("y", "yes")


def cmd_revoke(store: MongoStore, args: argparse.Namespace) -> int:
    """End one session, every session of a user (but one), or all of them."""
    collection = _collection(store)
    now = _clock.now()
    chosen = [name for name in ("sid", "user", "all") if getattr(args, name) not in (None, False)]
    if len(chosen) != 1:
        raise CliError("revoke takes exactly one of: SID, --user USER, --all", EXIT_USAGE)
    if args.keep is not None and args.user is None:
        raise CliError("--keep goes with --user", EXIT_USAGE)
    query: dict[str, Any]
    if args.sid is not None:
        query = {"_id": args.sid}
        what = f"session '{args.sid}'"
    elif args.user is not None:
        query = {"user": {"$in": user_values(args.user)}}
        if args.keep is not None:
            query["_id"] = {"$ne": args.keep}
        what = f"the sessions of user '{args.user}'" + (
            f" except '{args.keep}'" if args.keep is not None else ""
        )
    else:
        query = {}
        what = f"ALL sessions in {_namespace(store)}"
    if args.flag:
        query["deleted"] = {"$ne": True}
    count = collection.count_documents(query)
    if not count:
        _warn(f"nothing to revoke: no match for {what}")
        if args.json:
            _print_json({"revoked": 0, "flagged": args.flag})
        return EXIT_NOTHING_DONE
    verb = "flag" if args.flag else "delete"
    if not _confirm(f"{verb} {what} ({count} document{'s' if count != 1 else ''})?", args):
        _warn("nothing revoked")
        return EXIT_NOTHING_DONE
    if args.flag:
        # The store's flag: reads treat the session as gone and no write revives it.
        result = collection.update_many(query, {"$set": {"deleted": True, "deletedAt": now}})
        revoked = result.modified_count
    elif args.sid is not None:
        revoked = collection.delete_one(query).deleted_count
    else:
        progress = Progress(count, "revoke") if count > args.batch_size else None
        revoked = batched_delete(
            collection,
            query,
            batch_size=args.batch_size,
            on_batch=progress.update if progress else None,
        )
        if progress:
            progress.finish(revoked)
    if args.json:
        _print_json({"revoked": revoked, "flagged": args.flag})
    else:
        _say(f"{'flagged' if args.flag else 'deleted'} {revoked} session(s)")
    return EXIT_OK if revoked else EXIT_NOTHING_DONE


def cmd_cleanup(store: MongoStore, args: argparse.Namespace) -> int:
    """Delete flagged and expired documents now, in batches, with progress on stderr."""
    collection = _collection(store)
    now = _clock.now()
    query = _cleanup_query(now, args.older_than)
    counts = next(
        collection.aggregate(
            [
                {"$match": query},
                {
                    "$group": {
                        "_id": None,
                        "flagged": {"$sum": {"$cond": [{"$eq": ["$deleted", True]}, 1, 0]}},
                        "expired": {"$sum": {"$cond": [{"$eq": ["$deleted", True]}, 0, 1]}},
                    }
                },
            ]
        ),
        {"flagged": 0, "expired": 0},
    )
    total = counts["flagged"] + counts["expired"]
    deleted = 0
    if total and not args.dry_run:
        progress = Progress(total, "cleanup")
        progress.update(0)
        deleted = batched_delete(
            collection, query, batch_size=args.batch_size, on_batch=progress.update
        )
        progress.finish(deleted)
    result = {
        "flagged": counts["flagged"],
        "expired": counts["expired"],
        "deleted": deleted,
        "dry_run": args.dry_run,
    }
    if args.json:
        _print_json(result)
    elif args.dry_run:
        _say(f"would delete {total}: {counts['flagged']} flagged, {counts['expired']} expired")
    elif total:
        _say(f"deleted {deleted}: {counts['flagged']} flagged, {counts['expired']} expired found")
    else:
        _say("nothing to clean up")
    return EXIT_OK


def cmd_ensure_indexes(store: MongoStore, args: argparse.Namespace) -> int:
    """Create the TTL index (and the per-user index); optionally turn on pre-images."""
    collection = _collection(store)
    wanted = [EXPIRES_INDEX, USER_INDEX] if args.user_index else [EXPIRES_INDEX]
    if args.flag_index:
        wanted.append(FLAGGED_INDEX)
    try:
        existing = list(collection.list_indexes())
    except OperationFailure as exc:
        if exc.code != _UNAUTHORIZED:
            raise
        existing = []
    try:
        missing = {spec["name"] for spec in indexes_to_create(wanted, existing)}
        store.ensure_indexes()
        if FLAGGED_INDEX["name"] in missing:  # the CLI's own: the store never needs it
            options = {k: v for k, v in FLAGGED_INDEX.items() if k != "key"}
            collection.create_index(list(FLAGGED_INDEX["key"].items()), **options)
    except IndexConflict as exc:
        raise CliError(str(exc), EXIT_NOTHING_DONE) from None
    except IndexPermissionError as exc:
        raise CliError(
            f"permission denied: this user may not create indexes on {_namespace(store)}; "
            "connect as a user with the createIndex action there (roles readWrite, dbAdmin)",
            EXIT_PERMISSION,
        ) from exc
    created = [spec["name"] for spec in wanted if spec["name"] in missing]
    present = [spec["name"] for spec in wanted if spec["name"] not in missing]
    if args.pre_images:
        collection.database.command(
            "collMod", store.collection_name, changeStreamPreAndPostImages={"enabled": True}
        )
    if args.json:
        _print_json({"created": created, "present": present, "pre_images": args.pre_images})
        return EXIT_OK
    for name in created:
        _say(f"created index {name} on {_namespace(store)}")
    for name in present:
        _say(f"index {name} already present on {_namespace(store)}")
    if args.pre_images:
        _say(f"change-stream pre-images enabled on {_namespace(store)}")
    return EXIT_OK


def cmd_watch(store: MongoStore, args: argparse.Namespace) -> int:
    """Print sessions as they end (a change stream); Ctrl-C stops."""
    seen = 0
    try:
        with store.watch(max_await=min(1.0, args.timeout / 2)) as events:
            for event in events:
                if args.json:
                    record = {
                        "kind": event.kind,
                        "id": event.sid,
                        "at": event.at,
                        "user": event.user,
                        "expires": event.expires,
                    }
                    _say_json(json.dumps(record, default=_json_default), flush=True)
                else:
                    user = "" if event.user is None else f"  user={event.user}"
                    _say(f"{_when(event.at)}  {event.kind:9}  {event.sid}{user}", flush=True)
                seen += 1
                if args.count and seen >= args.count:
                    break
    except ChangeStreamsUnsupported as exc:
        raise CliError(str(exc), EXIT_NOTHING_DONE) from None
    except KeyboardInterrupt:
        pass
    return EXIT_OK


def run_demo(argv: list[str]) -> int:
    """Hand over to ``mongosession.demo:main(argv)``, imported only now."""
    try:
        demo = importlib.import_module("mongosession.demo")
    except ModuleNotFoundError as exc:
        if exc.name != "mongosession.demo":
            _warn(f"the demo needs {exc.name}: pip install 'mongosession[dev]'")
            return EXIT_USAGE
        _warn("the demo is coming with the session middleware")
        return EXIT_USAGE
    status = demo.main(argv)
    return int(status or 0)


# -- argument parsing -------------------------------------------------------------


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be a positive integer")
    return value


def _count(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must be 0 (no limit) or a positive integer")
    return value


def _seconds(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError("must be a positive number of seconds")
    return value


def _non_negative_seconds(text: str) -> float:
    value = float(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError("must be zero or a positive number of seconds")
    return value


def _common_options(with_defaults: bool) -> argparse.ArgumentParser:
    # The same options on the main parser and on every command, so both
    # `mongosession --json stats` and `mongosession stats --json` work; a
    # command's copy has no defaults, so it never overrides the main one.
    parser = argparse.ArgumentParser(add_help=False)

    def default(value: Any) -> Any:
        return value if with_defaults else argparse.SUPPRESS

    group = parser.add_argument_group("connection and output")
    group.add_argument(
        "--uri",
        default=default(None),
        help="MongoDB connection string, with the database (default: $MONGODB_URI)",
    )
    group.add_argument(
        "--db", default=default(None), help="database name (default: the URI's database)"
    )
    group.add_argument(
        "--collection", default=default("sessions"), help="sessions collection (default: sessions)"
    )
    group.add_argument(
        "--timeout",
        type=_seconds,
        default=default(5.0),
        help="seconds to wait for the server before giving up (default: 5)",
    )
    group.add_argument(
        "--json",
        action="store_true",
        default=default(False),
        help="machine-readable JSON on stdout",
    )
    return parser


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``mongosession`` command."""
    codes = "\n".join(f"  {code}  {meaning}" for code, meaning in EXIT_CODES.items())
    parser = argparse.ArgumentParser(
        prog="mongosession",
        description="Inspect and manage server-side sessions stored in MongoDB.",
        epilog=f"exit status:\n{codes}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[_common_options(True)],
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    common = [_common_options(False)]

    def command(name: str, handler: Callable[..., int], help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, parents=common, help=help_text, description=help_text)
        sub.set_defaults(handler=handler)
        return sub

    stats = command("stats", cmd_stats, "counts by state, average size, top users, indexes")
    stats.add_argument("--top", type=_count, default=10, help="users to list (default: 10)")

    listing = command("list", cmd_list, "list live sessions, latest expiry first")
    listing.add_argument("--user", help="only the sessions of this user")
    listing.add_argument(
        "--limit", type=_count, default=50, help="at most N sessions; 0 for all (default: 50)"
    )

    show = command("show", cmd_show, "show one session document and its data")
    show.add_argument(
        "sid", metavar="SID", help="the stored session id (_id); with --hash-ids the cookie's id"
    )
    show.add_argument(
        "--encryption-key",
        action="append",
        metavar="KEY",
        help=f"a key of the store's encryption_keys, to decrypt the data; repeat for "
        f"several (default: ${ENCRYPTION_KEYS_ENV}, one per line). Prefer the variable: "
        "arguments show in the process list and the shell history",
    )
    show.add_argument(
        "--hash-ids",
        action="store_true",
        help=f"SID is the id the cookie carries: look it up under its hashed _id, with the "
        f"store's hash_ids key from ${HASH_KEY_ENV} (or --hash-key)",
    )
    show.add_argument(
        "--hash-key",
        metavar="KEY",
        help=f"the store's hash_ids key; implies --hash-ids (prefer ${HASH_KEY_ENV})",
    )

    revoke = command("revoke", cmd_revoke, "end one session, a user's sessions, or all")
    revoke.add_argument("sid", metavar="SID", nargs="?", help="the stored session id (_id)")
    revoke.add_argument("--user", help="every session of this user ('log out everywhere')")
    revoke.add_argument("--keep", metavar="SID", help="with --user: spare this session")
    revoke.add_argument("--all", action="store_true", help="every session in the collection")
    revoke.add_argument(
        "--flag",
        action="store_true",
        help="mark deleted instead of deleting (no in-flight request can write them back; "
        "cleanup or the TTL index removes them later)",
    )
    revoke.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
    revoke.add_argument("--batch-size", type=_positive_int, default=_DEFAULT_BATCH)

    cleanup = command("cleanup", cmd_cleanup, "delete flagged and expired sessions now")
    cleanup.add_argument(
        "--batch-size",
        type=_positive_int,
        default=_DEFAULT_BATCH,
        help=f"documents per delete command (default: {_DEFAULT_BATCH})",
    )
    cleanup.add_argument(
        "--older-than",
        type=_non_negative_seconds,
        default=0.0,
        metavar="SECONDS",
        help="spare sessions flagged less than this long ago, so requests still holding "
        "them see the flag (default: 0)",
    )
    cleanup.add_argument("--dry-run", action="store_true", help="count only, delete nothing")

    ensure = command(
        "ensure-indexes", cmd_ensure_indexes, "create the TTL index (as an admin user)"
    )
    ensure.add_argument("--user-index", action="store_true", help="also the per-user index")
    ensure.add_argument(
        "--flag-index",
        action="store_true",
        help="also a partial index on flagged sessions (delete_flags), so stats need no scan",
    )
    ensure.add_argument(
        "--pre-images",
        action="store_true",
        help="also turn on change-stream pre-images, so watch tells expiry from destroy",
    )

    watch = command("watch", cmd_watch, "print sessions as they end (needs a replica set)")
    watch.add_argument("--count", type=_count, default=0, help="stop after N events")

    commands.add_parser(
        "demo",
        add_help=False,
        help="run the demo app (its own options follow)",
        description="Run the demo app; the arguments after `demo` are the demo's.",
    )
    return parser


# -- main -------------------------------------------------------------------------


def _hosts(uri: str) -> str:
    # Read from the text: no DNS lookup (mongodb+srv), and never the credentials.
    _, _, rest = uri.partition("://")
    hosts = re.split(r"[/?]", rest, maxsplit=1)[0].rpartition("@")[2]
    return hosts.replace(",", ", ") or "the server"


def _brief(exc: BaseException) -> str:
    # Server selection errors carry a whole topology description; keep the cause.
    text = str(exc).split(", Timeout:")[0].split(" (configured timeouts:")[0]
    return text.strip() or type(exc).__name__


def _unauthorized(exc: OperationFailure, namespace: str) -> str:
    # The server's message quotes the whole command; name just the command.
    message = str((exc.details or {}).get("errmsg") or exc)
    found = re.search(r"execute command \{ ?(\w+)", message)
    command = found.group(1) if found else "this command"
    return (
        f"permission denied on {namespace}: the database user may not run {command} "
        "(stats, list, show and watch need read; revoke and cleanup need readWrite)"
    )


def _key(text: str) -> bytes | str:
    # As the store takes them: a str is a passphrase (or the hash key's UTF-8
    # bytes); "hex:" gives raw bytes, e.g. a 32-byte key from os.urandom.
    if text.startswith("hex:"):
        try:
            return bytes.fromhex(text[4:])
        except ValueError:
            raise CliError("a hex: key must be hexadecimal digits", EXIT_USAGE) from None
    return text


def _secrets(args: argparse.Namespace) -> dict[str, Any]:
    """The store's secrets ``show`` needs: options first, then the environment."""
    secrets: dict[str, Any] = {}
    if getattr(args, "command", None) != "show":
        return secrets
    keys = args.encryption_key
    if keys is None:
        keys = [line for line in os.environ.get(ENCRYPTION_KEYS_ENV, "").splitlines() if line]
    if keys:
        secrets["encryption_keys"] = [_key(k) for k in keys]
    if args.hash_key is not None or args.hash_ids:
        hash_key = args.hash_key or os.environ.get(HASH_KEY_ENV)
        if not hash_key:
            raise CliError(
                f"--hash-ids needs the key: set {HASH_KEY_ENV} or pass --hash-key", EXIT_USAGE
            )
        secrets["hash_ids"] = _key(hash_key)
        args.hash_ids = True
    return secrets


def _open_store(args: argparse.Namespace) -> tuple[MongoStore, str]:
    uri = args.uri or os.environ.get("MONGODB_URI")
    if not uri:
        raise CliError("no database given: pass --uri or set MONGODB_URI", EXIT_USAGE)
    try:
        store = MongoStore(
            uri=uri,
            db_name=args.db,
            collection=args.collection,
            timeout=args.timeout,
            create_indexes=False,
            user_key="user" if getattr(args, "user_index", False) else None,
            **_secrets(args),
        )
    except ImportError as exc:  # encryption keys without the crypto extra
        raise CliError(str(exc), EXIT_USAGE) from None
    except (ValueError, TypeError, ConfigurationError) as exc:
        raise CliError(
            str(exc).replace("pass db_name=", "pass --db"),
            EXIT_USAGE,
        ) from None
    return store, uri


def _fail(message: str, status: int) -> int:
    _warn(f"mongosession: {message}")
    return status


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``mongosession`` command with ``argv`` (default: ``sys.argv[1:]``).

    Returns the exit status (see :data:`EXIT_CODES`) instead of exiting, so it
    can be called from Python. Example::

        status = main(["--uri", "mongodb://localhost/app", "stats", "--json"])
    """
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments[:1] == ["demo"]:
        return run_demo(arguments[1:])
    parser = build_parser()
    try:
        args = parser.parse_args(arguments)
    except SystemExit as exc:  # --help, or a usage error argparse already printed
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    if args.command == "demo":
        return run_demo([])
    store: MongoStore | None = None
    try:
        store, uri = _open_store(args)
        handler: Callable[[MongoStore, argparse.Namespace], int] = args.handler
        try:
            return handler(store, args)
        except (ConnectionFailure, StoreUnavailable) as exc:
            return _fail(
                f"cannot reach MongoDB at {_hosts(uri)} within {args.timeout:g}s: {_brief(exc)}",
                EXIT_UNAVAILABLE,
            )
        except OperationFailure as exc:
            if exc.code == _AUTHENTICATION_FAILED:
                return _fail(f"authentication failed at {_hosts(uri)}", EXIT_PERMISSION)
            if exc.code == _UNAUTHORIZED:
                return _fail(_unauthorized(exc, _namespace(store)), EXIT_PERMISSION)
            if exc.timeout:
                return _fail(f"the database did not answer in time: {exc}", EXIT_UNAVAILABLE)
            raise
    except CliError as exc:
        return _fail(str(exc), exc.status)
    except KeyboardInterrupt:
        _warn("interrupted")
        return 130
    except Exception as exc:  # a bug: its message may quote stored values
        _warn("Traceback (most recent call last):")
        for line in "".join(traceback.format_tb(exc.__traceback__)).rstrip("\n").split("\n"):
            _warn(line)
        _warn("".join(traceback.format_exception_only(exc)).rstrip("\n"))  # one line
        return 1  # as Python exits on an uncaught exception
    finally:
        if store is not None:
            store.close()
