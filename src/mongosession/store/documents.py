"""The stored document: how it is decoded, the session type reads return, its users."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import bson
from bson.codec_options import CodecOptions, DatetimeConversion

if TYPE_CHECKING:
    from mongosession.store.devices import DeviceInfo

#: Dates come back aware, in UTC. A date Python cannot hold (year 10000 and on;
#: JavaScript can write one) decodes as a ``bson.DatetimeMS`` instead of failing
#: the whole read: such a document reads as corrupt, the rest as usual.
CODEC_OPTIONS: CodecOptions[dict[str, Any]] = CodecOptions(
    tz_aware=True, tzinfo=timezone.utc, datetime_conversion=DatetimeConversion.DATETIME_AUTO
)

#: The fields :meth:`StoreRules.is_live` reads: what a write that must know
#: whether it ended a live session asks the server to return.
LIVENESS = {"expires": 1, "deleted": 1, "createdAt": 1}

#: The dates of a stored document the store reads.
DATE_FIELDS = ("expires", "createdAt", "lastModified", "updatedAt", "userSince", "deletedAt")


class StoredSession(dict[str, Any]):
    """A session as :meth:`get` returns it: a plain dict, plus what the store knows.

    ``expires``, ``last_modified`` and ``created_at`` come from the stored
    document; ``revision`` is the stored payload the dict was decoded from, which
    :meth:`save` uses to detect and merge concurrent changes. ``storage_id`` is
    the ``_id`` it was read from (which key of a ``hash_ids`` rotation made it).
    ``device``, given to a write, is the request's device for the store to record
    beside the payload (:class:`~mongosession.store.devices.DeviceInfo`); reads
    leave it None.
    """

    __slots__ = ("created_at", "device", "expires", "last_modified", "revision", "storage_id")

    def __init__(
        self,
        data: Mapping[str, Any],
        *,
        revision: Any = None,
        expires: datetime | None = None,
        last_modified: datetime | None = None,
        created_at: datetime | None = None,
        storage_id: str | None = None,
        device: DeviceInfo | None = None,
    ) -> None:
        super().__init__(data)
        self.storage_id = storage_id
        self.device = device
        self.revision = revision
        self.expires = expires
        self.last_modified = last_modified
        self.created_at = created_at


def any_date(value: Any, test: Callable[[datetime], bool]) -> bool:
    # A date field matches a date comparison when it is a date (or an array
    # holding one) that passes; any other BSON type never compares with a date.
    if isinstance(value, list):
        return any(isinstance(v, datetime) and test(v) for v in value)
    return isinstance(value, datetime) and test(value)


def user_of(session: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = session
    for part in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def check_user(user: Any) -> Any:
    """A user value must be a scalar: a dict here could smuggle a query operator."""
    if isinstance(user, (str, int, bson.ObjectId)) and not isinstance(user, bool):
        return user
    raise TypeError(f"a user must be a str, int or ObjectId, not {type(user).__name__}")
