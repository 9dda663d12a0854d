"""The commands' typed results, and how each is written: text and tables, or JSON with ``--json``."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from bson.datetime_ms import DatetimeMS

from mongosession.cli.output import (
    id_text,
    json_default,
    print_json,
    say,
    say_json,
    say_table,
    shell_word,
    size,
    warn,
    warn_verbatim,
    when,
)
from mongosession.store.devices import last_active
from mongosession.store.events import SessionEvent
from mongosession.store.inspection import SessionState, SessionStats


def _fields(report: Any) -> dict[str, Any]:
    # A dataclass as a dict, in field order, its values as they are (no deep copy).
    return {f.name: getattr(report, f.name) for f in fields(report)}


def _hinted(body: dict[str, Any], hint: str | None) -> dict[str, Any]:
    # A JSON result with the advice the command has (a missing database...), if any.
    return body if hint is None else {**body, "hint": hint}


def write_hint(hint: str | None) -> None:
    """Advice on stderr, when there is some."""
    if hint is not None:
        warn(f"mongosession: hint: {hint}")


def write_stats(stats: SessionStats, as_json: bool, hint: str | None = None) -> None:
    """``stats``: counts by state, sizes, indexes, top users."""
    if as_json:
        top = [user._asdict() for user in stats.top_users]
        print_json(_hinted({**_fields(stats), "top_users": top}, hint))
        return

    def index_text(name: str | None, problem: str | None) -> str:
        if not stats.indexes_visible:
            return "unknown (no listIndexes privilege)"
        if name is None and problem is not None:
            return f"wrong: {problem}"
        return name or "missing"

    say(f"sessions in {stats.namespace}")
    say_table(
        None,
        [
            ("live", stats.live),
            ("expired, not yet removed", stats.expired),
            ("flagged as deleted", stats.flagged),
            ("documents", stats.documents),
            ("average document size", size(stats.average_size)),
            ("users with live sessions", stats.users),
            ("TTL index on expires", index_text(stats.ttl_index, stats.ttl_index_problem)),
            ("per-user index", index_text(stats.user_index, stats.user_index_problem)),
        ],
    )
    if stats.top_users:
        say()
        say(f"top {len(stats.top_users)} users by live sessions")
        say_table(("USER", "SESSIONS"), stats.top_users)
    write_hint(hint)


@dataclass(frozen=True)
class Summary:
    """One stored session as ``list`` shows it.

    ``device`` is the recorded device in words (browser on OS, IP), None when the
    session recorded none (docs/devices.md); ``last_active`` its last write.
    """

    id: Any
    state: SessionState
    user: Any
    expires: Any
    created: Any
    modified: Any
    size: int | None
    device: str | None
    last_active: Any

    @staticmethod
    def fields_of(
        doc: Mapping[str, Any], state: SessionState, device: str | None = None
    ) -> dict[str, Any]:
        """The fields of a summary of the stored document ``doc`` (``device``: in words)."""
        return {
            "id": doc["_id"],
            "state": state,
            "user": doc.get("user"),
            "expires": doc.get("expires"),
            "created": doc.get("createdAt"),
            "modified": doc.get("updatedAt") or doc.get("lastModified"),
            "size": doc.get("size"),
            "device": device,
            "last_active": last_active(doc),
        }


@dataclass(frozen=True)
class Listing:
    """``list``: the sessions shown, and whether more exist than ``limit``.

    ``paged``: one page in ``_id`` order (``--page-size``, ``--after``), whose
    last id is ``next`` when more follow.
    """

    sessions: list[Summary]
    truncated: bool
    limit: int
    paged: bool = False
    next: Any = None


def _next_json(value: Any) -> Any:
    # A str id as it is; another type as its Extended JSON object, which --after
    # reads back as that type.
    if value is None or isinstance(value, str):
        return value
    return json.loads(id_text(value))


def write_listing(listing: Listing, as_json: bool, hint: str | None = None) -> None:
    """``list``: a table of sessions, notes on stderr."""
    sessions = listing.sessions
    if as_json:
        shown = [_fields(s) for s in sessions]
        body = {"sessions": shown, "count": len(shown), "truncated": listing.truncated}
        if listing.paged:
            body["next"] = _next_json(listing.next)
        print_json(_hinted(body, hint))
        return
    rows = [
        (
            s.id,
            "-" if s.user is None else s.user,
            s.state,
            s.device or "-",
            when(s.last_active),
            when(s.expires),
            size(s.size),
        )
        for s in sessions
    ]
    headers = ("ID", "USER", "STATE", "DEVICE", "LAST ACTIVE (UTC)", "EXPIRES (UTC)", "SIZE")
    say_table(headers, rows)
    if listing.paged and listing.next is not None:
        after = shell_word(id_text(listing.next))
        warn_verbatim(f"(next page: --page-size {listing.limit} --after {after})")
    elif listing.truncated:
        warn(f"(first {listing.limit} shown; --limit 0 lists all, --page-size N pages by id)")
    write_hint(hint)
    unreadable = sum(s.state == "unreadable" for s in sessions)
    if unreadable:
        warn(
            f"({unreadable} unreadable: a date past year 9999 or before year 1, which "
            "the store reads as no session; `show ID` names the field)"
        )


@dataclass(frozen=True)
class Shown(Summary):
    """``show``: one document, whatever its state, with its decoded data and user agent."""

    user_agent: str | None
    deleted_at: Any
    payload: str
    session: Any


def write_shown(shown: Shown, as_json: bool) -> None:
    """``show``: one field a line, then the data as JSON."""
    if as_json:
        print_json(_fields(shown))
        return
    keys = ("id", "state", "user", "expires", "created", "modified", "deleted_at")
    for key in (*keys, "device", "last_active", "user_agent"):
        value = getattr(shown, key)
        text = when(value) if isinstance(value, (datetime, DatetimeMS)) else value or "-"
        say(f"{key + ':':12} {text}")
    say(f"{'size:':12} {size(shown.size)} ({shown.payload})")
    if shown.session is not None:
        say("session:")
        say_json(json.dumps(shown.session, indent=2, default=json_default, ensure_ascii=False))


@dataclass(frozen=True)
class Revoked:
    """``revoke``: how many sessions ended, and whether by flag."""

    revoked: int
    flagged: bool


def write_revoked(revoked: Revoked, as_json: bool) -> None:
    """``revoke``: the count."""
    if as_json:
        print_json(_fields(revoked))
    else:
        say(f"{'flagged' if revoked.flagged else 'deleted'} {revoked.revoked} session(s)")


@dataclass(frozen=True)
class Cleaned:
    """``cleanup``: what matched, by kind, and how many were deleted."""

    flagged: int
    expired: int
    deleted: int
    dry_run: bool


def write_cleaned(cleaned: Cleaned, as_json: bool, hint: str | None = None) -> None:
    """``cleanup``: the counts."""
    total = cleaned.flagged + cleaned.expired
    if as_json:
        print_json(_hinted(_fields(cleaned), hint))
    elif cleaned.dry_run:
        say(f"would delete {total}: {cleaned.flagged} flagged, {cleaned.expired} expired")
    elif total:
        say(
            f"deleted {cleaned.deleted}: {cleaned.flagged} flagged, {cleaned.expired} expired found"
        )
    else:
        say("nothing to clean up")
    if not as_json:
        write_hint(hint)


@dataclass(frozen=True)
class IndexesMade:
    """``ensure-indexes``: the indexes created and found, and whether pre-images are on."""

    created: list[str]
    present: list[str]
    pre_images: bool


def write_indexes(made: IndexesMade, namespace: str, as_json: bool) -> None:
    """``ensure-indexes``: one line an index."""
    if as_json:
        print_json(_fields(made))
        return
    for name in made.created:
        say(f"created index {name} on {namespace}")
    for name in made.present:
        say(f"index {name} already present on {namespace}")
    if made.pre_images:
        say(f"change-stream pre-images enabled on {namespace}")


def write_event(event: SessionEvent, as_json: bool) -> None:
    """``watch``: one line an event, flushed at once."""
    if as_json:
        record = {
            "kind": event.kind,
            "id": event.sid,
            "at": event.at,
            "user": event.user,
            "expires": event.expires,
        }
        say_json(json.dumps(record, default=json_default), flush=True)
    else:
        user = "" if event.user is None else f"  user={event.user}"
        say(f"{when(event.at)}  {event.kind:9}  {event.sid}{user}", flush=True)
