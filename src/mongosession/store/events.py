"""Session events: the store's ``on()`` callbacks and ``watch()``'s change-stream events."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from mongosession._ids import sid_digest
from mongosession._log import log

EVENTS = ("create", "update", "set", "touch", "destroy")


class EventEmitter:
    """``on(event, callback)``: connect-mongo's events, called with the session id."""

    _listeners: dict[str, list[Callable[[str], object]]]

    def on(self, event: str, callback: Callable[[str], object]) -> Callable[[str], object]:
        """Call ``callback(sid)`` after each ``event``; returns ``callback``.

        Events: ``create`` (a new document), ``update`` (an existing one
        rewritten), ``set`` (either), ``touch`` (expiry moved), ``destroy``.
        A callback that raises is logged and does not fail the operation.

        Example::

            store.on("destroy", lambda sid: audit.info("logout"))
        """
        if event not in EVENTS:
            raise ValueError(f"unknown event {event!r}; one of {', '.join(EVENTS)}")
        self._listeners.setdefault(event, []).append(callback)
        return callback

    def _emit(self, event: str, sid: str) -> None:
        for callback in self._listeners.get(event, ()):
            try:
                callback(sid)
            except Exception:
                log.exception("%s listener failed for session %s", event, sid_digest(sid))


EventKind = Literal["expired", "destroyed", "flagged", "purged", "deleted"]


#: Change kinds after which a collection change stream has nothing more to say.
ENDING_OPERATIONS = ("drop", "rename", "dropDatabase", "invalidate")


@dataclass(frozen=True)
class SessionEvent:
    """One session that ended, as :meth:`MongoStore.watch` reports it.

    ``kind`` says how:

    - ``"expired"``: the document was deleted after its ``expires`` had passed
      (MongoDB's TTL monitor, the ``"interval"`` sweeper, or ``cleanup``);
    - ``"destroyed"``: a live session was deleted (``destroy``,
      ``destroy_user``, ``clear``, ``mongosession revoke``);
    - ``"flagged"``: a session was marked deleted (``delete_flags=True``, or
      ``mongosession revoke --flag``);
    - ``"purged"``: the document of a session flagged earlier was removed;
    - ``"deleted"``: a document was deleted and the server kept no pre-image
      to tell which of the above it was (see the events page of the docs).

    ``sid`` is the stored ``_id`` (the session id after ``transform_id``).
    ``user`` and ``expires`` come from the pre-image and are None without one.
    ``at`` is the server's wall-clock time of the change; ``resume_token``
    resumes a stream just after this event (``store.watch(resume_after=...)``).

    Example::

        if event.kind == "expired":
            audit.info("session of %s timed out", event.user)
    """

    kind: EventKind
    sid: str
    at: datetime | None
    user: Any = None
    expires: datetime | None = None
    resume_token: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)


def watch_pipeline() -> list[dict[str, Any]]:
    """The server-side filter: deletes, updates that set the flag, and stream endings."""
    return [
        {
            "$match": {
                "$or": [
                    {"operationType": "delete"},
                    {
                        "operationType": "update",
                        "updateDescription.updatedFields.deleted": True,
                    },
                    {"operationType": {"$in": list(ENDING_OPERATIONS)}},
                ]
            }
        },
        # The payload may be large (and is nobody's business here): never ship it.
        {"$project": {"fullDocumentBeforeChange.session": 0}},
    ]


def _when(change: Mapping[str, Any]) -> datetime | None:
    wall = change.get("wallTime")
    if isinstance(wall, datetime):
        return wall
    cluster_time = change.get("clusterTime")
    as_datetime = getattr(cluster_time, "as_datetime", None)
    return as_datetime() if as_datetime is not None else None


def event_from_change(change: Mapping[str, Any]) -> SessionEvent | None:
    """Translate one change-stream document; None when it ends no session."""
    operation = change.get("operationType")
    key = change.get("documentKey")
    if operation not in ("delete", "update") or not isinstance(key, Mapping) or "_id" not in key:
        return None
    if operation == "update":
        description = change.get("updateDescription")
        updated = description.get("updatedFields") if isinstance(description, Mapping) else None
        if not isinstance(updated, Mapping) or updated.get("deleted") is not True:
            return None
    sid = key["_id"]
    at = _when(change)
    before = change.get("fullDocumentBeforeChange")
    if not isinstance(before, Mapping):
        before = None
    expires = before.get("expires") if before is not None else None
    if not isinstance(expires, datetime):
        expires = None
    kind: EventKind
    if operation == "update":
        kind = "flagged"
    elif before is None:
        kind = "deleted"
    elif before.get("deleted") is True:
        kind = "purged"
    elif expires is not None and at is not None and expires <= at:
        kind = "expired"
    else:
        kind = "destroyed"
    return SessionEvent(
        kind=kind,
        sid=sid if isinstance(sid, str) else str(sid),
        at=at,
        user=before.get("user") if before is not None else None,
        expires=expires,
        resume_token=change.get("_id") or {},
    )


def ends_stream(change: Mapping[str, Any]) -> bool:
    """True for a change after which the stream closes (drop, rename, invalidate)."""
    return change.get("operationType") in ENDING_OPERATIONS
