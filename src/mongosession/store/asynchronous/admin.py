"""The store's admin methods: inspect, count, list, revoke and clean up, by the store's rules.

This file is a source: its blocking twin under ``store/synchronous/`` is generated
by ``tools/unasync.py``; edit here and run ``python tools/unasync.py``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, MutableMapping
from typing import Any

from pymongo.errors import OperationFailure

from mongosession import _clock
from mongosession.store import inspection
from mongosession.store.asynchronous.users import AsyncUserSessions
from mongosession.store.errors import ServerCode, guarded
from mongosession.store.indexes import (
    EXPIRES_INDEX,
    USER_HINT,
    USER_INDEX,
    hint_option,
    names_user,
)

#: $collStats on a collection that does not exist (yet).
_NAMESPACE_NOT_FOUND = 26


class AsyncStoreAdmin(AsyncUserSessions):
    """What an admin tool needs, with the store's own rules (see docs/options.md).

    The ``mongosession`` command line works through these alone. Queries are
    MongoDB filters on the stored document (``_id``, ``user``, ``expires``...);
    the store's filters (:meth:`live_filter`, :meth:`cleanup_filter`) combine with
    them. Every database operation, each page and each batch, is bounded by the
    store's ``timeout`` and raises :class:`StoreUnavailable` past it.
    """

    # -- the store's rules, no I/O ---------------------------------------------

    @property
    def namespace(self) -> str:
        """``database.collection`` of the sessions collection."""
        return self._collection.full_name

    @property
    def encrypted(self) -> bool:
        """True when the store was given ``encryption_keys`` (and so can :meth:`unseal`)."""
        return self._rules.encryptor is not None

    def storage_id(self, sid: str) -> str:
        """The ``_id`` session ``sid`` is stored under (after ``hash_ids`` and ``transform_id``).

        Raises:
            TypeError, ValueError: ``sid`` is not a well-formed session id.
        """
        return self._rules.storage_id(sid)

    def live_filter(self, **conditions: Any) -> dict[str, Any]:
        """A filter matching the sessions :meth:`get` would return now, and ``conditions``.

        Not expired, not flagged, not past ``absolute_lifetime``. Example::

            store.live_filter(user="alice")
        """
        return self._rules.live_filter(_clock.now(), **conditions)

    def cleanup_filter(self, older_than: float = 0) -> dict[str, Any]:
        """A filter matching what ``cleanup(older_than)`` would delete now."""
        return inspection.cleanup_filter(_clock.now(), older_than)

    def is_live(self, doc: Mapping[str, Any]) -> bool:
        """Whether :meth:`live_filter` matches the stored document ``doc`` now."""
        return self._rules.is_live(doc, _clock.now())

    def state_of(self, doc: Mapping[str, Any]) -> inspection.SessionState:
        """What the stored document ``doc`` is to a reader now.

        ``"live"``, ``"expired"`` (past ``expires`` or ``absolute_lifetime``),
        ``"flagged"`` or ``"unreadable"`` (a date past year 9999: no session).
        """
        return inspection.state(doc, self.is_live(doc))

    def unseal(self, stored: Any, storage_id: str) -> Any:
        """A stored ``session`` payload as the codec reads it: decrypted, when it was sealed.

        Raises:
            DecryptionError: no key of the store opens ``stored``.
        """
        return self._rules.unseal(stored, storage_id)

    # -- reading ---------------------------------------------------------------

    async def document(self, storage_id: Any) -> dict[str, Any] | None:
        """The stored document under ``_id`` ``storage_id``, whatever its state, or None.

        For inspection: applications read sessions with :meth:`get`.
        """
        await self._prepare()
        with guarded(self._rules.timeout):
            return await self._collection.find_one({"_id": storage_id})

    async def count(self, query: Mapping[str, Any] | None = None) -> int:
        """How many documents match ``query`` (all of them by default), whatever their state.

        A query by ``user`` is read through the per-user index.
        """
        where = dict(query or {})
        await self._prepare()
        with guarded(self._rules.timeout):
            if names_user(where):
                return int(
                    await self._user_indexed(
                        lambda hint: self._collection.count_documents(where, **hint_option(hint))
                    )
                )
            return await self._collection.count_documents(where)

    async def flag_counts(self, query: Mapping[str, Any] | None = None) -> inspection.FlagCounts:
        """How many documents matching ``query`` are flagged as deleted, and how many are not."""
        flagged = await self.count(inspection.both(query, {"deleted": True}))
        unflagged = await self.count(inspection.both(query, {"deleted": {"$ne": True}}))
        return inspection.FlagCounts(flagged, unflagged)

    async def list_sessions(
        self, query: Mapping[str, Any] | None = None, *, after: Any = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        """One page of the documents ``query`` matches, in ``_id`` order, without their data.

        Each document has its dates, ``user`` and ``deleted`` fields, and its BSON
        size in ``size``. The next page starts ``after`` the last ``_id`` of this
        one: a range of the ``_id`` index, so each page costs the same however
        deep it is. Example::

            page = await store.list_sessions(store.live_filter(), limit=1000)
            while page:
                ...
                page = await store.list_sessions(
                    store.live_filter(), after=page[-1]["_id"], limit=1000
                )
        """
        if not isinstance(limit, int) or limit < 1:
            raise ValueError("limit must be a positive int")
        where = inspection.both(query, None if after is None else inspection.after_id(after))
        await self._prepare()
        with guarded(self._rules.timeout):
            return await self._summaries(where, {"$sort": {"_id": 1}}, {"$limit": limit})

    async def recent_sessions(
        self, query: Mapping[str, Any] | None = None, *, limit: int = 100
    ) -> list[dict[str, Any]]:
        """The ``limit`` documents ``query`` matches with the latest expiry, latest first.

        The most recently active sessions, as :meth:`list_sessions` shows them; an
        expiry shared by several goes by ``_id``, and no expiry comes last, as a
        descending sort on the server has them. Read backwards along the TTL index
        ``expires_1`` when it exists: about ``limit`` reads at any size.
        """
        if not isinstance(limit, int) or limit < 1:
            raise ValueError("limit must be a positive int")
        where = inspection.both(query)
        await self._prepare()
        with guarded(self._rules.timeout):
            # The first sort is the index's; the second orders the few read by _id too.
            by_id = {"$sort": {"expires": -1, "_id": 1}}
            docs = await self._summaries(
                where, {"$sort": {"expires": -1}}, {"$limit": limit}, by_id
            )
            if len(docs) < limit:
                return docs
            # The last expiry read may be shared beyond the limit: take its first ids.
            last = docs[-1].get("expires")
            kept = [doc for doc in docs if doc.get("expires") != last]
            tied = inspection.both(where, {"expires": last})
            return kept + await self._summaries(
                tied, {"$sort": {"_id": 1}}, {"$limit": limit - len(kept)}
            )

    async def _summaries(
        self, where: Mapping[str, Any], *stages: Mapping[str, Any]
    ) -> list[dict[str, Any]]:
        # The documents ``where`` matches, through ``stages``, without their data;
        # one user's through the per-user index (so a page costs their sessions).
        pipeline = [{"$match": where}, *stages, {"$project": inspection.SUMMARY_PROJECTION}]

        async def run(hint: Any) -> list[dict[str, Any]]:
            cursor = await self._collection.aggregate(pipeline, **hint_option(hint))
            docs: list[dict[str, Any]] = await cursor.to_list()
            return docs

        if names_user(where):
            return list(await self._user_indexed(run))
        return await run(None)

    async def session_stats(self, top: int = 10) -> inspection.SessionStats:
        """Counts by state, sizes, the users with most live sessions, and the indexes.

        Reads no whole collection when the store's indexes exist: the totals come
        from the collection's statistics, the counts from index ranges
        (:func:`.inspection.stats_queries`); only the count of sessions past
        ``absolute_lifetime`` (when the store has one), and of flagged sessions
        without :data:`.inspection.FLAGGED_INDEX`, scan. The indexes are recognised
        by their key and options, not their name (:func:`.inspection.index_status`).
        """
        now = _clock.now()
        indexes = await self._indexes()
        known = indexes or []
        ttl = inspection.index_status(known, EXPIRES_INDEX)
        per_user = inspection.index_status(known, USER_INDEX)
        hint = inspection.user_index_hint(known)
        queries = inspection.stats_queries(now, top, hint, self._rules.live_filter(now))
        documents, total_bytes = await self._storage_totals()
        expired = await self.count(queries["expired"])
        over_age = inspection.over_age_filter(now, self._rules.absolute_lifetime)
        if over_age is not None:
            expired += await self.count(over_age)
        flagged = await self.count(queries["flagged"])
        with guarded(self._rules.timeout):
            cursor = await self._collection.aggregate(**queries["users"])
            (users,) = await cursor.to_list()
        return inspection.SessionStats(
            namespace=self.namespace,
            live=documents - flagged - expired,
            expired=expired,
            flagged=flagged,
            documents=documents,
            average_size=round(total_bytes / documents) if documents else None,
            users=users["count"][0]["users"] if users["count"] else 0,
            top_users=[inspection.UserCount(u["_id"], u["sessions"]) for u in users["top"]],
            ttl_index=ttl.name,
            user_index=per_user.name,
            indexes_visible=indexes is not None,
            ttl_index_problem=ttl.problem,
            user_index_problem=per_user.problem,
        )

    async def namespace_check(self) -> inspection.NamespaceCheck:
        """Whether the store's database and collection exist, for a tool that found nothing.

        MongoDB reads a database or a collection that does not exist as an empty
        one, so a misspelt name counts no sessions. This lists the database's
        collections (those the user may see) and, when there are none, the
        server's databases. A list the user may not read leaves its answer None.
        Give the result to :func:`.inspection.namespace_hint` for advice.
        """
        database = self._collection.database
        unknown = inspection.NamespaceCheck(database.name, self.collection_name, None, None, [], [])
        await self._prepare()
        with guarded(self._rules.timeout):
            try:
                names = await database.list_collection_names(authorizedCollections=True)
            except OperationFailure as exc:
                if exc.code != ServerCode.UNAUTHORIZED:
                    raise
                return unknown
            collections = [name for name in names if not name.startswith("system.")]
            if self.collection_name in names:
                return unknown._replace(database_exists=True, collection_exists=True)
            if names:
                return unknown._replace(
                    database_exists=True, collection_exists=False, collections=collections
                )
            try:
                cursor = await database.client.list_databases(
                    nameOnly=True, authorizedDatabases=True
                )
                databases = [str(info["name"]) for info in await cursor.to_list()]
            except OperationFailure as exc:
                if exc.code != ServerCode.UNAUTHORIZED:
                    raise
                return unknown._replace(collection_exists=False)
        # A database exists while it holds a collection: none is listed for it.
        others = [name for name in databases if name not in ("admin", "config", "local")]
        return unknown._replace(
            database_exists=database.name in databases,
            collection_exists=False,
            databases=others,
        )

    async def _indexes(self) -> list[MutableMapping[str, Any]] | None:
        # The collection's indexes; None when the user may not list them.
        await self._prepare()
        with guarded(self._rules.timeout):
            try:
                return await (await self._collection.list_indexes()).to_list()
            except OperationFailure as exc:
                if exc.code != ServerCode.UNAUTHORIZED:
                    raise
                return None

    async def _storage_totals(self) -> tuple[int, int]:
        # The number of documents and their total BSON size. $collStats reads the
        # counters the storage engine keeps (one document per shard on a sharded
        # cluster); a user without the collStats action gets them from a scan.
        with guarded(self._rules.timeout):
            try:
                cursor = await self._collection.aggregate([{"$collStats": {"storageStats": {}}}])
                shards = [shard["storageStats"] for shard in await cursor.to_list()]
                return sum(int(s["count"]) for s in shards), sum(int(s["size"]) for s in shards)
            except OperationFailure as exc:
                if exc.code == _NAMESPACE_NOT_FOUND:
                    return 0, 0
                if exc.code != ServerCode.UNAUTHORIZED:
                    raise
            total = {"_id": None, "n": {"$sum": 1}, "bytes": {"$sum": {"$bsonSize": "$$ROOT"}}}
            cursor = await self._collection.aggregate([{"$group": total}])
            totals = await cursor.to_list()
        return (totals[0]["n"], totals[0]["bytes"]) if totals else (0, 0)

    # -- revoking and cleaning up ----------------------------------------------

    async def flag_documents(self, query: Mapping[str, Any] | None = None) -> int:
        """Flag the documents ``query`` matches as deleted; return how many were not flagged yet.

        Reads treat a flagged session as gone and no write brings it back;
        :meth:`cleanup` (or its expiry) removes it. In batches, as
        :meth:`delete_batches` deletes; with w=0, how many were sent.
        """
        batches = self._delete_batches(
            inspection.both(query, {"deleted": {"$ne": True}}),
            hint=USER_HINT if names_user(query) else None,
            update=self._rules.flag_update(_clock.now()),
        )
        return await self._total(batches)

    def delete_batches(
        self, query: Mapping[str, Any], *, batch_size: int = 10_000
    ) -> AsyncIterator[int]:
        """Delete the documents ``query`` matches, ``batch_size`` at a time.

        Yields how many are deleted so far after each batch. One scan reads the
        matching ids; each batch is deleted with ``query`` applied again, so a
        session touched (its expiry moved) or flagged since the scan read it is
        judged on its current state. No single command holds millions of
        documents, and each batch has the store's ``timeout``. Example::

            async for deleted in store.delete_batches(store.cleanup_filter()):
                print(deleted)

        A query by ``user`` is read through the per-user index.
        """
        hint = USER_HINT if names_user(query) else None
        return self._delete_batches(query, batch_size=batch_size, hint=hint)

    async def setup_indexes(self, *, flagged_index: bool = False) -> inspection.IndexSetup:
        """Create the indexes :meth:`ensure_indexes` does; say which were made, which were there.

        ``present`` names each index found as it is called on the server: an index
        with the wanted key and options counts whatever its name. With ``flagged_index``, also :data:`.inspection.FLAGGED_INDEX`, which the
        store never needs but which finds flagged sessions without a scan.

        Raises:
            IndexConflict: an index with one of these names or keys has other options.
            IndexPermissionError: the user may not create indexes.
        """
        wanted = self._index_specs() + ([inspection.FLAGGED_INDEX] if flagged_index else [])
        created = await self._create_missing(wanted)
        kept = [spec for spec in wanted if spec["name"] not in created]
        existing = (await self._indexes() or []) if kept else []
        # An identical index is accepted under any name: say which one it is.
        present = [inspection.index_status(existing, spec).name or spec["name"] for spec in kept]
        return inspection.IndexSetup(created, present)

    async def enable_pre_images(self) -> None:
        """Turn on the collection's change-stream pre-images: :meth:`watch` then tells expiry from destroy.

        Needs the ``collMod`` privilege and MongoDB 6.0.
        """
        with guarded(self._rules.timeout):
            await self._collection.database.command(
                "collMod", self.collection_name, changeStreamPreAndPostImages={"enabled": True}
            )
