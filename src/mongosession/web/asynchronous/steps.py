"""Carry out a program of store calls: one implementation for a sync method and its async twin.

This file is the source: ``web/synchronous/steps.py`` is generated from it by
``tools/unasync.py``. An adapter whose framework has both a blocking and an
``a*`` method for one operation (Django's ``SessionBase``) writes the operation
once, as a generator of typed store calls (:mod:`mongosession.web.calls`); this
runs it against a store, sending each call's result back (or throwing the
store's error in).
"""

from __future__ import annotations

from typing import Any

from mongosession._errors import MongoSessionError
from mongosession.store.asynchronous.store import AsyncMongoStore
from mongosession.web.calls import (
    Create,
    Destroy,
    Get,
    Regenerate,
    Save,
    Steps,
    StoreCall,
    T,
    Touch,
)

__all__ = ["Steps", "T", "perform", "run_steps"]


async def perform(call: StoreCall[Any], store: AsyncMongoStore) -> Any:
    """Carry out one store call against ``store``; its result."""
    match call:
        case Get(sid):
            return await store.get(sid)
        case Create(sid, session):
            return await store.create(sid, session)
        case Save(sid, session):
            return await store.save(sid, session)
        case Touch(sid, session):
            return await store.touch(sid, session)
        case Destroy(sid):
            return await store.destroy(sid)
        case Regenerate(old_sid, new_sid, session):
            return await store.regenerate(old_sid, new_sid, session)
    raise TypeError(f"not a store call: {call!r} (yield from one of mongosession.web.calls)")


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
            result = await perform(call, store)
        except MongoSessionError as exc:
            error = exc
