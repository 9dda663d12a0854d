"""The near cache's memory, with no I/O: recently read documents, and when they may be served.

The change-stream follower that keeps it coherent is
``store/asynchronous/cache.py`` (and its generated blocking twin); this module is
shared by both, like :mod:`~mongosession.store.sweeper`, and holds the one place
where they need different primitives: an asyncio task or a daemon thread.

The rules (docs/near-cache.md):

- An entry is served only while the follower has vouched, less than
  ``max_staleness`` seconds ago, that every change committed before some instant
  has been applied (:meth:`SessionCache.fresh`); otherwise every read goes to
  the database.
- A read that missed and went to the database takes a :class:`Fill` *before*
  its query; an invalidation of that id (or a reset) while the query is in
  flight spoils the fill, so a document an invalidation overtook is never
  inserted.
- Entries hold the stored document as BSON bytes: each hit decodes a new dict,
  which the caller may change freely.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import Any

import bson

from mongosession._errors import ConfigurationError, ConfigurationTypeError
from mongosession._log import log
from mongosession.store.documents import CODEC_OPTIONS

#: ``max_staleness`` by default, in seconds.
DEFAULT_MAX_STALENESS = 0.5
#: ``max_entries`` by default.
DEFAULT_MAX_ENTRIES = 10_000


@dataclass(frozen=True)
class NearCache:
    """Options of the near cache (``near_cache=NearCache(...)``; ``True`` takes these defaults).

    ``max_entries`` bounds the sessions kept (least recently used first out).
    ``max_staleness`` (seconds) bounds how old the cache's knowledge may be: an
    entry is served only while the change stream confirmed, less than this long
    ago, that it had delivered every change committed before then. It is the
    longest a revoke, logout or write in another process can go unseen here,
    and how soon the cache stops serving when its stream stalls or drops.
    """

    max_entries: int = DEFAULT_MAX_ENTRIES
    max_staleness: float = DEFAULT_MAX_STALENESS

    def __post_init__(self) -> None:
        entries = self.max_entries
        if not isinstance(entries, int) or isinstance(entries, bool) or entries < 1:
            raise ConfigurationError("NearCache.max_entries must be a positive int")
        staleness = self.max_staleness
        if (
            not isinstance(staleness, (int, float))
            or isinstance(staleness, bool)
            or not math.isfinite(staleness)
            or not 0.02 <= staleness <= 60
        ):
            raise ConfigurationError(
                "NearCache.max_staleness must be a number of seconds from 0.02 to 60"
            )


def near_cache_option(value: Any) -> NearCache | None:
    """The store's ``near_cache`` argument, checked: None when off."""
    if value is None or value is False:
        return None
    if value is True:
        return NearCache()
    if isinstance(value, NearCache):
        return value
    raise ConfigurationTypeError("near_cache must be a bool or a NearCache")


@dataclass(frozen=True)
class NearCacheStats:
    """What a store's near cache did since it started (:meth:`near_cache_stats`).

    ``serving`` is whether it may answer reads now; ``entries`` how many
    sessions it holds; ``hits`` reads it answered with no database command;
    ``misses`` reads that went to the database (not cached, or not serving);
    ``invalidations`` entries dropped for a change (here or anywhere);
    ``resets`` times it was emptied (a new stream, a dropped collection).
    """

    serving: bool
    entries: int
    hits: int
    misses: int
    invalidations: int
    resets: int


class Fill:
    """A read of one id that missed: it may insert what it read unless spoiled meanwhile."""

    __slots__ = ("key", "spoiled")

    def __init__(self, key: str) -> None:
        self.key = key
        self.spoiled = False


#: Every cache of this process, for the fork handler.
_CACHES: weakref.WeakSet[SessionCache] = weakref.WeakSet()


class SessionCache:
    """Stored documents by ``_id``, LRU-bounded, served only while known fresh."""

    def __init__(self, options: NearCache) -> None:
        self.max_entries = options.max_entries
        self.max_staleness = options.max_staleness
        self._lock = threading.Lock()
        self._entries: OrderedDict[str, bytes] = OrderedDict()
        self._pending: dict[str, list[Fill]] = {}
        #: Monotonic time before which every change is known applied; -inf: none.
        self.fresh_at = -math.inf
        self.hits = self.misses = self.invalidations = self.resets = 0
        _CACHES.add(self)

    # -- reads -------------------------------------------------------------------------

    @property
    def serving(self) -> bool:
        """Whether entries may be served now (the stream vouched recently enough)."""
        return time.monotonic() - self.fresh_at < self.max_staleness

    def lookup(self, key: str) -> dict[str, Any] | None:
        """A new copy of the document of ``key``, or None (not held, or not serving)."""
        if time.monotonic() - self.fresh_at < self.max_staleness:
            with self._lock:
                raw = self._entries.get(key)
                if raw is not None:
                    self._entries.move_to_end(key)
                    self.hits += 1
                    return bson.decode(raw, CODEC_OPTIONS)
        self.misses += 1
        return None

    def begin(self, key: str) -> Fill:
        """Register a read of ``key`` from the database, before it is sent."""
        fill = Fill(key)
        with self._lock:
            self._pending.setdefault(key, []).append(fill)
        return fill

    def finish(self, fill: Fill, doc: Mapping[str, Any] | None) -> None:
        """End a read begun by :meth:`begin`: keep ``doc`` unless the read was overtaken.

        Always call it, with None when the read failed: it unregisters the fill.
        """
        raw = None if doc is None or fill.spoiled else bson.encode(doc)
        with self._lock:
            fills = self._pending.get(fill.key)
            if fills is not None:
                fills.remove(fill)
                if not fills:
                    del self._pending[fill.key]
            if raw is None or fill.spoiled:
                return
            self._entries[fill.key] = raw
            self._entries.move_to_end(fill.key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    # -- invalidation ------------------------------------------------------------------

    def drop(self, key: str) -> None:
        """Forget ``key``, and spoil every read of it in flight."""
        with self._lock:
            self._entries.pop(key, None)
            for fill in self._pending.get(key, ()):
                fill.spoiled = True
            self.invalidations += 1

    def drop_all(self) -> None:
        """Forget everything, and spoil every read in flight."""
        with self._lock:
            self._entries.clear()
            for fills in self._pending.values():
                for fill in fills:
                    fill.spoiled = True
            self.resets += 1

    def fresh(self, at: float) -> None:
        """Every change committed before monotonic time ``at`` has been applied."""
        if at > self.fresh_at:
            self.fresh_at = at

    def stale(self) -> None:
        """Stop serving now, until :meth:`fresh` is called again."""
        self.fresh_at = -math.inf

    def stats(self) -> NearCacheStats:
        """The counters and state, for :meth:`near_cache_stats`."""
        return NearCacheStats(
            serving=self.serving,
            entries=len(self._entries),
            hits=self.hits,
            misses=self.misses,
            invalidations=self.invalidations,
            resets=self.resets,
        )

    def _after_fork(self) -> None:
        # A child starts with nothing: the parent's lock may have been held, and
        # its follower (a thread or a task) did not come along.
        self._lock = threading.Lock()
        self._entries = OrderedDict()
        self._pending = {}
        self.fresh_at = -math.inf


def _reset_after_fork() -> None:
    for cache in list(_CACHES):
        cache._after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)


# -- the follower's background: an asyncio task or a daemon thread --------------------


class AsyncBackground:
    """Run one coroutine function as an asyncio task; stop by cancelling it."""

    #: Never set: a task is stopped by cancellation.
    stopping = False

    def __init__(self, name: str) -> None:
        self._name = name
        self._task: asyncio.Task[None] | None = None

    @property
    def alive(self) -> bool:
        """Whether the task runs."""
        return self._task is not None and not self._task.done()

    def start(self, target: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Start ``target()`` on the running event loop."""
        self._task = asyncio.get_running_loop().create_task(target(), name=self._name)

    async def pause(self, seconds: float) -> None:
        """Wait ``seconds`` (cancellation ends it)."""
        await asyncio.sleep(seconds)

    async def stop(self) -> None:
        """Cancel the task and wait for it to end."""
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


class ThreadBackground:
    """Run one function in a daemon thread; stop by setting a flag it checks."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def alive(self) -> bool:
        """Whether the thread runs (never, in a child after ``fork``)."""
        return self._thread is not None and self._thread.is_alive()

    @property
    def stopping(self) -> bool:
        """Whether :meth:`stop` was called: the function should return soon."""
        return self._stop.is_set()

    def start(self, target: Callable[[], object]) -> None:
        """Start ``target()`` in a new daemon thread."""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._guard(target), name=self._name, daemon=True)
        self._thread.start()

    @staticmethod
    def _guard(target: Callable[[], object]) -> Callable[[], None]:
        def run() -> None:
            try:
                target()
            except Exception:  # the follower logs its own; this is a last resort
                log.exception("the near cache's follower stopped")

        return run

    def pause(self, seconds: float) -> None:
        """Wait ``seconds``, or less when stopped."""
        self._stop.wait(seconds)

    def stop(self) -> None:
        """Ask the thread to end and wait for it (at most one wait on the database)."""
        thread, self._thread = self._thread, None
        self._stop.set()
        if thread is not None and thread is not threading.current_thread():
            thread.join()
