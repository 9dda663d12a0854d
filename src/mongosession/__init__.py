"""Server-side web sessions stored in MongoDB, sync and async.

Example::

    from mongosession import AsyncMongoStore

    store = AsyncMongoStore(uri="mongodb://localhost:27017/app", ttl=14 * 24 * 3600)
"""

from __future__ import annotations

from ._async_store import AsyncMongoStore
from ._async_watch import AsyncSessionEvents
from ._codecs import BsonCodec, Codec, JsonCodec, escape_key, unescape_key
from ._core import StoredSession, merge_changes
from ._errors import (
    ChangeStreamsUnsupported,
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
from ._events import SessionEvent
from ._ids import check_sid, generate_sid
from ._sync_store import MongoStore
from ._sync_watch import SessionEvents

__version__ = "0.1.0"

__all__ = [
    "AsyncMongoStore",
    "AsyncSessionEvents",
    "BsonCodec",
    "ChangeStreamsUnsupported",
    "Codec",
    "CorruptSession",
    "DecryptionError",
    "IndexConflict",
    "IndexPermissionError",
    "IndexSetupError",
    "JsonCodec",
    "MongoSessionError",
    "MongoStore",
    "ReservedKey",
    "SessionConflict",
    "SessionEncodingError",
    "SessionEnded",
    "SessionEvent",
    "SessionEvents",
    "SessionIdCollision",
    "SessionLimitReached",
    "SessionTooLarge",
    "StoreUnavailable",
    "StoredSession",
    "check_sid",
    "escape_key",
    "generate_sid",
    "merge_changes",
    "unescape_key",
]
