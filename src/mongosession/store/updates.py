"""The documents the stores write: a new session's, and the updates of set, save and touch.

:class:`~mongosession.store.rules.StoreRules` inherits these; they read its options.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from mongosession import _clock
from mongosession.store.devices import device_fields
from mongosession.store.documents import check_user, user_of


class DocumentUpdates:
    """Insert and update documents for one store's options (see :class:`StoreRules`)."""

    touch_after: float
    timestamps: bool
    absolute_lifetime: float | None
    user_path: tuple[str, ...] | None
    encryptor: Any
    codec: Any

    def expiry(self, session: Mapping[str, Any], now: datetime) -> datetime:
        raise NotImplementedError  # StoreRules.expiry

    def new_document(
        self, storage_id: str, session: Mapping[str, Any], stored: Any, now: datetime
    ) -> dict[str, Any]:
        """The document ``create`` inserts."""
        expires = self.expiry(session, now)
        if self.absolute_lifetime is not None:
            expires = min(expires, _clock.after(now, self.absolute_lifetime))
        doc = {"_id": storage_id, "session": stored, "expires": expires}
        doc.update(self._write_fields(session, now))
        doc.update(device_fields(self, session, now, new=True))
        if self.timestamps or self.absolute_lifetime is not None:
            doc["createdAt"] = now
        return doc

    def _write_fields(self, session: Mapping[str, Any], now: datetime) -> dict[str, Any]:
        fields: dict[str, Any] = {}
        if self.touch_after:
            fields["lastModified"] = now
        if self.timestamps:
            fields["updatedAt"] = now
        if self.user_path is not None:
            user = user_of(session, self.user_path)
            if user is not None:
                fields["user"] = check_user(user)
        return fields

    def write_update(
        self, session: Mapping[str, Any], stored: Any, now: datetime, *, upsert: bool
    ) -> dict[str, Any] | list[dict[str, Any]]:
        """The update for ``set`` (upsert) and ``save`` (update-only)."""
        fields = {"session": stored, "expires": self.expiry(session, now)}
        fields.update(self._write_fields(session, now))
        fields.update(device_fields(self, session, now, new=False))
        drop_user = self.user_path is not None and "user" not in fields
        if self.absolute_lifetime is None:
            update: dict[str, Any] = {"$set": fields}
            if drop_user:
                update["$unset"] = {"user": ""}
            if upsert and self.timestamps:
                update["$setOnInsert"] = {"createdAt": now}
            return update
        return self._capped_pipeline(fields, now, drop_user=drop_user)

    def touch_update(
        self, session: Mapping[str, Any], now: datetime
    ) -> dict[str, Any] | list[dict[str, Any]]:
        """The update for ``touch``: the expiry only, never the payload."""
        fields: dict[str, Any] = {"expires": self.expiry(session, now)}
        if self.touch_after:
            fields["lastModified"] = now
        if self.timestamps:  # connect-mongo's touch moves updatedAt too
            fields["updatedAt"] = now
        fields.update(device_fields(self, session, now, new=False))
        if self.absolute_lifetime is None:
            return {"$set": fields}
        return self._capped_pipeline(fields, now, drop_user=False)

    def _capped_pipeline(
        self, fields: dict[str, Any], now: datetime, *, drop_user: bool
    ) -> list[dict[str, Any]]:
        # An aggregation-pipeline update (MongoDB 4.2+) caps `expires` at
        # createdAt + absolute_lifetime in the same write, so no touch extends it.
        lifetime_ms = int(self.absolute_lifetime * 1000)  # type: ignore[operator]
        values = {k: {"$literal": v} for k, v in fields.items() if k != "expires"}
        values["expires"] = {
            "$min": [{"$literal": fields["expires"]}, {"$add": ["$createdAt", lifetime_ms]}]
        }
        stages: list[dict[str, Any]] = [
            {"$set": {"createdAt": {"$ifNull": ["$createdAt", {"$literal": now}]}}},
            {"$set": values},
        ]
        if drop_user:
            stages.append({"$unset": ["user"]})
        return stages
