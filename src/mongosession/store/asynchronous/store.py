"""The store: express-session's store API over one MongoDB collection.

This file is a source: its blocking twin under ``store/synchronous/`` is generated
by ``tools/unasync.py``; edit here and run ``python tools/unasync.py``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from mongosession import _clock
from mongosession._errors import (
    SessionConflict,
    SessionIdCollision,
)
from mongosession._ids import sid_digest
from mongosession._log import log
from mongosession.store.asynchronous.admin import AsyncStoreAdmin
from mongosession.store.asynchronous.base import ID, NATURAL
from mongosession.store.asynchronous.devices import AsyncDeviceSessions
from mongosession.store.documents import LIVENESS, StoredSession
from mongosession.store.errors import guarded
from mongosession.store.merge import MERGE_ATTEMPTS, merge_changes
from mongosession.store.rules import (
    remember,
)

_UNSET: Any = object()


class AsyncMongoStore(AsyncDeviceSessions, AsyncStoreAdmin):
    """Server-side sessions in a MongoDB collection, express-session's store API.

    Documents are the ones connect-mongo 6 writes, so Node and Python apps can
    share them. Example::

        store = AsyncMongoStore(uri="mongodb://localhost:27017/app", ttl=3600)
        await store.set(sid, {"cookie": {...}, "user": "alice"})
        session = await store.get(sid)

    Pass ``uri`` (the store makes, and ``close()`` closes, its own client) or
    ``client`` (yours, never closed by the store); the database is ``db_name``
    or the URI's. Durations are seconds. See the options page of the docs for
    every argument.
    """

    async def get(self, sid: str) -> StoredSession | None:
        """Return the live session ``sid``, or None.

        Never returns an expired, flagged or over-age session, whether or not
        MongoDB's TTL monitor has removed it yet. A corrupt payload is logged and
        reported as None.
        """
        rules = self._rules
        # The id is checked (storage_id[s]) before any I/O.
        candidates = rules.storage_ids(sid) if rules.rotating else (rules.storage_id(sid),)
        await self._prepare()
        # By _id alone (the server's fast path), or from the near cache; liveness is checked here.
        doc = await (
            self._find_rotated(candidates) if rules.rotating else self._find_by_id(candidates[0])
        )
        if doc is None:
            return None
        if not rules.is_live(doc, _clock.now()):
            rules.unreadable(doc)  # logs a date out of range (read as no session)
            return None
        return rules.load(doc)

    async def set(self, sid: str, session: Mapping[str, Any]) -> None:
        """Write ``session`` (express-session's ``set``: insert or replace).

        A session flagged by ``destroy`` with ``delete_flags`` is never
        re-created nor un-flagged. Use :meth:`save` for a session you loaded,
        so that one destroyed meanwhile stays destroyed. With an unacknowledged
        write concern (w=0) the events are ``update`` and ``set``, as
        connect-mongo's: whether the write created the document is unknown.

        Raises:
            SessionTooLarge: over ``max_size``; nothing was written.
            SessionEncodingError: a value the codec cannot hold.
        """
        rules = self._rules
        storage_id = await self._where(sid, session)  # checks the id before any I/O
        await self._prepare()
        stored = rules.encode(session, storage_id)
        now = _clock.now()
        query = rules.set_filter(storage_id)
        hint = ID if len(query) > 1 else None  # a hint on _id alone loses the fast path
        update = rules.write_update(session, stored, now, upsert=True)
        user = rules.gained_user(session, None, storage_id)
        if user is not None:
            update = rules.with_user_since(update, now)
        await self._check_session_limit(storage_id, user)
        with guarded(rules.timeout):
            try:
                result = await self._collection.update_one(query, update, upsert=True, hint=hint)
                created = result.acknowledged and result.upserted_id is not None
            except DuplicateKeyError:
                # The _id exists but the filter missed it: flagged deleted (left
                # alone), or inserted concurrently (updated now, without upsert).
                result = await self._collection.update_one(query, update, hint=hint)
                created = False
                if not result.matched_count:
                    log.info("not re-creating deleted session %s", sid_digest(sid))
                    return
        self._near_drop(storage_id)
        await self._apply_session_limit(storage_id, user, created=created)
        remember(session, rules, now, stored, storage_id)
        self._emit("create" if created else "update", sid)
        self._emit("set", sid)

    async def create(self, sid: str, session: Mapping[str, Any]) -> None:
        """Insert a new session; never overwrites an existing id.

        With an unacknowledged write concern (w=0) a taken id is not reported:
        the insert fails on the server, unseen.

        Raises:
            SessionIdCollision: ``sid`` exists already (pick a new id).
        """
        rules = self._rules
        storage_id = rules.storage_id(sid)
        stored = rules.encode(session, storage_id)
        now = _clock.now()
        document = rules.new_document(storage_id, session, stored, now)
        user = rules.gained_user(session, None, storage_id)
        if user is not None:
            document["userSince"] = now
        await self._prepare()
        await self._check_session_limit(storage_id, user)
        with guarded(rules.timeout):
            try:
                await self._collection.insert_one(document)
            except DuplicateKeyError:
                raise SessionIdCollision("session id exists already") from None
        self._near_drop(storage_id)
        await self._apply_session_limit(storage_id, user, created=True)
        remember(session, rules, now, stored, storage_id)
        self._emit("create", sid)
        self._emit("set", sid)

    async def save(self, sid: str, session: Mapping[str, Any], *, revision: Any = _UNSET) -> bool:
        """Update a session that exists; never creates one.

        Returns False, writing nothing, when the session is gone (destroyed,
        revoked, flagged, expired). With a ``revision`` (the one a
        :class:`StoredSession` from :meth:`get` carries, the default for one),
        a concurrent change to other keys is merged in rather than overwritten.

        With an unacknowledged write concern (w=0) it returns True once the
        update is sent: a session that is gone stays gone (the filter is the
        same) but the caller is not told, and a concurrent change makes the
        compare-and-swap miss, so this change is dropped rather than merged.

        Raises:
            SessionConflict: another writer changed one of the same keys.
            SessionTooLarge: over ``max_size``; nothing was written.
        """
        rules = self._rules
        if revision is _UNSET:
            revision = session.revision if isinstance(session, StoredSession) else None
        base = None
        data: Mapping[str, Any] = session
        storage_id = await self._where(sid, session)  # checks the id before any I/O
        await self._prepare()
        user = rules.gained_user(session, revision, storage_id)
        await self._check_session_limit(storage_id, user)
        for _attempt in range(MERGE_ATTEMPTS):
            stored = rules.encode(data, storage_id)
            now = _clock.now()
            query = rules.live_filter(now, _id=storage_id)
            if revision is not None:
                # $eq: a sub-document payload whose first key starts with "$" is a
                # value here, never an operator (connect-mongo stores keys raw).
                query["session"] = {"$eq": revision}
            update = rules.write_update(data, stored, now, upsert=False)
            if user is not None:
                update = rules.with_user_since(update, now)
            with guarded(rules.timeout):
                result = await self._collection.update_one(query, update, hint=ID)
                if not result.acknowledged or result.matched_count:
                    break
                if revision is None:
                    return False
                doc = await self._collection.find_one(rules.live_filter(now, _id=storage_id))
            current = None if doc is None else rules.load(doc)
            if current is None:
                return False
            if base is None:
                base = rules.decode(revision, storage_id)
            data = merge_changes(base, session, current)
            revision = current.revision
        else:
            raise SessionConflict([])
        self._near_drop(storage_id)
        await self._apply_session_limit(
            storage_id, user, created=False, written=stored, before=revision
        )
        if isinstance(session, StoredSession) and data is not session:
            session.clear()
            session.update(data)
        remember(session, rules, now, stored, storage_id)
        self._emit("update", sid)
        self._emit("set", sid)
        return True

    async def touch(self, sid: str, session: Mapping[str, Any]) -> None:
        """Move the session's expiry forward without rewriting its data.

        Inside the ``touch_after`` window of the session's last write this
        sends nothing at all. A session that is gone is left gone, quietly.
        With an unacknowledged write concern (w=0) the ``touch`` event follows
        every update sent, as connect-mongo's: whether it matched is unknown.
        """
        rules = self._rules
        storage_id = rules.storage_id(sid)
        if not isinstance(session, Mapping):
            raise TypeError(f"a session must be a mapping, not {type(session).__name__}")
        now = _clock.now()
        if not rules.touch_is_due(session, now):
            return
        update = rules.touch_update(session, now)
        await self._prepare()
        if rules.rotating:
            storage_id = await self._where(sid, session)
        with guarded(rules.timeout):
            result = await self._collection.update_one(
                rules.live_filter(now, _id=storage_id), update, hint=ID
            )
        self._near_drop(storage_id)
        if not result.acknowledged or result.matched_count:
            remember(session, rules, now)
            self._emit("touch", sid)

    async def destroy(self, sid: str) -> bool:
        """Delete the session (flag it, with ``delete_flags``).

        Returns whether it was live until now: False when it had ended already
        (destroyed, revoked, flagged, expired) or never existed. With an
        unacknowledged write concern (w=0), whether it was live when read just
        before the delete was sent.
        """
        storage_id = await self._end(sid)
        self._emit("destroy", sid)
        return storage_id is not None

    async def _end(self, sid: str) -> str | None:
        # Delete (or flag) ``sid`` in one command that also returns what it was:
        # its stored _id when it was live, else None. In a hash_ids rotation the
        # session lives under one key's id, whichever: each is ended.
        candidates = self._rules.storage_ids(sid)  # checks the id before any I/O
        await self._prepare()
        ended = None
        for storage_id in reversed(candidates):
            if await self._end_stored(storage_id):
                ended = storage_id
        return ended

    async def _end_stored(self, storage_id: str) -> bool:
        # Whether the document under ``storage_id`` was live until this ended it.
        rules = self._rules
        with guarded(rules.timeout):
            if not self._acknowledged:
                # find_one_and_* cannot go unacknowledged (w=0): read what the session
                # is, then end it without waiting. An end by someone else between the
                # two is not seen (docs/options.md#unacknowledged-writes).
                doc = await self._collection.find_one({"_id": storage_id}, LIVENESS)
                if rules.delete_flags:
                    await self._collection.update_one(
                        {"_id": storage_id}, rules.flag_update(_clock.now())
                    )
                else:
                    await self._collection.delete_one({"_id": storage_id})
            elif rules.delete_flags:
                doc = await self._collection.find_one_and_update(
                    {"_id": storage_id},
                    rules.flag_update(_clock.now()),
                    projection=LIVENESS,
                    return_document=ReturnDocument.BEFORE,
                )
            else:
                doc = await self._collection.find_one_and_delete(
                    {"_id": storage_id}, projection=LIVENESS
                )
        self._near_drop(storage_id)
        return doc is not None and rules.is_live(doc, _clock.now())

    async def _where(self, sid: str, session: Mapping[str, Any]) -> str:
        # The _id a write of an existing session ``sid`` goes to: the one it was
        # read from. Outside a hash_ids rotation that is the only one (no I/O); in
        # one, a session made under an older key stays under it until it ends, so
        # a session not read by get() here is looked up. The id is checked first.
        rules = self._rules
        if not rules.rotating:
            return rules.storage_id(sid)
        candidates = rules.storage_ids(sid)
        if isinstance(session, StoredSession) and session.storage_id in candidates:
            return session.storage_id
        doc = await self._find_rotated(candidates, {"_id": 1})
        return candidates[0] if doc is None else str(doc["_id"])

    async def _find_rotated(
        self, candidates: tuple[str, ...], projection: Mapping[str, Any] | None = None
    ) -> dict[str, Any] | None:
        # The document of a session under the first of ``candidates`` that has one.
        with guarded(self._rules.timeout):
            cursor = self._collection.find({"_id": {"$in": list(candidates)}}, projection)
            found = {doc["_id"]: doc async for doc in cursor}
        return next((found[_id] for _id in candidates if _id in found), None)

    async def regenerate(self, old_sid: str, new_sid: str, session: Mapping[str, Any]) -> bool:
        """Move a live session to a new id: insert ``session`` as ``new_sid``, end ``old_sid``.

        Returns False, leaving nothing written, when ``old_sid`` was no longer
        live (logged out, revoked, expired while a request held it): a session
        that ended never comes back under another id. The new record exists
        before the old one ends, so a concurrent "log out everywhere"
        (:meth:`destroy_user`) ends one or the other, and then this fails.
        With an unacknowledged write concern (w=0) the old session's state is
        read just before it is ended: a logout of it in between is not seen.

        Raises:
            SessionIdCollision: ``new_sid`` exists already (pick a new id).
            SessionLimitReached: a login over ``max_sessions_per_user``
                (``on_session_limit="refuse"``); the replaced session does not count.
        """
        rules = self._rules
        new_id = rules.storage_id(new_sid)
        old_id = await self._where(old_sid, session)
        stored = rules.encode(session, new_id)
        now = _clock.now()
        document = rules.new_document(new_id, session, stored, now)
        user = rules.gained_user(session, None, new_id)
        if user is not None:
            document["userSince"] = now
        await self._prepare()
        await self._check_session_limit(new_id, user, replaced=old_id)
        with guarded(rules.timeout):
            try:
                await self._collection.insert_one(document)
            except DuplicateKeyError:
                raise SessionIdCollision("session id exists already") from None
        if await self._end(old_sid) is None:
            with guarded(rules.timeout):
                await self._collection.delete_one({"_id": new_id})
            log.info("not regenerating ended session %s", sid_digest(old_sid))
            return False
        self._emit("destroy", old_sid)
        await self._apply_session_limit(new_id, user, created=True)
        remember(session, rules, now, stored, new_id)
        self._emit("create", new_sid)
        self._emit("set", new_sid)
        return True

    async def all(self) -> dict[str, dict[str, Any]]:
        """Every live session, keyed by stored ``_id`` (the id after ``transform_id``).

        express-session's ``all``: the whole answer is held in memory at once
        (about 1 KB per session; a million sessions take tens of seconds and
        gigabytes). It reads through :meth:`iter_all`, so no single operation
        is bound to hold the whole scan within ``timeout``; prefer
        :meth:`iter_all` itself, which holds one batch at a time.
        """
        return await self._find(self._rules.live_filter(_clock.now()), hint=NATURAL)

    def iter_all(self, *, batch_size: int = 1_000) -> AsyncIterator[tuple[str, StoredSession]]:
        """Every live session as ``(stored _id, session)``, ``batch_size`` at a time.

        One collection scan in storage order (each document once, even one
        touched meanwhile); each batch is read within the store's ``timeout``
        and only one batch is held, so memory stays constant at any size.
        Liveness is judged when the scan reads a document. Example::

            async for sid, session in store.iter_all():
                ...

        The server drops a cursor left idle for 10 minutes: a consumer that
        pauses that long between two items gets ``CursorNotFound``.
        """
        return self._sessions(
            self._rules.live_filter(_clock.now()), hint=NATURAL, batch_size=batch_size
        )

    async def length(self) -> int:
        """The number of live sessions (expired and flagged ones not counted).

        With the TTL index (``auto_remove="native"``) and no
        ``absolute_lifetime``, three counts that need no read of every live
        document: the live expiries, a range of ``expires_1`` counted in the
        index alone, less the flagged among them (through ``deleted_1`` when it
        exists: ``mongosession ensure-indexes --flag-index``), plus the sessions
        without an expiry. Otherwise one count with the whole live filter.
        Not a snapshot: a write between the counts may move the total by one.
        """
        rules = self._rules
        now = _clock.now()
        await self._prepare()
        with guarded(rules.timeout):
            if rules.auto_remove != "native" or rules.absolute_lifetime is not None:
                return await self._collection.count_documents(rules.live_filter(now))
            dated = await self._collection.count_documents({"expires": {"$gt": now}})
            flagged = await self._collection.count_documents(
                {"expires": {"$gt": now}, "deleted": True}
            )
            undated = await self._collection.count_documents(
                {"expires": {"$exists": False}, "deleted": {"$ne": True}}
            )
        return dated - flagged + undated

    async def clear(self) -> None:
        """Delete every session (flag them all, with ``delete_flags``); indexes stay.

        In batches (:meth:`delete_batches`), each within the store's ``timeout``.
        """
        query: dict[str, Any] = {}
        update = None
        if self._rules.delete_flags:
            query = {"deleted": {"$ne": True}}
            update = self._rules.flag_update(_clock.now())
        await self._total(self._delete_batches(query, update=update))

    async def flag_deletion(self, sid: str | None = None) -> int:
        """Flag one session, or every session, as deleted; return how many.

        A flagged session is invisible to reads and is never written again;
        :meth:`cleanup` removes it later. With an unacknowledged write concern
        (w=0), how many a count found unflagged just before.
        """
        rules = self._rules
        query: dict[str, Any] = {"deleted": {"$ne": True}}
        if sid is not None:
            query["_id"] = rules.storage_id(sid)
        await self._prepare()
        with guarded(rules.timeout):
            return await self._update_many(query, rules.flag_update(_clock.now()))

    async def cleanup(self, older_than: float = 0, *, batch_size: int = 10_000) -> int:
        """Delete flagged and expired sessions; return how many.

        ``older_than`` (seconds) spares sessions flagged more recently, so that a
        request still holding one finishes before the document goes (the flag is
        what stops that request writing it back). The deletion goes in batches of
        ``batch_size`` (:meth:`delete_batches`), each with the store's ``timeout``;
        iterate ``delete_batches(cleanup_filter(older_than))`` to see progress.
        With an unacknowledged write concern (w=0), how many were sent for deletion.
        """
        query = self.cleanup_filter(older_than)
        return await self._total(self._delete_batches(query, batch_size=batch_size))
