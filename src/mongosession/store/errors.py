"""Database errors mapped to the library's, and the time each operation may take."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from enum import IntEnum

import pymongo
from pymongo.errors import ConnectionFailure, OperationFailure, PyMongoError, WTimeoutError

from mongosession._errors import (
    SessionEncodingError,
    StoreUnavailable,
)


class ServerCode(IntEnum):
    """The MongoDB server error codes the store reacts to, by the server's own names.

    ``OperationFailure.code`` compares equal to these (an ``IntEnum``). The names
    are those of the server's ``error_codes.yml``; PyMongo reacts to the same
    "not primary" and "shutting down" codes (``pymongo/helpers_shared.py``).
    """

    HOST_UNREACHABLE = 6
    HOST_NOT_FOUND = 7
    #: The database user may not run the command (index creation, say).
    UNAUTHORIZED = 13
    #: A document nested deeper than the server allows.
    OVERFLOW = 15
    MAX_TIME_MS_EXPIRED = 50
    #: An index of that name exists with other options.
    INDEX_OPTIONS_CONFLICT = 85
    #: An index of that name exists on other keys.
    INDEX_KEY_SPECS_CONFLICT = 86
    NETWORK_TIMEOUT = 89
    SHUTDOWN_IN_PROGRESS = 91
    PRIMARY_STEPPED_DOWN = 189
    EXCEEDED_TIME_LIMIT = 262
    SOCKET_EXCEPTION = 9001
    NOT_WRITABLE_PRIMARY = 10107
    INTERRUPTED_AT_SHUTDOWN = 11600
    INTERRUPTED_DUE_TO_REPL_STATE_CHANGE = 11602
    NOT_PRIMARY_NO_SECONDARY_OK = 13435
    NOT_PRIMARY_OR_SECONDARY = 13436
    #: "$changeStream is only supported on replica sets" (a standalone server).
    CHANGE_STREAMS_NEED_A_REPLICA_SET = 40573


#: Codes meaning "not now" rather than "no": shutdown, stepdown, network
#: trouble, time limits. They become StoreUnavailable, never "not found".
TRANSIENT_CODES = frozenset(
    {
        ServerCode.HOST_UNREACHABLE,
        ServerCode.HOST_NOT_FOUND,
        ServerCode.MAX_TIME_MS_EXPIRED,
        ServerCode.NETWORK_TIMEOUT,
        ServerCode.SHUTDOWN_IN_PROGRESS,
        ServerCode.PRIMARY_STEPPED_DOWN,
        ServerCode.EXCEEDED_TIME_LIMIT,
        ServerCode.SOCKET_EXCEPTION,
        ServerCode.NOT_WRITABLE_PRIMARY,
        ServerCode.INTERRUPTED_AT_SHUTDOWN,
        ServerCode.INTERRUPTED_DUE_TO_REPL_STATE_CHANGE,
        ServerCode.NOT_PRIMARY_NO_SECONDARY_OK,
        ServerCode.NOT_PRIMARY_OR_SECONDARY,
    }
)

#: Codes of an index that exists with the store's index name but another definition.
INDEX_CONFLICT_CODES = frozenset(
    {ServerCode.INDEX_OPTIONS_CONFLICT, ServerCode.INDEX_KEY_SPECS_CONFLICT}
)


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
        if exc.code in TRANSIENT_CODES or exc.timeout:
            raise StoreUnavailable(f"database unavailable: {exc}") from exc
        if exc.code == ServerCode.OVERFLOW:
            raise SessionEncodingError(f"session is nested too deeply for MongoDB: {exc}") from None
        raise
    except PyMongoError as exc:
        if exc.timeout:
            raise StoreUnavailable(f"database timed out: {exc}") from exc
        raise
    finally:
        if started and budget is not None and budget.left is not None:
            budget.left -= time.monotonic() - started
