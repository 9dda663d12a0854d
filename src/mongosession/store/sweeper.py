"""Background repetition for ``auto_remove="interval"``.

The one place where the async and sync stores need different primitives: an
asyncio task for :class:`AsyncMongoStore`, a daemon thread for the generated
:class:`MongoStore` (``tools/unasync.py`` maps one name to the other).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Awaitable, Callable

from mongosession._log import log


class AsyncTicker:
    """Run ``job`` every ``interval`` seconds in an asyncio task until stopped."""

    def __init__(self, interval: float, job: Callable[[], Awaitable[object]]) -> None:
        self._interval = interval
        self._job = job
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start on the running event loop (idempotent)."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self._job()
            except Exception:  # a failed sweep must not end the ticker
                log.exception("periodic removal of expired sessions failed")

    async def stop(self) -> None:
        """Cancel the task and wait for it to end."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


class ThreadTicker:
    """Run ``job`` every ``interval`` seconds in a daemon thread until stopped."""

    def __init__(self, interval: float, job: Callable[[], object]) -> None:
        self._interval = interval
        self._job = job
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the thread (idempotent)."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._run, name="mongosession-sweeper", daemon=True
            )
            self._thread.start()

    def _run(self) -> None:
        while not self._stopped.wait(self._interval):
            try:
                self._job()
            except Exception:  # a failed sweep must not end the ticker
                log.exception("periodic removal of expired sessions failed")

    def stop(self) -> None:
        """Signal the thread and wait for it to end."""
        thread, self._thread = self._thread, None
        self._stopped.set()
        if thread is not None:
            thread.join()
