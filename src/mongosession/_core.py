"""The store's rules, with no I/O: options, encoding, filters, update documents.

Both stores (:class:`AsyncMongoStore` and the generated :class:`MongoStore`)
build every filter and update document here, so the two can differ only in
how they wait for the database.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime, timedelta, timezone
from typing import Any, Literal

import bson
import pymongo
from bson.codec_options import CodecOptions, DatetimeConversion
from bson.datetime_ms import DatetimeMS
from pymongo.errors import ConnectionFailure, OperationFailure, PyMongoError, WTimeoutError
from pymongo.write_concern import WriteConcern

from . import _clock
from ._codecs import Codec, resolve_codec
from ._errors import (
    CorruptSession,
    SessionConflict,
    SessionEncodingError,
    SessionTooLarge,
    StoreUnavailable,
)
from ._ids import check_sid, hash_key, hashed_sid, sid_digest

log = logging.getLogger("mongosession")

AutoRemove = Literal["native", "interval", "disabled"]
SessionLimitAction = Literal["evict_oldest", "refuse"]
EVENTS = ("create", "update", "set", "touch", "destroy")

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

DEFAULT_MAX_SIZE = 1024 * 1024
DEFAULT_TIMEOUT = 5.0
MERGE_ATTEMPTS = 64

#: Dates come back aware, in UTC. A date Python cannot hold (year 10000 and on;
#: JavaScript can write one) decodes as a ``bson.DatetimeMS`` instead of failing
#: the whole read: such a document reads as corrupt, the rest as usual.
CODEC_OPTIONS: CodecOptions[dict[str, Any]] = CodecOptions(
    tz_aware=True, tzinfo=timezone.utc, datetime_conversion=DatetimeConversion.DATETIME_AUTO
)

# Server error codes meaning "not now" rather than "no": shutdown, stepdown,
# network trouble, time limits. They become StoreUnavailable, never "not found".
_TRANSIENT_CODES = frozenset({6, 7, 50, 89, 91, 189, 262, 9001, 10107, 11600, 11602, 13435, 13436})


class RequestBudget:
    """One request's time for all of its session work, however many operations it makes.

    The adapters make one per request (``request_timeout``, the store's
    ``timeout`` by default) and run each store call inside :meth:`charged`:
    every operation is then bounded by what is left, and the time it took is
    taken off. Time the handler spends on its own work is not counted; an
    operation begun with nothing left fails closed at once.
    """

    __slots__ = ("left", "total")

    def __init__(self, seconds: float | None) -> None:
        self.total = seconds
        self.left = seconds

    @contextmanager
    def charged(self) -> Iterator[None]:
        """Make :func:`guarded` operations inside draw on this budget."""
        token = _BUDGET.set(self)
        try:
            yield
        finally:
            _BUDGET.reset(token)


_BUDGET: ContextVar[RequestBudget | None] = ContextVar("mongosession_budget", default=None)

#: MongoDB's "Overflow" error: a document nested deeper than the server allows.
_NESTED_TOO_DEEP = 15


@contextmanager
def guarded(timeout: float | None) -> Iterator[None]:
    """Bound an operation by ``timeout`` and fail closed on database trouble.

    Inside a request (:meth:`RequestBudget.charged`) the bound is also what is
    left of the request's budget. Both stores bound the driver with
    ``pymongo.timeout``, whoever made the client: within that budget PyMongo
    retries a retryable operation as often as it can (a connection reset, a
    pool paused after one, a stepdown), with one transaction number, so a write
    still applies once. docs/reliability.md shows why ``asyncio.timeout`` is not
    used instead (PyMongo then retries only once).
    """
    budget = _BUDGET.get()
    started = 0.0
    if budget is not None and budget.left is not None:
        if budget.left <= 0:
            raise StoreUnavailable(
                f"the request's time for session work ({budget.total}s) is spent"
            )
        timeout = budget.left if timeout is None else min(timeout, budget.left)
        started = time.monotonic()
    try:
        with pymongo.timeout(timeout):
            yield
    except (ConnectionFailure, WTimeoutError) as exc:
        raise StoreUnavailable(f"database unavailable: {exc}") from exc
    except OperationFailure as exc:
        if exc.code in _TRANSIENT_CODES or exc.timeout:
            raise StoreUnavailable(f"database unavailable: {exc}") from exc
        if exc.code == _NESTED_TOO_DEEP:
            raise SessionEncodingError(f"session is nested too deeply for MongoDB: {exc}") from None
        raise
    except PyMongoError as exc:
        if exc.timeout:
            raise StoreUnavailable(f"database timed out: {exc}") from exc
        raise
    finally:
        if started and budget is not None and budget.left is not None:
            budget.left -= time.monotonic() - started


#: The fields :meth:`StoreRules.is_live` reads: what a write that must know
#: whether it ended a live session asks the server to return.
LIVENESS = {"expires": 1, "deleted": 1, "createdAt": 1}

#: The dates of a stored document the store reads.
_DATE_FIELDS = ("expires", "createdAt", "lastModified", "updatedAt", "userSince", "deletedAt")


class StoredSession(dict[str, Any]):
    """A session as :meth:`get` returns it: a plain dict, plus what the store knows.

    ``expires``, ``last_modified`` and ``created_at`` come from the stored
    document; ``revision`` is the stored payload the dict was decoded from, which
    :meth:`save` uses to detect and merge concurrent changes.
    """

    __slots__ = ("created_at", "expires", "last_modified", "revision")

    def __init__(
        self,
        data: Mapping[str, Any],
        *,
        revision: Any = None,
        expires: datetime | None = None,
        last_modified: datetime | None = None,
        created_at: datetime | None = None,
    ) -> None:
        super().__init__(data)
        self.revision = revision
        self.expires = expires
        self.last_modified = last_modified
        self.created_at = created_at


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


def _any_date(value: Any, test: Callable[[datetime], bool]) -> bool:
    # A date field matches a date comparison when it is a date (or an array
    # holding one) that passes; any other BSON type never compares with a date.
    if isinstance(value, list):
        return any(isinstance(v, datetime) and test(v) for v in value)
    return isinstance(value, datetime) and test(value)


def _user_of(session: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = session
    for part in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def check_user(user: Any) -> Any:
    """A user value must be a scalar: a dict here could smuggle a query operator."""
    if isinstance(user, (str, int, bson.ObjectId)) and not isinstance(user, bool):
        return user
    raise TypeError(f"a user must be a str, int or ObjectId, not {type(user).__name__}")


class StoreRules:
    """Validated options and every pure computation the stores need."""

    def __init__(
        self,
        *,
        collection: str,
        ttl: float,
        touch_after: float,
        absolute_lifetime: float | None,
        auto_remove: AutoRemove,
        auto_remove_interval: float,
        codec: str | Codec,
        transform_id: Callable[[str], str] | None,
        encryption_keys: list[bytes | str] | None,
        delete_flags: bool,
        user_key: str | None,
        timestamps: bool,
        write_concern: WriteConcern | Mapping[str, Any] | None,
        timeout: float | None,
        max_size: int,
        create_indexes: bool,
        hash_ids: bytes | str | None = None,
        max_sessions_per_user: int | None = None,
        on_session_limit: SessionLimitAction = "evict_oldest",
        request_timeout: float | None = None,
    ) -> None:
        if not isinstance(collection, str) or not collection:
            raise ValueError("collection must be a non-empty str")
        for name, value in (("ttl", ttl), ("auto_remove_interval", auto_remove_interval)):
            if not isinstance(value, (int, float)) or value <= 0:
                raise ValueError(f"{name} must be a positive number of seconds")
        if not isinstance(touch_after, (int, float)) or touch_after < 0:
            raise ValueError("touch_after must be zero or a positive number of seconds")
        if absolute_lifetime is not None and (
            not isinstance(absolute_lifetime, (int, float)) or absolute_lifetime <= 0
        ):
            raise ValueError("absolute_lifetime must be None or a positive number of seconds")
        if auto_remove not in ("native", "interval", "disabled"):
            raise ValueError('auto_remove must be "native", "interval" or "disabled"')
        if timeout is not None and (not isinstance(timeout, (int, float)) or timeout <= 0):
            raise ValueError("timeout must be None or a positive number of seconds")
        if request_timeout is not None and (
            not isinstance(request_timeout, (int, float)) or request_timeout <= 0
        ):
            raise ValueError("request_timeout must be None or a positive number of seconds")
        if not isinstance(max_size, int) or max_size <= 0:
            raise ValueError("max_size must be a positive number of bytes")
        if transform_id is not None and not callable(transform_id):
            raise TypeError("transform_id must be callable")
        if user_key is not None and (not isinstance(user_key, str) or not user_key):
            raise ValueError("user_key must be a non-empty str (dots name a nested key)")
        if isinstance(write_concern, Mapping):
            write_concern = WriteConcern(**write_concern)
        if max_sessions_per_user is not None:
            if (
                not isinstance(max_sessions_per_user, int)
                or isinstance(max_sessions_per_user, bool)
                or max_sessions_per_user < 1
            ):
                raise ValueError("max_sessions_per_user must be None or a positive int")
            if user_key is None:
                raise ValueError("max_sessions_per_user needs user_key (the key naming the user)")
        if on_session_limit not in ("evict_oldest", "refuse"):
            raise ValueError('on_session_limit must be "evict_oldest" or "refuse"')
        self.collection = collection
        self.ttl = ttl
        self.touch_after = touch_after
        self.absolute_lifetime = absolute_lifetime
        self.auto_remove = auto_remove
        self.auto_remove_interval = auto_remove_interval
        self.codec = resolve_codec(codec)
        self.transform_id = transform_id
        self.encryptor = None
        if encryption_keys is not None:
            from ._crypto import Encryptor

            self.encryptor = Encryptor(encryption_keys)
        self.delete_flags = delete_flags
        self.user_path = tuple(user_key.split(".")) if user_key else None
        self.timestamps = timestamps
        self.write_concern = write_concern
        self.timeout = timeout
        #: All the session work of one request together (adapters): the store's
        #: ``timeout`` unless set.
        self.request_timeout = timeout if request_timeout is None else request_timeout
        self.max_size = max_size
        self.create_indexes = create_indexes
        self.id_key = None if hash_ids is None else hash_key(hash_ids)
        self.max_sessions_per_user = max_sessions_per_user
        self.on_session_limit = on_session_limit

    # -- ids ---------------------------------------------------------------

    def storage_id(self, sid: Any) -> str:
        """Check ``sid`` and return the ``_id`` it is stored under.

        With ``hash_ids`` the id is hashed first; ``transform_id`` gets the hash.
        """
        check_sid(sid)
        if self.id_key is not None:
            sid = hashed_sid(self.id_key, sid)
        if self.transform_id is None:
            return sid  # type: ignore[no-any-return]
        stored = self.transform_id(sid)
        if not isinstance(stored, str) or not stored:
            raise TypeError("transform_id must return a non-empty str")
        return stored

    # -- payload -----------------------------------------------------------

    def encode(self, session: Any, storage_id: str) -> Any:
        """Return the stored ``session`` value, or raise before anything is written."""
        if not isinstance(session, Mapping):
            raise TypeError(f"a session must be a mapping, not {type(session).__name__}")
        try:
            value: Any = self.codec.encode(session)
        except RecursionError:
            raise SessionEncodingError("session is nested too deeply to store") from None
        plain: bytes | None = None
        if isinstance(value, str):
            plain = value.encode()
            size = len(plain)
        elif isinstance(value, Mapping):
            try:
                plain = bson.encode(value)
            except RecursionError:
                raise SessionEncodingError("session is nested too deeply to store") from None
            except (bson.InvalidDocument, TypeError, OverflowError) as exc:
                raise SessionEncodingError(f"session cannot be stored as BSON: {exc}") from None
            size = len(plain)
            plain = b"d" + plain
        else:
            raise TypeError("a codec's encode() must return a str or a mapping")
        if self.encryptor is not None:
            if isinstance(value, str):
                plain = b"s" + plain
            value = self.encryptor.seal(plain, storage_id.encode())
            size = len(value)
        if size > self.max_size:
            raise SessionTooLarge(size, self.max_size)
        return value

    def decode(self, stored: Any, storage_id: str) -> dict[str, Any]:
        """Return the session dict of a stored payload, or raise CorruptSession."""
        try:
            return self.codec.decode(self.unseal(stored, storage_id))
        except CorruptSession:
            raise
        except (ValueError, TypeError, bson.InvalidBSON, RecursionError) as exc:
            raise CorruptSession(f"stored session cannot be decoded: {exc!r}") from None

    def unseal(self, stored: Any, storage_id: str) -> Any:
        """The codec's form of a stored payload (a str or a document): decrypted if sealed.

        Raises:
            DecryptionError: encryption is on and no key opens ``stored``.
        """
        if self.encryptor is None:
            return stored
        plain = self.encryptor.open(stored, storage_id.encode())
        kind, body = plain[:1], plain[1:]
        if kind == b"s":
            return body.decode()
        if kind == b"d":
            return bson.decode(body, CODEC_OPTIONS)
        raise CorruptSession("decrypted payload has an unknown kind")

    def load(self, doc: Mapping[str, Any]) -> StoredSession | None:
        """Turn a stored document into a StoredSession; log and drop a corrupt one."""
        if self.unreadable(doc):
            return None
        try:
            data = self.decode(doc.get("session"), doc["_id"])
        except CorruptSession as exc:
            log.warning("rejected stored session %s: %s", sid_digest(str(doc.get("_id"))), exc)
            return None
        return StoredSession(
            data,
            revision=doc.get("session"),
            expires=doc.get("expires"),
            last_modified=doc.get("lastModified"),
            created_at=doc.get("createdAt"),
        )

    def unreadable(self, doc: Mapping[str, Any]) -> bool:
        """True, logged, when one of the store's dates is out of Python's range.

        JavaScript can write a date in year 10000 or later; it decodes as a
        ``bson.DatetimeMS`` (see :data:`CODEC_OPTIONS`) and the document reads as
        corrupt: no session, nothing else fails.
        """
        for name in _DATE_FIELDS:
            if isinstance(doc.get(name), DatetimeMS):
                log.warning(
                    "rejected stored session %s: %s is out of range (%s)",
                    sid_digest(str(doc.get("_id"))),
                    name,
                    doc[name],
                )
                return True
        return False

    # -- expiry ------------------------------------------------------------

    def expiry(self, session: Mapping[str, Any], now: datetime) -> datetime:
        """The cookie's expiry when it has one, else ``now + ttl`` (connect-mongo's rule)."""
        cookie = session.get("cookie")
        expires = cookie.get("expires") if isinstance(cookie, Mapping) else None
        if isinstance(expires, datetime):
            return expires if expires.tzinfo else expires.replace(tzinfo=timezone.utc)
        if isinstance(expires, str) and expires:
            try:
                return _clock.parse_js_iso(expires)
            except ValueError:
                raise ValueError(f"cookie.expires is not a date: {expires!r}") from None
        return _clock.after(now, self.ttl)

    def touch_is_due(self, session: Mapping[str, Any], now: datetime) -> bool:
        """False while an unmodified session is inside its ``touch_after`` window."""
        if not self.touch_after:
            return True
        last = getattr(session, "last_modified", None)
        return last is None or (now - last) >= timedelta(seconds=self.touch_after)

    # -- filters -----------------------------------------------------------

    def live_filter(self, now: datetime, **extra: Any) -> dict[str, Any]:
        """Sessions that exist for a reader: not expired, not flagged, not too old."""
        query: dict[str, Any] = {
            **extra,
            "$or": [{"expires": {"$exists": False}}, {"expires": {"$gt": now}}],
            "deleted": {"$ne": True},
        }
        if self.absolute_lifetime is not None:
            cutoff = now - timedelta(seconds=self.absolute_lifetime)
            query["createdAt"] = {"$not": {"$lte": cutoff}}
        return query

    def is_live(self, doc: Mapping[str, Any], now: datetime) -> bool:
        """:meth:`live_filter`'s test, in Python, for a document read by ``_id`` alone.

        A read by ``_id`` alone takes the server's fast path for ``_id`` lookups;
        any other condition in the filter costs the server about a third more per
        read (measured with ``bench/``). The rules are the query's, including
        MongoDB's: only dates compare with dates, and an array matches when one of
        its elements does.
        """
        if "expires" in doc and not _any_date(doc["expires"], lambda t: t > now):
            return False
        deleted = doc.get("deleted")
        if deleted is True or (isinstance(deleted, list) and any(d is True for d in deleted)):
            return False
        if self.absolute_lifetime is not None and "createdAt" in doc:
            cutoff = now - timedelta(seconds=self.absolute_lifetime)
            return not _any_date(doc["createdAt"], lambda t: t <= cutoff)
        return True

    # -- sessions per user ---------------------------------------------------

    def gained_user(self, session: Mapping[str, Any], revision: Any, storage_id: str) -> Any:
        """The user a write gives the session, when ``max_sessions_per_user`` applies.

        None when there is no limit, no user, or the stored session the write
        starts from (``revision``; None when unknown) had the same user already:
        only a login counts.
        """
        if self.max_sessions_per_user is None or self.user_path is None:
            return None
        user = _user_of(session, self.user_path)
        if user is None:
            return None
        check_user(user)
        if revision is not None:
            try:
                before = _user_of(self.decode(revision, storage_id), self.user_path)
            except CorruptSession:
                before = None
            if before == user:
                return None
        return user

    def others_of_user(
        self, user: Any, now: datetime, storage_id: str, replaced: str | None = None
    ) -> dict[str, Any]:
        """The live sessions of ``user`` other than ``storage_id`` (and ``replaced``)."""
        ids = {"$ne": storage_id} if replaced is None else {"$nin": [storage_id, replaced]}
        return self.live_filter(now, user=check_user(user), _id=ids)

    def with_user_since(
        self, update: dict[str, Any] | list[dict[str, Any]], now: datetime
    ) -> dict[str, Any] | list[dict[str, Any]]:
        """``update`` that also records when the session got its user (``userSince``)."""
        if isinstance(update, list):
            return [*update, {"$set": {"userSince": {"$literal": now}}}]
        return {**update, "$set": {**update.get("$set", {}), "userSince": now}}

    def over_limit(self, oldest_first: Sequence[str], storage_id: str) -> list[str]:
        """Stored ids to end so a user keeps at most the limit.

        ``oldest_first`` lists the user's live sessions, the one just written
        included, by login (``userSince``, then ``_id``). ``evict_oldest`` ends all
        but the newest ``limit``: concurrent logins agree on that set, so the
        newest ``limit`` survive. ``refuse`` takes back the session just written
        whenever the user is over the limit: of concurrent logins, the last to
        look sees every one accepted before it, so the limit is never exceeded
        (two racing logins may both be refused; neither is let through wrongly).
        """
        limit = self.max_sessions_per_user
        if limit is None or len(oldest_first) <= limit:
            return []
        if self.on_session_limit == "refuse":
            return [storage_id]
        return list(oldest_first[: len(oldest_first) - limit])

    def flag_update(self, now: datetime) -> dict[str, Any]:
        """Mark a session deleted; every write filter excludes it from then on."""
        return {"$set": {"deleted": True, "deletedAt": now}}

    def user_filter(self, user: Any, now: datetime, keep: str | None = None) -> dict[str, Any]:
        """Live sessions of ``user``, optionally sparing one session id."""
        extra: dict[str, Any] = {"user": check_user(user)}
        if keep is not None:
            extra["_id"] = {"$ne": self.storage_id(keep)}
        return self.live_filter(now, **extra)

    # -- documents and updates ----------------------------------------------

    def new_document(
        self, storage_id: str, session: Mapping[str, Any], stored: Any, now: datetime
    ) -> dict[str, Any]:
        """The document ``create`` inserts."""
        expires = self.expiry(session, now)
        if self.absolute_lifetime is not None:
            expires = min(expires, _clock.after(now, self.absolute_lifetime))
        doc = {"_id": storage_id, "session": stored, "expires": expires}
        doc.update(self._write_fields(session, now))
        if self.timestamps or self.absolute_lifetime is not None:
            doc["createdAt"] = now
        return doc

    def _write_fields(self, session: Mapping[str, Any], now: datetime) -> dict[str, Any]:
        fields: dict[str, Any] = {}
        if self.touch_after:
            fields["lastModified"] = now
        if self.timestamps:
            fields["updatedAt"] = now
        if self.user_path is not None:
            user = _user_of(session, self.user_path)
            if user is not None:
                fields["user"] = check_user(user)
        return fields

    def write_update(
        self, session: Mapping[str, Any], stored: Any, now: datetime, *, upsert: bool
    ) -> dict[str, Any] | list[dict[str, Any]]:
        """The update for ``set`` (upsert) and ``save`` (update-only)."""
        fields = {"session": stored, "expires": self.expiry(session, now)}
        fields.update(self._write_fields(session, now))
        drop_user = self.user_path is not None and "user" not in fields
        if self.absolute_lifetime is None:
            update: dict[str, Any] = {"$set": fields}
            if drop_user:
                update["$unset"] = {"user": ""}
            if upsert and self.timestamps:
                update["$setOnInsert"] = {"createdAt": now}
            return update
        return self._capped_pipeline(fields, now, drop_user=drop_user)

    def touch_update(
        self, session: Mapping[str, Any], now: datetime
    ) -> dict[str, Any] | list[dict[str, Any]]:
        """The update for ``touch``: the expiry only, never the payload."""
        fields: dict[str, Any] = {"expires": self.expiry(session, now)}
        if self.touch_after:
            fields["lastModified"] = now
        if self.timestamps:  # connect-mongo's touch moves updatedAt too
            fields["updatedAt"] = now
        if self.absolute_lifetime is None:
            return {"$set": fields}
        return self._capped_pipeline(fields, now, drop_user=False)

    def set_filter(self, storage_id: str) -> dict[str, Any]:
        """``set``'s upsert filter.

        With ``delete_flags`` the filter excludes a flagged document, which the
        upsert then leaves exactly as it is. Without, it is ``_id`` alone, the
        server's fast path for ``_id`` lookups (a second condition costs the server
        about 50 µs per write, measured with ``bench/``): a document flagged by
        ``flag_deletion()`` or ``mongosession revoke --flag`` may get the new data,
        but never loses its flag (no update here writes ``deleted``), so it stays
        invisible to every read and write filter and ``cleanup()`` removes it.
        """
        if self.delete_flags:
            return {"_id": storage_id, "deleted": {"$ne": True}}
        return {"_id": storage_id}

    def _capped_pipeline(
        self, fields: dict[str, Any], now: datetime, *, drop_user: bool
    ) -> list[dict[str, Any]]:
        # An aggregation-pipeline update (MongoDB 4.2+) caps `expires` at
        # createdAt + absolute_lifetime in the same write, so no touch extends it.
        lifetime_ms = int(self.absolute_lifetime * 1000)  # type: ignore[operator]
        values = {k: {"$literal": v} for k, v in fields.items() if k != "expires"}
        values["expires"] = {
            "$min": [{"$literal": fields["expires"]}, {"$add": ["$createdAt", lifetime_ms]}]
        }
        stages: list[dict[str, Any]] = [
            {"$set": {"createdAt": {"$ifNull": ["$createdAt", {"$literal": now}]}}},
            {"$set": values},
        ]
        if drop_user:
            stages.append({"$unset": ["user"]})
        return stages


def _index_matches(existing: Mapping[str, Any], wanted: Mapping[str, Any]) -> bool:
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
    from ._errors import IndexConflict

    missing = []
    for spec in wanted:
        same_name = [ix for ix in existing if ix.get("name") == spec["name"]]
        same_key = [ix for ix in existing if dict(ix["key"]) == spec["key"]]
        if any(_index_matches(ix, spec) for ix in same_name + same_key):
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


class EventEmitter:
    """``on(event, callback)``: connect-mongo's events, called with the session id."""

    _listeners: dict[str, list[Callable[[str], object]]]

    def on(self, event: str, callback: Callable[[str], object]) -> Callable[[str], object]:
        """Call ``callback(sid)`` after each ``event``; returns ``callback``.

        Events: ``create`` (a new document), ``update`` (an existing one
        rewritten), ``set`` (either), ``touch`` (expiry moved), ``destroy``.
        A callback that raises is logged and does not fail the operation.

        Example::

            store.on("destroy", lambda sid: audit.info("logout"))
        """
        if event not in EVENTS:
            raise ValueError(f"unknown event {event!r}; one of {', '.join(EVENTS)}")
        self._listeners.setdefault(event, []).append(callback)
        return callback

    def _emit(self, event: str, sid: str) -> None:
        for callback in self._listeners.get(event, ()):
            try:
                callback(sid)
            except Exception:
                log.exception("%s listener failed for session %s", event, sid_digest(sid))


def remember(session: Any, rules: StoreRules, now: datetime, stored: Any = None) -> None:
    """Keep a StoredSession in step with what was just written."""
    if isinstance(session, StoredSession):
        if stored is not None:
            session.revision = stored
        session.expires = rules.expiry(session, now)
        if rules.touch_after:
            session.last_modified = now
