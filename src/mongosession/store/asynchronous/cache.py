"""The near cache's follower: keeps a :class:`SessionCache` coherent from a change stream.

This file is a source: its blocking twin under ``store/synchronous/`` is generated
by ``tools/unasync.py`` (an asyncio task here, a daemon thread there); edit here
and run ``python tools/unasync.py``.

Every change to the sessions collection (insert, update, replace, delete: writes,
touches, logouts, revokes, flags, TTL expiries, from any process) drops the
changed ``_id`` from the cache. The follower also tells the cache how fresh it
is (:meth:`SessionCache.fresh`), from two proofs that every change committed
before an instant has been applied:

- an empty batch: the cursor's ``try_next`` returned nothing, so the one
  ``getMore`` it sent, after the instant it started, found no change left to
  deliver. The stream is a plain aggregate cursor, not PyMongo's
  ``ChangeStream``: that one resumes by itself inside ``try_next`` and may then
  return the new cursor's empty first batch, which proves nothing;
- a probe, when changes keep coming (an empty batch may then never come): a
  ``ping`` sent at an instant answers with the server's ``operationTime``; once
  a change with a later ``clusterTime`` is applied, every change before it was.

A stream that fails stops the cache serving at once; it is resumed after the
last change applied (the changes since are replayed, so entries stay), or, when
that history is gone, no change was seen yet, or the stream was invalidated,
opened afresh and the cache emptied. See docs/near-cache.md.
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import TYPE_CHECKING, Any

from pymongo.errors import OperationFailure

from mongosession._errors import ChangeStreamsUnsupported, StoreUnavailable
from mongosession._log import log
from mongosession.store.errors import TRANSIENT_CODES, RequestBudget, ServerCode, guarded
from mongosession.store.nearcache import AsyncBackground, SessionCache

if TYPE_CHECKING:
    from bson import Timestamp
    from pymongo.asynchronous.collection import AsyncCollection
    from pymongo.asynchronous.command_cursor import AsyncCommandCursor

#: Only what invalidation needs: never the document, nor the update.
PIPELINE = [{"$project": {"operationType": 1, "documentKey": 1, "clusterTime": 1}}]
#: Changes that concern one document, by ``documentKey._id``.
DOCUMENT_CHANGES = frozenset({"insert", "update", "replace", "delete"})
#: The longest pause between two attempts to reopen a failed stream, in seconds.
MAX_BACKOFF = 1.0


class AsyncCacheFollower:
    """Follows the sessions collection's changes into ``cache`` (an asyncio task)."""

    def __init__(
        self, collection: AsyncCollection[Any], cache: SessionCache, *, timeout: float | None
    ) -> None:
        self.cache = cache
        self._collection = collection
        self._timeout = timeout
        # A quarter of the bound: an idle stream vouches about four times per bound.
        self._max_await_ms = max(int(cache.max_staleness * 250), 1)
        self._probe_after = cache.max_staleness / 4
        self._stream: AsyncCommandCursor[Any] | None = None
        self._token: Any = None
        self._pid: int | None = None
        self._runner = AsyncBackground("mongosession-near-cache")
        self._lock = asyncio.Lock()

    @property
    def running(self) -> bool:
        """Whether the follower runs in this process (not after a ``fork``)."""
        return self._pid == os.getpid() and self._runner.alive

    async def start(self) -> None:
        """Open the change stream and follow it in the background (idempotent).

        Raises:
            ChangeStreamsUnsupported: the server is a standalone ``mongod``.
            StoreUnavailable: the database did not answer in time.
        """
        if self.running:
            return
        async with self._lock:
            if self.running:
                return
            if self._pid != os.getpid():  # a child after fork: the parent's stream is not ours
                self._stream, self._token = None, None
            if self._stream is None:
                self._stream = await self._open()
            self._pid = os.getpid()
            self._runner.start(self._run)

    async def stop(self) -> None:
        """Stop following; the cache serves no more."""
        self.cache.stale()
        await self._runner.stop()
        await self._close_stream()
        self._pid = None

    async def _open(self) -> AsyncCommandCursor[Any]:
        # Resume after the last token when there is one (the changes since are
        # replayed: entries stay valid); else start now, and empty the cache,
        # since what changed before now will never be reported.
        def pipeline() -> list[dict[str, Any]]:
            after = {} if self._token is None else {"startAfter": self._token}
            return [{"$changeStream": after}, *PIPELINE]

        with guarded(self._timeout):
            try:
                stream = await self._collection.aggregate(
                    pipeline(), maxAwaitTimeMS=self._max_await_ms
                )
            except OperationFailure as exc:
                if exc.code == ServerCode.CHANGE_STREAMS_NEED_A_REPLICA_SET:
                    raise ChangeStreamsUnsupported(
                        "near_cache needs change streams: a replica set or a sharded "
                        "cluster; this server is a standalone mongod (a single-node "
                        "replica set will do: start mongod with --replSet and run "
                        "rs.initiate()), or turn near_cache off"
                    ) from exc
                if self._token is None or exc.code in TRANSIENT_CODES or exc.timeout:
                    raise
                log.warning("near cache: cannot resume its change stream (%s); emptied", exc)
                self._token = None
                stream = await self._collection.aggregate(
                    pipeline(), maxAwaitTimeMS=self._max_await_ms
                )
        if self._token is None:
            self.cache.drop_all()
        return stream

    async def _close_stream(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None:
            try:
                with guarded(self._timeout):
                    await stream.close()
            except Exception:  # closing is best effort: the server times the cursor out
                log.debug("near cache: closing the change stream failed", exc_info=True)

    async def _run(self) -> None:
        # Outside any request's budget, whatever context started the task.
        with RequestBudget(None).charged():
            failures = 0
            try:
                while not self._runner.stopping:
                    try:
                        if self._stream is None:
                            self._stream = await self._open()
                        await self._follow(self._stream)
                        failures = 0
                    except Exception as exc:
                        self.cache.stale()
                        if not isinstance(exc, StoreUnavailable):
                            self._token = None  # not a passing outage: start afresh
                        failures += 1
                        log.warning("near cache: change stream failed (%s); not serving", exc)
                        await self._close_stream()
                        await self._runner.pause(min(0.05 * 2**failures, MAX_BACKOFF))
            finally:
                self.cache.stale()
                await self._close_stream()

    async def _follow(self, stream: AsyncCommandCursor[Any]) -> None:
        # Apply changes until the stream ends (invalidated) or fails (raises).
        cache = self.cache
        probe: tuple[float, Timestamp] | None = None
        while not self._runner.stopping:
            started = time.monotonic()
            with guarded(self._timeout):
                change = await stream.try_next()
            if change is None:
                if not stream.alive:  # invalidated (collection dropped, renamed)
                    cache.stale()
                    cache.drop_all()
                    self._token = None
                    await self._close_stream()
                    return
                cache.fresh(started)  # the getMore found nothing left
                probe = None
            else:
                at = self._apply(change)
                if probe is not None and at is not None and at > probe[1]:
                    cache.fresh(probe[0])
                    probe = None
            if probe is None and time.monotonic() - cache.fresh_at > self._probe_after:
                probe = await self._probe()

    def _apply(self, change: Any) -> Timestamp | None:
        # Invalidate what ``change`` touched; return its clusterTime. Its _id
        # resumes a stream after it.
        self._token = change.get("_id")
        key = change.get("documentKey")
        if change.get("operationType") in DOCUMENT_CHANGES and isinstance(key, dict):
            self.cache.drop(str(key.get("_id")))
        else:  # invalidate, drop, rename, or anything unknown: trust nothing
            self.cache.drop_all()
        at: Timestamp | None = change.get("clusterTime")
        return at

    async def _probe(self) -> tuple[float, Timestamp] | None:
        # (when it was sent, the server's operationTime): every change up to that
        # time was committed before the instant.
        started = time.monotonic()
        with guarded(self._timeout):
            reply = await self._collection.database.command("ping")
        at = reply.get("operationTime")
        return None if at is None else (started, at)
