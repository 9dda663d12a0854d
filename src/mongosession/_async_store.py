"""The store. This file is the source: ``_sync_store.py`` is generated from it
by ``tools/unasync.py``; edit here and run ``python tools/unasync.py``."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Any

from pymongo import AsyncMongoClient, ReadPreference, ReturnDocument
from pymongo.errors import ConfigurationError, DuplicateKeyError, OperationFailure
from pymongo.write_concern import WriteConcern

from . import _clock
from ._async_watch import AsyncSessionEvents
from ._codecs import Codec
from ._core import (
    CODEC_OPTIONS,
    DEFAULT_MAX_SIZE,
    DEFAULT_TIMEOUT,
    EXPIRES_INDEX,
    LIVENESS,
    MERGE_ATTEMPTS,
    USER_INDEX,
    AutoRemove,
    EventEmitter,
    RequestBudget,
    SessionLimitAction,
    StoredSession,
    StoreRules,
    guarded,
    indexes_to_create,
    log,
    merge_changes,
    remember,
)
from ._errors import (
    IndexConflict,
    IndexPermissionError,
    SessionConflict,
    SessionIdCollision,
    SessionLimitReached,
)
from ._ids import sid_digest
from ._tickers import AsyncTicker

_UNSET: Any = object()
#: The _id index, named for writes whose filter has more than _id: the planner
#: then skips weighing other indexes (expires_1, user_1) on every write.
ID = [("_id", 1)]


class AsyncMongoStore(EventEmitter):
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

    def __init__(
        self,
        uri: str | None = None,
        *,
        client: AsyncMongoClient[Any] | None = None,
        db_name: str | None = None,
        collection: str = "sessions",
        ttl: float = 14 * 24 * 3600,
        touch_after: float = 0,
        absolute_lifetime: float | None = None,
        auto_remove: AutoRemove = "native",
        auto_remove_interval: float = 600,
        codec: str | Codec = "json",
        transform_id: Callable[[str], str] | None = None,
        encryption_keys: list[bytes | str] | None = None,
        delete_flags: bool = False,
        user_key: str | None = None,
        timestamps: bool = False,
        write_concern: WriteConcern | Mapping[str, Any] | None = None,
        timeout: float | None = DEFAULT_TIMEOUT,
        max_size: int = DEFAULT_MAX_SIZE,
        create_indexes: bool = True,
        hash_ids: bytes | str | None = None,
        max_sessions_per_user: int | None = None,
        on_session_limit: SessionLimitAction = "evict_oldest",
        request_timeout: float | None = None,
    ) -> None:
        self._rules = rules = StoreRules(
            collection=collection,
            ttl=ttl,
            touch_after=touch_after,
            absolute_lifetime=absolute_lifetime,
            auto_remove=auto_remove,
            auto_remove_interval=auto_remove_interval,
            codec=codec,
            transform_id=transform_id,
            encryption_keys=encryption_keys,
            delete_flags=delete_flags,
            user_key=user_key,
            timestamps=timestamps,
            write_concern=write_concern,
            timeout=timeout,
            max_size=max_size,
            create_indexes=create_indexes,
            hash_ids=hash_ids,
            max_sessions_per_user=max_sessions_per_user,
            on_session_limit=on_session_limit,
            request_timeout=request_timeout,
        )
        if (uri is None) == (client is None):
            raise ValueError("pass exactly one of uri= or client=")
        if client is None:
            if not isinstance(uri, str):
                raise TypeError("uri must be a str")
            extra: dict[str, Any] = {}
            if timeout is not None:
                extra["serverSelectionTimeoutMS"] = extra["connectTimeoutMS"] = int(timeout * 1000)
            client = AsyncMongoClient(
                uri, connect=False, tz_aware=True, appname="mongosession", **extra
            )
        self._client = client
        self._owns_client = uri is not None
        if db_name is None:
            try:
                database = client.get_default_database()
            except ConfigurationError:
                raise ValueError(
                    "name the database: pass db_name= or put it in the URI (mongodb://host/app)"
                ) from None
        else:
            database = client[db_name]
        self._collection = database.get_collection(
            collection,
            codec_options=CODEC_OPTIONS,
            read_preference=ReadPreference.PRIMARY,
            write_concern=rules.write_concern,
        )
        self._listeners = {}
        self._prepared = False
        self._prepare_lock = asyncio.Lock()
        self._ticker = None
        if auto_remove == "interval":
            self._ticker = AsyncTicker(auto_remove_interval, self._remove_expired)

    @property
    def client(self) -> AsyncMongoClient[Any]:
        """The client the store talks through."""
        return self._client

    def request_budget(self) -> RequestBudget:
        """A new budget for one request's session work (``request_timeout``).

        The adapters run each store call of a request inside its
        :meth:`~RequestBudget.charged`, so that all of them together wait at most
        ``request_timeout`` (the store's ``timeout`` unless set).
        """
        return RequestBudget(self._rules.request_timeout)

    @property
    def collection_name(self) -> str:
        """The name of the sessions collection."""
        return self._rules.collection

    async def __aenter__(self) -> AsyncMongoStore:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def prepare(self) -> None:
        """Create the indexes and start the sweeper now, not with the first operation.

        The ASGI middleware calls this at application start-up (lifespan).
        """
        await self._prepare()

    async def _prepare(self) -> None:
        # Indexes and the sweeper start with the first operation, not in
        # __init__, so constructing a store never waits on the network.
        if self._prepared:
            return
        async with self._prepare_lock:
            if self._prepared:
                return
            if self._rules.create_indexes:
                await self.ensure_indexes()
            if self._ticker is not None:
                self._ticker.start()
            self._prepared = True

    async def ensure_indexes(self) -> None:
        """Create the TTL and per-user indexes this configuration uses.

        Idempotent; an identical existing index (under any name) is accepted.

        Raises:
            IndexConflict: an index with our name or key has other options.
            IndexPermissionError: the user may not create indexes.
            StoreUnavailable: the database did not answer in time.
        """
        rules = self._rules
        wanted = []
        if rules.auto_remove == "native":
            wanted.append(EXPIRES_INDEX)
        if rules.user_path is not None:
            wanted.append(USER_INDEX)
        if not wanted:
            return
        with guarded(rules.timeout):
            try:
                existing = await (await self._collection.list_indexes()).to_list()
            except OperationFailure as exc:
                if exc.code != 13:  # Unauthorized: try to create, and say so if refused
                    raise
                existing = []
            for spec in indexes_to_create(wanted, existing):
                options = {k: v for k, v in spec.items() if k not in ("key", "name")}
                try:
                    await self._collection.create_index(
                        list(spec["key"].items()), name=spec["name"], **options
                    )
                except OperationFailure as exc:
                    if exc.code == 13:
                        raise IndexPermissionError(
                            f"not allowed to create index {spec['name']!r}: run "
                            "`mongosession ensure-indexes` as a user who may, then pass "
                            "create_indexes=False"
                        ) from exc
                    if exc.code in (85, 86):  # IndexOptionsConflict, IndexKeySpecsConflict
                        raise IndexConflict(str(exc)) from exc
                    raise

    async def get(self, sid: str) -> StoredSession | None:
        """Return the live session ``sid``, or None.

        Never returns an expired, flagged or over-age session, whether or not
        MongoDB's TTL monitor has removed it yet. A corrupt payload is logged and
        reported as None.
        """
        rules = self._rules
        storage_id = rules.storage_id(sid)
        await self._prepare()
        with guarded(rules.timeout):
            # By _id alone (the server's fast path); liveness is checked here.
            doc = await self._collection.find_one({"_id": storage_id})
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
        so that one destroyed meanwhile stays destroyed.

        Raises:
            SessionTooLarge: over ``max_size``; nothing was written.
            SessionEncodingError: a value the codec cannot hold.
        """
        rules = self._rules
        storage_id = rules.storage_id(sid)
        stored = rules.encode(session, storage_id)
        now = _clock.now()
        query = rules.set_filter(storage_id)
        hint = ID if len(query) > 1 else None  # a hint on _id alone loses the fast path
        update = rules.write_update(session, stored, now, upsert=True)
        user = rules.gained_user(session, None, storage_id)
        if user is not None:
            update = rules.with_user_since(update, now)
        await self._prepare()
        await self._check_session_limit(storage_id, user)
        with guarded(rules.timeout):
            try:
                result = await self._collection.update_one(query, update, upsert=True, hint=hint)
                created = result.upserted_id is not None
            except DuplicateKeyError:
                # The _id exists but the filter missed it: flagged deleted (left
                # alone), or inserted concurrently (updated now, without upsert).
                result = await self._collection.update_one(query, update, hint=hint)
                created = False
                if not result.matched_count:
                    log.info("not re-creating deleted session %s", sid_digest(sid))
                    return
        await self._apply_session_limit(storage_id, user, created=created)
        remember(session, rules, now, stored)
        self._emit("create" if created else "update", sid)
        self._emit("set", sid)

    async def create(self, sid: str, session: Mapping[str, Any]) -> None:
        """Insert a new session; never overwrites an existing id.

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
        await self._apply_session_limit(storage_id, user, created=True)
        remember(session, rules, now, stored)
        self._emit("create", sid)
        self._emit("set", sid)

    async def save(self, sid: str, session: Mapping[str, Any], *, revision: Any = _UNSET) -> bool:
        """Update a session that exists; never creates one.

        Returns False, writing nothing, when the session is gone (destroyed,
        revoked, flagged, expired). With a ``revision`` (the one a
        :class:`StoredSession` from :meth:`get` carries, the default for one),
        a concurrent change to other keys is merged in rather than overwritten.

        Raises:
            SessionConflict: another writer changed one of the same keys.
            SessionTooLarge: over ``max_size``; nothing was written.
        """
        rules = self._rules
        storage_id = rules.storage_id(sid)
        if revision is _UNSET:
            revision = session.revision if isinstance(session, StoredSession) else None
        base = None
        data: Mapping[str, Any] = session
        user = rules.gained_user(session, revision, storage_id)
        await self._prepare()
        await self._check_session_limit(storage_id, user)
        for _attempt in range(MERGE_ATTEMPTS):
            stored = rules.encode(data, storage_id)
            now = _clock.now()
            query = rules.live_filter(now, _id=storage_id)
            if revision is not None:
                query["session"] = revision
            update = rules.write_update(data, stored, now, upsert=False)
            if user is not None:
                update = rules.with_user_since(update, now)
            with guarded(rules.timeout):
                result = await self._collection.update_one(query, update, hint=ID)
                if result.matched_count:
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
        await self._apply_session_limit(
            storage_id, user, created=False, written=stored, before=revision
        )
        if isinstance(session, StoredSession) and data is not session:
            session.clear()
            session.update(data)
        remember(session, rules, now, stored)
        self._emit("update", sid)
        self._emit("set", sid)
        return True

    async def _check_session_limit(
        self, storage_id: str, user: Any, replaced: str | None = None
    ) -> None:
        # on_session_limit="refuse": a login over the limit writes nothing.
        rules = self._rules
        limit = rules.max_sessions_per_user
        if user is None or limit is None or rules.on_session_limit != "refuse":
            return
        query = rules.others_of_user(user, _clock.now(), storage_id, replaced)
        with guarded(rules.timeout):
            others = await self._collection.count_documents(query, limit=limit)
        if others >= limit:
            raise SessionLimitReached(limit)

    async def _apply_session_limit(
        self,
        storage_id: str,
        user: Any,
        *,
        created: bool,
        written: Any = None,
        before: Any = None,
    ) -> None:
        # After a login is written: end the sessions beyond the limit, oldest
        # login first ("evict_oldest"), or take back the login that lost a race
        # with others ("refuse"): a new session is deleted; an existing one that
        # gained the user gets its payload from ``before`` back (ended, when that
        # is unknown), unless it was rewritten since (``written`` no longer there).
        rules = self._rules
        limit = rules.max_sessions_per_user
        refuse = rules.on_session_limit == "refuse"
        if user is None or limit is None:
            return
        now = _clock.now()
        with guarded(rules.timeout):
            cursor = self._collection.find(rules.user_filter(user, now), {"_id": 1})
            oldest_first = [doc["_id"] async for doc in cursor.sort([("userSince", 1), ("_id", 1)])]
            ended = rules.over_limit(oldest_first, storage_id)
            if not ended:
                return
            if refuse and created:
                await self._collection.delete_one({"_id": storage_id})
            elif refuse:
                await self._take_back(storage_id, user, written, before, now)
            elif rules.delete_flags:
                await self._collection.update_many({"_id": {"$in": ended}}, rules.flag_update(now))
            else:
                await self._collection.delete_many({"_id": {"$in": ended}})
        if refuse:
            raise SessionLimitReached(limit)

    async def _take_back(
        self, storage_id: str, user: Any, written: Any, before: Any, now: Any
    ) -> None:
        # Undo a login written over an existing session (guarded by the caller):
        # the payload from before it, or, when that is unknown or the session was
        # rewritten since, the end of the session while it still has the user.
        rules = self._rules
        if before is not None:
            update = rules.write_update(rules.decode(before, storage_id), before, now, upsert=False)
            result = await self._collection.update_one(
                {"_id": storage_id, "session": written}, update
            )
            if result.matched_count:
                return
        query = {"_id": storage_id, "user": user}
        if rules.delete_flags:
            await self._collection.update_one(query, rules.flag_update(now))
        else:
            await self._collection.delete_one(query)

    async def touch(self, sid: str, session: Mapping[str, Any]) -> None:
        """Move the session's expiry forward without rewriting its data.

        Inside the ``touch_after`` window of the session's last write this
        sends nothing at all. A session that is gone is left gone, quietly.
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
        with guarded(rules.timeout):
            result = await self._collection.update_one(
                rules.live_filter(now, _id=storage_id), update, hint=ID
            )
        if result.matched_count:
            remember(session, rules, now)
            self._emit("touch", sid)

    async def destroy(self, sid: str) -> bool:
        """Delete the session (flag it, with ``delete_flags``).

        Returns whether it was live until now: False when it had ended already
        (destroyed, revoked, flagged, expired) or never existed.
        """
        storage_id = await self._end(sid)
        self._emit("destroy", sid)
        return storage_id is not None

    async def _end(self, sid: str) -> str | None:
        # Delete (or flag) ``sid`` in one command that also returns what it was:
        # its stored _id when it was live, else None.
        rules = self._rules
        storage_id = rules.storage_id(sid)
        await self._prepare()
        with guarded(rules.timeout):
            if rules.delete_flags:
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
        return storage_id if doc is not None and rules.is_live(doc, _clock.now()) else None

    async def regenerate(self, old_sid: str, new_sid: str, session: Mapping[str, Any]) -> bool:
        """Move a live session to a new id: insert ``session`` as ``new_sid``, end ``old_sid``.

        Returns False, leaving nothing written, when ``old_sid`` was no longer
        live (logged out, revoked, expired while a request held it): a session
        that ended never comes back under another id. The new record exists
        before the old one ends, so a concurrent "log out everywhere"
        (:meth:`destroy_user`) ends one or the other, and then this fails.

        Raises:
            SessionIdCollision: ``new_sid`` exists already (pick a new id).
            SessionLimitReached: a login over ``max_sessions_per_user``
                (``on_session_limit="refuse"``); the replaced session does not count.
        """
        rules = self._rules
        new_id = rules.storage_id(new_sid)
        old_id = rules.storage_id(old_sid)
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
        remember(session, rules, now, stored)
        self._emit("create", new_sid)
        self._emit("set", new_sid)
        return True

    async def all(self) -> dict[str, dict[str, Any]]:
        """Every live session, keyed by stored ``_id`` (the id after ``transform_id``)."""
        return await self._find(self._rules.live_filter(_clock.now()))

    async def _find(self, query: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
        await self._prepare()
        sessions: dict[str, dict[str, Any]] = {}
        with guarded(self._rules.timeout):
            async for doc in self._collection.find(query):
                loaded = self._rules.load(doc)
                if loaded is not None:
                    sessions[doc["_id"]] = loaded
        return sessions

    async def length(self) -> int:
        """The number of live sessions (expired and flagged ones not counted)."""
        rules = self._rules
        await self._prepare()
        with guarded(rules.timeout):
            return await self._collection.count_documents(rules.live_filter(_clock.now()))

    async def clear(self) -> None:
        """Delete every session (flag them all, with ``delete_flags``); indexes stay."""
        if self._rules.delete_flags:
            await self.flag_deletion()
            return
        await self._prepare()
        with guarded(self._rules.timeout):
            await self._collection.delete_many({})

    async def flag_deletion(self, sid: str | None = None) -> int:
        """Flag one session, or every session, as deleted; return how many.

        A flagged session is invisible to reads and is never written again;
        :meth:`cleanup` removes it later.
        """
        rules = self._rules
        query: dict[str, Any] = {"deleted": {"$ne": True}}
        if sid is not None:
            query["_id"] = rules.storage_id(sid)
        await self._prepare()
        with guarded(rules.timeout):
            result = await self._collection.update_many(query, rules.flag_update(_clock.now()))
        return result.modified_count

    async def cleanup(self, older_than: float = 0) -> int:
        """Delete flagged and expired sessions; return how many.

        ``older_than`` (seconds) spares sessions flagged more recently, so that a
        request still holding one finishes before the document goes (the flag is
        what stops that request writing it back).
        """
        now = _clock.now()
        cutoff = _clock.after(now, -older_than)
        flagged = {"deleted": True, "deletedAt": {"$not": {"$gt": cutoff}}}
        query = {"$or": [flagged, {"expires": {"$lte": now}}]}
        await self._prepare()
        with guarded(self._rules.timeout):
            result = await self._collection.delete_many(query)
        return result.deleted_count

    async def _remove_expired(self) -> int:
        with guarded(self._rules.timeout):
            result = await self._collection.delete_many({"expires": {"$lte": _clock.now()}})
        return result.deleted_count

    async def sessions_of(self, user: Any) -> dict[str, dict[str, Any]]:
        """The live sessions whose ``user_key`` value is ``user``, keyed by stored ``_id``."""
        return await self._find(self._rules.user_filter(user, _clock.now()))

    async def destroy_user(self, user: Any, keep: str | None = None) -> int:
        """End every session of ``user`` ("log out everywhere"); return how many.

        ``keep`` spares one session id, typically the current one.
        """
        rules = self._rules
        now = _clock.now()
        query = rules.user_filter(user, now, keep=keep)
        await self._prepare()
        with guarded(rules.timeout):
            if rules.delete_flags:
                result = await self._collection.update_many(query, rules.flag_update(now))
                return result.modified_count
            deleted = await self._collection.delete_many(query)
            return deleted.deleted_count

    def watch(
        self,
        *,
        pre_images: bool = True,
        resume_after: Mapping[str, Any] | None = None,
        max_await: float = 1.0,
    ) -> AsyncSessionEvents:
        """Follow sessions as they end: expired, destroyed, revoked, flagged.

        Returns :class:`AsyncSessionEvents`, an iterator of :class:`SessionEvent`
        over a change stream; it needs a replica set or a sharded cluster.
        Telling a TTL expiry from an explicit delete needs the collection's
        pre-images (``changeStreamPreAndPostImages``, MongoDB 6.0+), asked for
        unless ``pre_images=False``; without them a delete is ``"deleted"``.
        ``resume_after`` takes a ``resume_token`` to go on where a stream
        stopped; ``max_await`` bounds each wait for the server (seconds).
        Example::

            async with store.watch() as events:
                async for event in events:
                    print(event.kind, event.sid, event.user)

        Raises:
            ChangeStreamsUnsupported: the server is a standalone ``mongod``.
        """
        return AsyncSessionEvents(
            self._collection,
            timeout=self._rules.timeout,
            pre_images=pre_images,
            resume_after=resume_after,
            max_await=max_await,
        )

    async def close(self) -> None:
        """Stop the sweeper and close the client if the store made it."""
        if self._ticker is not None:
            await self._ticker.stop()
        if self._owns_client:
            await self._client.close()
