"""The store's foundation: client, collection, options, indexes, start and close.

This file is a source: its blocking twin under ``store/synchronous/`` is generated
by ``tools/unasync.py``; edit here and run ``python tools/unasync.py``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import Any, Literal, TypeVar

from pymongo import AsyncMongoClient, ReadPreference
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import ConfigurationError as DriverConfigurationError
from pymongo.errors import OperationFailure
from pymongo.write_concern import WriteConcern

from mongosession import _clock
from mongosession._errors import (
    ConfigurationError,
    ConfigurationTypeError,
    IndexConflict,
    IndexPermissionError,
)
from mongosession.codecs.formats import Codec
from mongosession.store.asynchronous.cache import AsyncCacheFollower
from mongosession.store.asynchronous.watch import AsyncSessionEvents
from mongosession.store.documents import CODEC_OPTIONS, StoredSession
from mongosession.store.errors import INDEX_CONFLICT_CODES, RequestBudget, ServerCode, guarded
from mongosession.store.events import EventEmitter
from mongosession.store.indexes import (
    EXPIRES_INDEX,
    USER_HINT,
    USER_INDEX,
    hint_missing,
    hint_option,
    indexes_to_create,
)
from mongosession.store.nearcache import NearCache, NearCacheStats, SessionCache
from mongosession.store.rules import (
    DEFAULT_MAX_SIZE,
    DEFAULT_TIMEOUT,
    AutoRemove,
    SessionLimitAction,
    StoreRules,
)
from mongosession.store.sweeper import AsyncTicker

_UNSET: Any = object()
#: The _id index, named for writes whose filter has more than _id: the planner
#: then skips weighing other indexes (expires_1, user_1) on every write.
ID = [("_id", 1)]
#: A collection scan, in storage order: each document once, even one whose
#: expiry moves meanwhile (an ``expires_1`` scan could meet it twice).
NATURAL = [("$natural", 1)]


_Store = TypeVar("_Store", bound="AsyncStoreBase")


class AsyncStoreBase(EventEmitter):
    """The store's client, collection, options, indexes and lifetime (see :class:`AsyncMongoStore`)."""

    _rules: StoreRules
    _collection: AsyncCollection[dict[str, Any]]

    def __init__(
        self,
        uri: str | None = None,
        *,
        client: AsyncMongoClient[Any] | None = None,
        db_name: str | None = None,
        collection: str = "sessions",
        ttl: float = 14 * 24 * 3600,
        touch_after: float | Literal["auto"] = "auto",
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
        hash_ids: bytes | str | Sequence[bytes | str | None] | None = None,
        max_sessions_per_user: int | None = None,
        on_session_limit: SessionLimitAction = "evict_oldest",
        request_timeout: float | None = None,
        near_cache: bool | NearCache | None = None,
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
            near_cache=near_cache,
        )
        if (uri is None) == (client is None):
            raise ConfigurationError("pass exactly one of uri= or client=")
        if client is None:
            if not isinstance(uri, str):
                raise ConfigurationTypeError("uri must be a str")
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
            except DriverConfigurationError:
                raise ConfigurationError(
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
        # False with an unacknowledged write concern (w=0: ``write_concern``, or the
        # client's own, from ``?w=0`` in its URI, say): the server answers no write,
        # so no result has counts to read and no write error comes back.
        self._acknowledged = bool(self._collection.write_concern.acknowledged)
        self._listeners = {}
        self._prepared = False
        self._prepare_lock = asyncio.Lock()
        self._ticker = None
        if auto_remove == "interval":
            self._ticker = AsyncTicker(auto_remove_interval, self._remove_expired)
        # The near cache (docs/near-cache.md); reads of a hash_ids rotation bypass it.
        self._near: SessionCache | None = None
        self._follower: AsyncCacheFollower | None = None
        if rules.near_cache is not None and not rules.rotating:
            self._near = SessionCache(rules.near_cache)
            self._follower = AsyncCacheFollower(self._collection, self._near, timeout=timeout)

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

    async def __aenter__(self: _Store) -> _Store:
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
            if self._follower is not None:
                await self._follower.start()
            self._prepared = True

    async def ensure_indexes(self) -> None:
        """Create the TTL and per-user indexes this configuration uses.

        Idempotent; an identical existing index (under any name) is accepted.

        Raises:
            IndexConflict: an index with our name or key has other options.
            IndexPermissionError: the user may not create indexes.
            StoreUnavailable: the database did not answer in time.
        """
        await self._create_missing(self._index_specs())

    def _index_specs(self) -> list[dict[str, Any]]:
        # The indexes this configuration uses.
        wanted = []
        if self._rules.auto_remove == "native":
            wanted.append(EXPIRES_INDEX)
        if self._rules.user_path is not None:
            wanted.append(USER_INDEX)
        return wanted

    async def _create_missing(self, wanted: list[dict[str, Any]]) -> list[str]:
        # Create the indexes of ``wanted`` that are missing; return their names.
        if not wanted:
            return []
        collection = self._collection
        if not self._acknowledged:
            # As connect-mongo's createIndex (its writeOperationOptions apply to session
            # writes only): an index that cannot be made must be reported, never lost.
            collection = collection.with_options(write_concern=WriteConcern())
        with guarded(self._rules.timeout):
            try:
                existing = await (await collection.list_indexes()).to_list()
            except OperationFailure as exc:
                if exc.code != ServerCode.UNAUTHORIZED:  # try to create, and say so if refused
                    raise
                existing = []
            missing = indexes_to_create(wanted, existing)
            for spec in missing:
                options = {k: v for k, v in spec.items() if k not in ("key", "name")}
                try:
                    await collection.create_index(
                        list(spec["key"].items()), name=spec["name"], **options
                    )
                except OperationFailure as exc:
                    if exc.code == ServerCode.UNAUTHORIZED:
                        raise IndexPermissionError(
                            f"not allowed to create index {spec['name']!r}: run "
                            "`mongosession ensure-indexes` as a user who may, then pass "
                            "create_indexes=False"
                        ) from exc
                    if exc.code in INDEX_CONFLICT_CODES:
                        raise IndexConflict(str(exc)) from exc
                    raise
        return [spec["name"] for spec in missing]

    # -- the near cache (docs/near-cache.md) ---------------------------------------------

    def near_cache_stats(self) -> NearCacheStats | None:
        """What the near cache did so far, or None when ``near_cache`` is off."""
        return None if self._near is None else self._near.stats()

    async def _find_by_id(self, storage_id: str) -> dict[str, Any] | None:
        """The document ``storage_id``, by _id alone (the server's fast path); not checked.

        With the near cache, from it when it holds the document and serves; else
        read, and kept unless a change to it overtook the read.
        """
        near = self._near
        if near is None:
            with guarded(self._rules.timeout):
                return await self._collection.find_one({"_id": storage_id})
        doc = near.lookup(storage_id)
        if doc is not None:
            return doc
        follower = self._follower
        if follower is not None and not follower.running:  # stopped, or a child after fork
            await follower.start()
        fill = near.begin(storage_id)
        doc = None
        try:
            with guarded(self._rules.timeout):
                doc = await self._collection.find_one({"_id": storage_id})
        finally:
            near.finish(fill, doc)
        return doc

    def _near_drop(self, storage_id: str | None = None) -> None:
        # After this process wrote ``storage_id`` (every session: None): its cached
        # copy goes now, not when the change stream reports the write.
        near = self._near
        if near is not None:
            if storage_id is None:
                near.drop_all()
            else:
                near.drop(storage_id)

    async def _user_indexed(self, operation: Callable[[Any], Any]) -> Any:
        # ``operation(hint)`` with the per-user index hinted (the caller guards it);
        # again without a hint when the collection has no such index (hint_missing).
        try:
            return await operation(USER_HINT)
        except OperationFailure as exc:
            if not hint_missing(exc):
                raise
        return await operation(None)

    async def _scan(
        self,
        query: Mapping[str, Any],
        projection: Mapping[str, Any] | None = None,
        *,
        hint: Any = None,
        batch_size: int = 1_000,
    ) -> AsyncIterator[list[dict[str, Any]]]:
        """The documents ``query`` matches, a list of at most ``batch_size`` at a time.

        One cursor, read through ``hint`` (an index the collection lacks is
        dropped from the read); each batch is a bound operation of its own, so a
        long read never runs under one ``timeout``, and only one batch is held.
        """
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError("batch_size must be a positive int")
        await self._prepare()
        cursor = self._collection.find(query, projection, hint=hint, batch_size=batch_size)
        try:
            while True:
                with guarded(self._rules.timeout):
                    try:
                        docs = await cursor.to_list(batch_size)
                    except OperationFailure as exc:
                        if hint is None or not hint_missing(exc):
                            raise
                        await cursor.close()
                        cursor = self._collection.find(query, projection, batch_size=batch_size)
                        hint = None
                        docs = await cursor.to_list(batch_size)
                if not docs:
                    return
                yield docs
        finally:
            await cursor.close()

    async def _sessions(
        self, query: Mapping[str, Any], *, hint: Any = None, batch_size: int = 1_000
    ) -> AsyncIterator[tuple[str, StoredSession]]:
        # (stored _id, session) for each readable document ``query`` matches (_scan).
        async for docs in self._scan(query, hint=hint, batch_size=batch_size):
            for doc in docs:
                loaded = self._rules.load(doc)
                if loaded is not None:
                    yield doc["_id"], loaded

    async def _find(
        self, query: Mapping[str, Any], *, hint: Any = None
    ) -> dict[str, dict[str, Any]]:
        # The sessions ``query`` matches, keyed by stored _id, read in bound batches.
        sessions: dict[str, dict[str, Any]] = {}
        async for sid, session in self._sessions(query, hint=hint):
            sessions[sid] = session
        return sessions

    async def _remove_expired(self) -> int:
        # auto_remove="interval": in batches, each bound by the store's timeout.
        return await self._total(self._delete_batches({"expires": {"$lte": _clock.now()}}))

    @staticmethod
    async def _total(batches: AsyncIterator[int]) -> int:
        # Run batched work to its end; its last running total (0 when nothing matched).
        total = 0
        async for so_far in batches:
            total = so_far
        return total

    # -- writes of many documents: their counts, acknowledged or not ----------------
    #
    # With w=0 the server answers nothing: these count the matching documents with a
    # read just before the write, and report that. The caller guards them.

    async def _update_many(
        self, query: Mapping[str, Any], update: Mapping[str, Any], *, hint: Any = None
    ) -> int:
        """``update_many``; how many documents it changed (w=0: matched just before)."""
        try:
            if self._acknowledged:
                result = await self._collection.update_many(query, update, hint=hint)
                return result.modified_count
            matched = await self._collection.count_documents(query, **hint_option(hint))
            await self._collection.update_many(query, update, hint=hint)
            return matched
        finally:
            self._near_drop()

    async def _delete_many(self, query: Mapping[str, Any], *, hint: Any = None) -> int:
        """``delete_many``; how many documents it deleted (w=0: matched just before)."""
        try:
            if self._acknowledged:
                result = await self._collection.delete_many(query, hint=hint)
                return result.deleted_count
            matched = await self._collection.count_documents(query, **hint_option(hint))
            await self._collection.delete_many(query, hint=hint)
            return matched
        finally:
            self._near_drop()

    async def _delete_batches(
        self,
        query: Mapping[str, Any],
        *,
        batch_size: int = 10_000,
        hint: Any = None,
        update: Mapping[str, Any] | None = None,
    ) -> AsyncIterator[int]:
        """Delete what ``query`` matches, ``batch_size`` at a time; yield the running total.

        One scan (:meth:`_scan`, through ``hint``) reads the matching ids; each
        batch is deleted, by the ``_id`` index, with ``query`` applied again (a
        session touched or flagged since is judged on its new state), within the
        store's ``timeout``. With ``update`` (the deletion flag) each batch is
        updated with it instead; the total counts the documents it changed. With
        w=0 a batch counts the ids it sent: the server does not say how many it
        deleted.
        """
        timeout = self._rules.timeout
        done = 0
        async for docs in self._scan(query, {"_id": 1}, hint=hint, batch_size=batch_size):
            ids = [doc["_id"] for doc in docs]
            batch = {"$and": [{"_id": {"$in": ids}}, dict(query)]}
            with guarded(timeout):
                if update is None:
                    result: Any = await self._collection.delete_many(batch, hint=ID)
                    count = result.deleted_count if result.acknowledged else len(ids)
                else:
                    result = await self._collection.update_many(batch, update, hint=ID)
                    count = result.modified_count if result.acknowledged else len(ids)
            for storage_id in ids if self._near is not None else ():
                self._near_drop(storage_id)
            done += count
            yield done

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
        """Stop the sweeper and the near cache; close the client if the store made it."""
        if self._ticker is not None:
            await self._ticker.stop()
        if self._follower is not None:
            await self._follower.stop()
        if self._owns_client:
            await self._client.close()
