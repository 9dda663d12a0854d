"""Server-side web sessions stored in MongoDB, sync and async.

Example::

    from mongosession import AsyncMongoStore

    store = AsyncMongoStore(uri="mongodb://localhost:27017/app", ttl=14 * 24 * 3600)

The adapters are ``mongosession.asgi``, ``mongosession.flask``,
``mongosession.django`` and ``mongosession.aiohttp``; the types a handler
annotates with (:data:`AsyncSession`, :data:`SyncSession`, :class:`Session`,
:class:`SessionOptions`) and :class:`ConfigurationError` are here.
"""

from __future__ import annotations

from mongosession._errors import (
    ChangeStreamsUnsupported,
    ConfigurationError,
    ConfigurationTypeError,
    CorruptSession,
    DecryptionError,
    IndexConflict,
    IndexPermissionError,
    IndexSetupError,
    MongoSessionError,
    ReservedKey,
    SessionConflict,
    SessionEncodingError,
    SessionEnded,
    SessionIdCollision,
    SessionLimitReached,
    SessionTooLarge,
    StoreUnavailable,
)
from mongosession._ids import check_sid, generate_sid
from mongosession.codecs.formats import BsonCodec, Codec, JsonCodec, escape_key, unescape_key
from mongosession.store.asynchronous.store import AsyncMongoStore
from mongosession.store.asynchronous.watch import AsyncSessionEvents
from mongosession.store.devices import DeviceInfo, DeviceSession
from mongosession.store.documents import StoredSession
from mongosession.store.events import SessionEvent
from mongosession.store.merge import merge_changes
from mongosession.store.nearcache import NearCache, NearCacheStats
from mongosession.store.synchronous.store import MongoStore
from mongosession.store.synchronous.watch import SessionEvents
from mongosession.web.config import SessionConfig, SessionCookie, SessionOptions
from mongosession.web.session import AsyncSession, Session, SyncSession

__version__ = "0.1.0"

__all__ = [
    "AsyncMongoStore",
    "AsyncSession",
    "AsyncSessionEvents",
    "BsonCodec",
    "ChangeStreamsUnsupported",
    "Codec",
    "ConfigurationError",
    "ConfigurationTypeError",
    "CorruptSession",
    "DecryptionError",
    "DeviceInfo",
    "DeviceSession",
    "IndexConflict",
    "IndexPermissionError",
    "IndexSetupError",
    "JsonCodec",
    "MongoSessionError",
    "MongoStore",
    "NearCache",
    "NearCacheStats",
    "ReservedKey",
    "Session",
    "SessionConfig",
    "SessionConflict",
    "SessionCookie",
    "SessionEncodingError",
    "SessionEnded",
    "SessionEvent",
    "SessionEvents",
    "SessionIdCollision",
    "SessionLimitReached",
    "SessionOptions",
    "SessionTooLarge",
    "StoreUnavailable",
    "StoredSession",
    "SyncSession",
    "check_sid",
    "escape_key",
    "generate_sid",
    "merge_changes",
    "unescape_key",
]
