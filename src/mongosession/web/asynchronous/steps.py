"""Carry out a generator of store calls: one implementation for a sync method and its async twin.

This file is the source: ``web/synchronous/steps.py`` is generated from it by
``tools/unasync.py``. An adapter whose framework has both a blocking and an
``a*`` method for one operation (Django's ``SessionBase``) writes the operation
once, as a generator that yields ``("method", *arguments)`` and receives the
result (or has the store's error thrown into it); this runs it against a store.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any, TypeVar

from mongosession._errors import MongoSessionError
from mongosession.store.asynchronous.store import AsyncMongoStore

T = TypeVar("T")

#: A program of store calls returning T.
Steps = Generator[tuple[Any, ...], Any, T]


async def run_steps(steps: Steps[T], store: AsyncMongoStore) -> T:
    """Run ``steps`` against ``store``; the store's errors go back into the generator."""
    result: Any = None
    error: MongoSessionError | None = None
    while True:
        try:
            call = steps.throw(error) if error is not None else steps.send(result)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]
        result, error = None, None
        try:
            result = await getattr(store, call[0])(*call[1:])
        except MongoSessionError as exc:
            error = exc
