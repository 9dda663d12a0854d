"""Session events over a change stream.

This file is the source: ``store/synchronous/watch.py`` is generated from it by
``tools/unasync.py``; edit here and run ``python tools/unasync.py``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pymongo.errors import OperationFailure

from mongosession._errors import ChangeStreamsUnsupported, ConfigurationError
from mongosession.store.errors import ServerCode, guarded
from mongosession.store.events import SessionEvent, ends_stream, event_from_change, watch_pipeline

if TYPE_CHECKING:
    from pymongo.asynchronous.change_stream import AsyncChangeStream
    from pymongo.asynchronous.collection import AsyncCollection


class AsyncSessionEvents:
    """An open change stream on the sessions collection, yielding :class:`SessionEvent`.

    Made by :meth:`AsyncMongoStore.watch`. The stream opens on ``async with``
    (or on the first event asked for) and closes on leaving the block, on
    :meth:`close`, or when the collection is dropped or renamed, which also
    ends the iteration. Example::

        async with store.watch() as events:
            async for event in events:
                print(event.kind, event.sid)
    """

    def __init__(
        self,
        collection: AsyncCollection[Any],
        *,
        timeout: float | None,
        pre_images: bool,
        resume_after: Mapping[str, Any] | None,
        max_await: float,
    ) -> None:
        if not isinstance(max_await, (int, float)) or max_await <= 0:
            raise ConfigurationError("max_await must be a positive number of seconds")
        if timeout is not None and max_await >= timeout:
            raise ConfigurationError(
                f"max_await ({max_await}s) must be shorter than the store's timeout"
            )
        self._collection = collection
        self._timeout = timeout
        self._pre_images = pre_images
        self._resume_after = resume_after
        self._max_await_ms = int(max_await * 1000)
        self._stream: AsyncChangeStream[Any] | None = None
        self._ended = False

    async def _open(self) -> AsyncChangeStream[Any]:
        if self._stream is not None:
            return self._stream
        if self._ended:
            raise RuntimeError("this event stream is closed; call store.watch() again")
        options: dict[str, Any] = {"max_await_time_ms": self._max_await_ms}
        if self._pre_images:
            options["full_document_before_change"] = "whenAvailable"
        if self._resume_after is not None:
            # startAfter, unlike resumeAfter, also resumes after an invalidate.
            options["start_after"] = self._resume_after
        with guarded(self._timeout):
            try:
                self._stream = await self._collection.watch(watch_pipeline(), **options)
            except OperationFailure as exc:
                if exc.code == ServerCode.CHANGE_STREAMS_NEED_A_REPLICA_SET:
                    raise ChangeStreamsUnsupported(
                        "change streams need a replica set or a sharded cluster; this "
                        "server is a standalone mongod (a single-node replica set will do: "
                        "start mongod with --replSet and run rs.initiate())"
                    ) from exc
                raise
        return self._stream

    async def open(self) -> AsyncSessionEvents:
        """Start following changes now; events from here on are reported.

        Raises:
            ChangeStreamsUnsupported: the server is a standalone ``mongod``.
            StoreUnavailable: the database did not answer in time.
        """
        await self._open()
        return self

    async def __aenter__(self) -> AsyncSessionEvents:
        return await self.open()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def __aiter__(self) -> AsyncSessionEvents:
        return self

    async def __anext__(self) -> SessionEvent:
        while True:
            event = await self.try_next()
            if event is not None:
                return event
            if self._ended:
                raise StopAsyncIteration

    async def try_next(self) -> SessionEvent | None:
        """Return the next event, or None when none came within ``max_await``."""
        if self._ended and self._stream is None:
            return None
        stream = await self._open()
        while True:
            with guarded(self._timeout):
                change = await stream.try_next()
            if change is None:
                if not stream.alive:
                    await self.close()
                return None
            if ends_stream(change):
                await self.close()
                return None
            event = event_from_change(change)
            if event is not None:
                return event

    @property
    def resume_token(self) -> Mapping[str, Any] | None:
        """Where this stream stands; pass it as ``watch(resume_after=...)`` to go on later."""
        if self._stream is None:
            return self._resume_after
        return self._stream.resume_token

    @property
    def closed(self) -> bool:
        """True once the stream was closed or ended by a drop or rename."""
        return self._ended

    async def close(self) -> None:
        """Close the change stream (idempotent)."""
        self._ended = True
        stream, self._stream = self._stream, None
        if stream is not None:
            if stream.resume_token is not None:
                self._resume_after = stream.resume_token
            await stream.close()
