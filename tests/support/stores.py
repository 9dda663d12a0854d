"""Run one behaviour suite against both stores.

Tests are written against a blocking API. For :class:`AsyncMongoStore` each
coroutine method is driven to completion on an event loop owned by the test,
so the async code path runs for real against the server.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from pymongo import AsyncMongoClient, MongoClient

from mongosession import AsyncMongoStore, MongoStore
from mongosession.web.asynchronous.steps import Steps
from mongosession.web.asynchronous.steps import run_steps as run_async
from mongosession.web.synchronous.steps import run_steps as run_sync

Program = Steps[Any]


class Blocking:
    """A blocking view of an async store: ``view.get(sid)`` runs ``await store.get(sid)``."""

    def __init__(self, store: AsyncMongoStore, loop: asyncio.AbstractEventLoop) -> None:
        self.store = store
        self._loop = loop

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.store, name)
        if inspect.iscoroutinefunction(attr):
            return lambda *a, **k: self._loop.run_until_complete(attr(*a, **k))
        return attr


class StoreKit:
    """Makes stores of one flavour ("sync" or "async") and closes them after the test."""

    def __init__(self, flavour: str, uri: str, db_name: str) -> None:
        self.flavour = flavour
        self.uri = uri
        self.db_name = db_name
        self.loop = asyncio.new_event_loop() if flavour == "async" else None
        self._closers: list[Callable[[], Any]] = []

    def client(self, uri: str | None = None, **options: Any) -> Any:
        """A client of this flavour (the test owns it; closed at teardown)."""
        uri = uri or self.uri
        if self.loop is not None:
            aclient: AsyncMongoClient[Any] = AsyncMongoClient(uri, **options)
            self._closers.append(lambda: self.run(aclient.close()))
            return aclient
        client: MongoClient[Any] = MongoClient(uri, **options)
        self._closers.append(client.close)
        return client

    def store(self, **options: Any) -> Any:
        """A store of this flavour on this test's database; blocking API either way."""
        if "client" not in options and "uri" not in options:
            options["uri"] = self.uri
        if self.loop is not None:
            view = Blocking(AsyncMongoStore(**options), self.loop)
            self._closers.append(view.close)
            self._raw_async = view.store
            return view
        store = MongoStore(**options)
        self._closers.append(store.close)
        self._raw_sync = store
        return store

    def run(self, coro: Any) -> Any:
        assert self.loop is not None
        return self.loop.run_until_complete(coro)

    def concurrently(self, programs: list[Steps[Any]]) -> list[Any]:
        """Run store programs at the same time: threads for the sync store, tasks for async.

        A program is a generator that yields ``(method, *args)`` and receives the
        result (or has the store's error thrown into it), run by the library's own
        ``run_steps`` (the Django adapter's driver); its return value is collected.
        """
        if self.loop is not None:
            store = self._raw_async

            async def gather() -> list[Any]:
                return list(await asyncio.gather(*(run_async(p, store) for p in programs)))

            return self.run(gather())
        with ThreadPoolExecutor(len(programs)) as pool:
            futures = [pool.submit(run_sync, p, self._raw_sync) for p in programs]
            return [f.result() for f in futures]

    def close(self) -> None:
        for closer in reversed(self._closers):
            closer()
        if self.loop is not None:
            self.loop.close()
