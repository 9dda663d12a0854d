"""The Django engine's stores: one per process, made from ``settings.MONGOSESSION``.

:mod:`mongosession.django` re-exports :func:`get_store`, :func:`get_async_store`,
:func:`close_stores` and :func:`aclose_stores`.
"""

from __future__ import annotations

# ruff: noqa: E402
import asyncio
import threading
import weakref
from collections.abc import Mapping
from typing import Any

# The framework first: without it, say which extra installs it (the imports follow).
from mongosession._extras import require

require("django", extra="django", feature="mongosession.django")

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed

from mongosession.store.asynchronous.store import AsyncMongoStore
from mongosession.store.synchronous.store import MongoStore

_lock = threading.Lock()
_sync_store: MongoStore | None = None
_async_stores: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, AsyncMongoStore] = (
    weakref.WeakKeyDictionary()
)


def _store_arguments(*, for_async: bool) -> dict[str, Any]:
    configured = getattr(settings, "MONGOSESSION", None)
    if not isinstance(configured, Mapping):
        raise ImproperlyConfigured(
            'set MONGOSESSION = {"uri": "mongodb://host/database", ...} to use mongosession.django'
        )
    arguments = dict(configured)
    # Each store takes its own kind of client when given one, else the URI.
    async_client = arguments.pop("async_client", None)
    client = arguments.pop("client", None)
    if for_async:
        client = async_client
    if client is not None:
        arguments.pop("uri", None)
        arguments["client"] = client
    elif "uri" not in arguments:
        raise ImproperlyConfigured(
            f"MONGOSESSION needs 'uri' or '{'async_client' if for_async else 'client'}'"
        )
    arguments.setdefault("ttl", settings.SESSION_COOKIE_AGE)
    return arguments


def get_store() -> MongoStore:
    """The process's :class:`MongoStore`, made from ``settings.MONGOSESSION`` on first use.

    Use it for what Django's session API lacks, e.g. log out everywhere::

        get_store().destroy_user(user_id, keep=request.session.session_key)
    """
    global _sync_store
    with _lock:
        if _sync_store is None:
            _sync_store = MongoStore(**_store_arguments(for_async=False))
        return _sync_store


def get_async_store() -> AsyncMongoStore:
    """The :class:`AsyncMongoStore` of the running event loop (PyMongo's async client is per loop)."""
    loop = asyncio.get_running_loop()
    with _lock:
        store = _async_stores.get(loop)
        if store is None:
            store = _async_stores[loop] = AsyncMongoStore(**_store_arguments(for_async=True))
        return store


def close_stores() -> None:
    """Close the blocking store and forget the async ones; later use makes new stores.

    From async code, ``await aclose_stores()`` also closes the running loop's store.
    """
    global _sync_store
    with _lock:
        sync_store, _sync_store = _sync_store, None
        _async_stores.clear()
    if sync_store is not None:
        sync_store.close()


async def aclose_stores() -> None:
    """:func:`close_stores`, closing the running event loop's async store too."""
    with _lock:
        async_store = _async_stores.pop(asyncio.get_running_loop(), None)
    close_stores()
    if async_store is not None:
        await async_store.close()


def _forget_stores(*, setting: str, **kwargs: Any) -> None:
    # override_settings(MONGOSESSION=...) in tests: the next use reads the new value.
    if setting in ("MONGOSESSION", "SESSION_COOKIE_AGE"):
        close_stores()


setting_changed.connect(_forget_stores)
