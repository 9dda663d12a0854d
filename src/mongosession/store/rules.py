"""The store's rules, with no I/O: options, encoding, filters, update documents.

Both stores (:class:`AsyncMongoStore` and the generated :class:`MongoStore`)
build every filter and update document here, so the two can differ only in
how they wait for the database.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any, Literal

import bson
from bson.datetime_ms import DatetimeMS
from pymongo.write_concern import WriteConcern

from mongosession import _clock
from mongosession._errors import (
    ConfigurationError,
    ConfigurationTypeError,
    CorruptSession,
    SessionEncodingError,
    SessionTooLarge,
)
from mongosession._ids import check_sid, hash_keys, hashed_sid, sid_digest
from mongosession._log import log
from mongosession.codecs.formats import Codec, resolve_codec
from mongosession.store.documents import (
    CODEC_OPTIONS,
    DATE_FIELDS,
    StoredSession,
    any_date,
    check_user,
    user_of,
)
from mongosession.store.nearcache import NearCache, near_cache_option
from mongosession.store.updates import DocumentUpdates

AutoRemove = Literal["native", "interval", "disabled"]

#: ``touch_after="auto"`` (the default): an unmodified session is written again once
#: it has used this share of its lifetime (the cookie's ``originalMaxAge``, else
#: ``ttl``) since its last write, and at most this long after it. Its stored expiry
#: then lags its true one by at most 5% of its lifetime, and a read inside the
#: window sends no write (docs/options.md#touch_after).
AUTO_TOUCH_SHARE = 0.05
AUTO_TOUCH_CAP = 3600.0

SessionLimitAction = Literal["evict_oldest", "refuse"]

DEFAULT_MAX_SIZE = 1024 * 1024

DEFAULT_TIMEOUT = 5.0


class StoreRules(DocumentUpdates):
    """Validated options and every pure computation the stores need."""

    def __init__(
        self,
        *,
        collection: str,
        ttl: float,
        touch_after: float | Literal["auto"],
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
        hash_ids: bytes | str | Sequence[bytes | str | None] | None = None,
        max_sessions_per_user: int | None = None,
        on_session_limit: SessionLimitAction = "evict_oldest",
        request_timeout: float | None = None,
        near_cache: bool | NearCache | None = None,
    ) -> None:
        if not isinstance(collection, str) or not collection:
            raise ConfigurationError("collection must be a non-empty str")
        for name, value in (("ttl", ttl), ("auto_remove_interval", auto_remove_interval)):
            if not isinstance(value, (int, float)) or value <= 0:
                raise ConfigurationError(f"{name} must be a positive number of seconds")
        if touch_after != "auto" and (
            not isinstance(touch_after, (int, float))
            or isinstance(touch_after, bool)
            or touch_after < 0
        ):
            raise ConfigurationError(
                'touch_after must be "auto", zero or a positive number of seconds'
            )
        if absolute_lifetime is not None and (
            not isinstance(absolute_lifetime, (int, float)) or absolute_lifetime <= 0
        ):
            raise ConfigurationError(
                "absolute_lifetime must be None or a positive number of seconds"
            )
        if auto_remove not in ("native", "interval", "disabled"):
            raise ConfigurationError('auto_remove must be "native", "interval" or "disabled"')
        if timeout is not None and (not isinstance(timeout, (int, float)) or timeout <= 0):
            raise ConfigurationError("timeout must be None or a positive number of seconds")
        if request_timeout is not None and (
            not isinstance(request_timeout, (int, float)) or request_timeout <= 0
        ):
            raise ConfigurationError("request_timeout must be None or a positive number of seconds")
        if not isinstance(max_size, int) or max_size <= 0:
            raise ConfigurationError("max_size must be a positive number of bytes")
        if transform_id is not None and not callable(transform_id):
            raise ConfigurationTypeError("transform_id must be callable")
        if user_key is not None and (not isinstance(user_key, str) or not user_key):
            raise ConfigurationError("user_key must be a non-empty str (dots name a nested key)")
        if isinstance(write_concern, Mapping):
            write_concern = WriteConcern(**write_concern)
        if max_sessions_per_user is not None:
            if (
                not isinstance(max_sessions_per_user, int)
                or isinstance(max_sessions_per_user, bool)
                or max_sessions_per_user < 1
            ):
                raise ConfigurationError("max_sessions_per_user must be None or a positive int")
            if user_key is None:
                raise ConfigurationError(
                    "max_sessions_per_user needs user_key (the key naming the user)"
                )
        if on_session_limit not in ("evict_oldest", "refuse"):
            raise ConfigurationError('on_session_limit must be "evict_oldest" or "refuse"')
        self.collection = collection
        self.ttl = ttl
        #: The longest an unmodified session goes without a write (0: every request).
        self.touch_after: float = AUTO_TOUCH_CAP if touch_after == "auto" else touch_after
        #: With "auto", the share of the session's lifetime the window also stays under.
        self.touch_share = AUTO_TOUCH_SHARE if touch_after == "auto" else None
        self.absolute_lifetime = absolute_lifetime
        self.auto_remove = auto_remove
        self.auto_remove_interval = auto_remove_interval
        self.codec = resolve_codec(codec)
        if encryption_keys is not None and getattr(self.codec, "encrypts", False):
            # connect-mongo refuses its two mechanisms together (crypto and cryptoAdapter).
            raise ConfigurationError(
                "pass encryption_keys or an encrypting codec "
                f"({type(self.codec).__name__}), not both: the payload would be "
                "encrypted twice and Node could not read it"
            )
        self.transform_id = transform_id
        self.encryptor = None
        if encryption_keys is not None:
            from mongosession.codecs.encryption import Encryptor

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
        #: The ``hash_ids`` keys, the first for new sessions (None: the id itself).
        self.id_keys = hash_keys(hash_ids)
        #: More than one: a session may live under any of their ids (a rotation).
        self.rotating = len(self.id_keys) > 1
        self.max_sessions_per_user = max_sessions_per_user
        self.on_session_limit = on_session_limit
        #: The near cache's options, or None when it is off (docs/near-cache.md).
        self.near_cache = near_cache_option(near_cache)

    # -- ids ---------------------------------------------------------------

    def storage_id(self, sid: Any) -> str:
        """Check ``sid`` and return the ``_id`` a new session ``sid`` is stored under.

        With ``hash_ids`` the id is hashed first (by the first key); ``transform_id``
        gets the hash.
        """
        check_sid(sid)
        return self._stored_as(sid, self.id_keys[0])

    def storage_ids(self, sid: Any) -> tuple[str, ...]:
        """Every ``_id`` the session ``sid`` may live under, the new sessions' first.

        One, unless ``hash_ids`` rotates keys: then one per key.
        """
        check_sid(sid)
        return tuple(self._stored_as(sid, key) for key in self.id_keys)

    def _stored_as(self, sid: str, key: bytes | None) -> str:
        if key is not None:
            sid = hashed_sid(key, sid)
        if self.transform_id is None:
            return sid
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
            data = self.codec.decode(self.unseal(stored, storage_id))
        except CorruptSession:
            raise
        except (ValueError, TypeError, bson.InvalidBSON, RecursionError) as exc:
            raise CorruptSession(f"stored session cannot be decoded: {exc!r}") from None
        if isinstance(data, dict):
            return data
        if isinstance(data, Mapping):
            return dict(data)
        # A custom codec's decode() gave something that is no session (its raw string).
        raise CorruptSession(f"the codec decoded a {type(data).__name__}, not a mapping")

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
            storage_id=doc["_id"],
        )

    def unreadable(self, doc: Mapping[str, Any]) -> bool:
        """True, logged, when one of the store's dates is out of Python's range.

        JavaScript can write a date in year 10000 or later; it decodes as a
        ``bson.DatetimeMS`` (see :data:`CODEC_OPTIONS`) and the document reads as
        corrupt: no session, nothing else fails.
        """
        for name in DATE_FIELDS:
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
        """False while an unmodified session is inside its ``touch_after`` window.

        The last write time is a :class:`StoredSession`'s ``last_modified``; in any
        other mapping, its ``lastModified`` key when that is a date, where
        connect-mongo's ``get`` puts it (and where the stored document has it).
        """
        if not self.touch_after:
            return True
        window = self.touch_after
        if self.touch_share is not None:
            window = min(window, self.lifetime(session) * self.touch_share)
        if isinstance(session, StoredSession) or hasattr(session, "last_modified"):
            last = getattr(session, "last_modified", None)
        else:
            last = session.get("lastModified")
            if not isinstance(last, datetime):
                return True
            if last.tzinfo is None:
                last = last.replace(tzinfo=timezone.utc)
        return last is None or (now - last) >= timedelta(seconds=window)

    def lifetime(self, session: Mapping[str, Any]) -> float:
        """Seconds an idle session lives: its cookie's ``originalMaxAge``, else ``ttl``."""
        cookie = session.get("cookie")
        max_age = cookie.get("originalMaxAge") if isinstance(cookie, Mapping) else None
        if isinstance(max_age, (int, float)) and not isinstance(max_age, bool) and max_age > 0:
            return float(max_age) / 1000
        return float(self.ttl)

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

        A read by ``_id`` alone takes the server's fast path for ``_id`` lookups,
        which any other condition in the filter would leave (docs/benchmarks.md).
        The rules are the query's, including MongoDB's: only dates compare with
        dates, and an array matches when one of its elements does.
        """
        if "expires" in doc and not any_date(doc["expires"], lambda t: t > now):
            return False
        deleted = doc.get("deleted")
        if deleted is True or (isinstance(deleted, list) and any(d is True for d in deleted)):
            return False
        if self.absolute_lifetime is not None and "createdAt" in doc:
            cutoff = now - timedelta(seconds=self.absolute_lifetime)
            return not any_date(doc["createdAt"], lambda t: t <= cutoff)
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
        user = user_of(session, self.user_path)
        if user is None:
            return None
        check_user(user)
        if revision is not None:
            try:
                before = user_of(self.decode(revision, storage_id), self.user_path)
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
            kept = self.storage_ids(keep)  # under any key of a rotation
            extra["_id"] = {"$ne": kept[0]} if len(kept) == 1 else {"$nin": list(kept)}
        return self.live_filter(now, **extra)

    # -- documents and updates ----------------------------------------------

    def set_filter(self, storage_id: str) -> dict[str, Any]:
        """``set``'s upsert filter.

        With ``delete_flags`` the filter excludes a flagged document, which the
        upsert then leaves exactly as it is. Without, it is ``_id`` alone, the
        server's fast path for ``_id`` lookups: a document flagged by
        ``flag_deletion()`` or ``mongosession revoke --flag`` may get the new data,
        but never loses its flag (no update here writes ``deleted``), so it stays
        invisible to every read and write filter and ``cleanup()`` removes it.
        """
        if self.delete_flags:
            return {"_id": storage_id, "deleted": {"$ne": True}}
        return {"_id": storage_id}


def remember(
    session: Any,
    rules: StoreRules,
    now: datetime,
    stored: Any = None,
    storage_id: str | None = None,
) -> None:
    """Keep a StoredSession in step with what was just written (under ``storage_id``)."""
    if isinstance(session, StoredSession):
        if stored is not None:
            session.revision = stored
        if storage_id is not None:
            session.storage_id = storage_id
        session.expires = rules.expiry(session, now)
        if rules.touch_after:
            session.last_modified = now
