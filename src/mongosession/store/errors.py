"""Database errors mapped to the library's, and the time each operation may take."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import pymongo
from pymongo.errors import ConnectionFailure, OperationFailure, PyMongoError, WTimeoutError

from mongosession._errors import (
    SessionEncodingError,
    StoreUnavailable,
)

# Server error codes meaning "not now" rather than "no": shutdown, stepdown,
# network trouble, time limits. They become StoreUnavailable, never "not found".
_TRANSIENT_CODES = frozenset({6, 7, 50, 89, 91, 189, 262, 9001, 10107, 11600, 11602, 13435, 13436})


class RequestBudget:
    """One request's time for all of its session work, however many operations it makes.

    The adapters make one per request (``request_timeout``, the store's
    ``timeout`` by default) and run each store call inside :meth:`charged`:
    every operation is then bounded by what is left, and the time it took is
    taken off. Time the handler spends on its own work is not counted; an
    operation begun with nothing left fails closed at once.
    """

    __slots__ = ("left", "total")

    def __init__(self, seconds: float | None) -> None:
        self.total = seconds
        self.left = seconds

    @contextmanager
    def charged(self) -> Iterator[None]:
        """Make :func:`guarded` operations inside draw on this budget."""
        token = _BUDGET.set(self)
        try:
            yield
        finally:
            _BUDGET.reset(token)


_BUDGET: ContextVar[RequestBudget | None] = ContextVar("mongosession_budget", default=None)

#: MongoDB's "Overflow" error: a document nested deeper than the server allows.
_NESTED_TOO_DEEP = 15


@contextmanager
def guarded(timeout: float | None) -> Iterator[None]:
    """Bound an operation by ``timeout`` and fail closed on database trouble.

    Inside a request (:meth:`RequestBudget.charged`) the bound is also what is
    left of the request's budget. Both stores bound the driver with
    ``pymongo.timeout``, whoever made the client: within that budget PyMongo
    retries a retryable operation as often as it can (a connection reset, a
    pool paused after one, a stepdown), with one transaction number, so a write
    still applies once. docs/reliability.md shows why ``asyncio.timeout`` is not
    used instead (PyMongo then retries only once).
    """
    budget = _BUDGET.get()
    started = 0.0
    if budget is not None and budget.left is not None:
        if budget.left <= 0:
            raise StoreUnavailable(
                f"the request's time for session work ({budget.total}s) is spent"
            )
        timeout = budget.left if timeout is None else min(timeout, budget.left)
        started = time.monotonic()
    try:
        with pymongo.timeout(timeout):
            yield
    except (ConnectionFailure, WTimeoutError) as exc:
        raise StoreUnavailable(f"database unavailable: {exc}") from exc
    except OperationFailure as exc:
        if exc.code in _TRANSIENT_CODES or exc.timeout:
            raise StoreUnavailable(f"database unavailable: {exc}") from exc
        if exc.code == _NESTED_TOO_DEEP:
            raise SessionEncodingError(f"session is nested too deeply for MongoDB: {exc}") from None
        raise
    except PyMongoError as exc:
        if exc.timeout:
            raise StoreUnavailable(f"database timed out: {exc}") from exc
        raise
    finally:
        if started and budget is not None and budget.left is not None:
            budget.left -= time.monotonic() - started
