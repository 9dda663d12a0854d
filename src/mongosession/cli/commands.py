"""One function per command: the store's admin methods in, a report and an exit status out.

Every command reads and writes through the store's public methods, so its idea of a
live, expired or flagged session is the store's own (``absolute_lifetime``
included, with ``--absolute-lifetime``). A command's function takes the store and the
parsed arguments, writes its report (:mod:`.reports`), and returns the exit status.
"""

from __future__ import annotations

import argparse
import importlib
import re
import sys
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

import bson
from bson.datetime_ms import DatetimeMS

from mongosession import (
    ChangeStreamsUnsupported,
    CorruptSession,
    IndexConflict,
    IndexPermissionError,
)
from mongosession.cli.output import (
    EXIT_ENCRYPTED,
    EXIT_NOTHING_DONE,
    EXIT_OK,
    EXIT_PERMISSION,
    EXIT_USAGE,
    CliError,
    Progress,
    ask,
    id_value,
    print_json,
    warn,
)
from mongosession.cli.reports import (
    Cleaned,
    IndexesMade,
    Listing,
    Revoked,
    Shown,
    Summary,
    write_cleaned,
    write_event,
    write_hint,
    write_indexes,
    write_listing,
    write_revoked,
    write_shown,
    write_stats,
)
from mongosession.codecs.encryption import is_envelope
from mongosession.codecs.formats import BsonCodec, JsonCodec
from mongosession.store.inspection import both, namespace_hint, unreadable_dates
from mongosession.store.synchronous.store import MongoStore
from mongosession.useragents import parse_user_agent

#: Where ``show`` finds the store's secrets when they are not given as options.
ENCRYPTION_KEYS_ENV = "MONGOSESSION_ENCRYPTION_KEYS"
HASH_KEY_ENV = "MONGOSESSION_HASH_KEY"

DEFAULT_BATCH = 10_000
#: Sessions ``list`` shows without ``--limit`` or ``--page-size``.
DEFAULT_LIMIT = 50
#: Sessions ``list --limit 0`` reads a page: a range of the ``_id`` index each.
LIST_PAGE = 1_000
_INT64 = 2**63
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def user_values(text: str) -> list[Any]:
    """The stored values a user given on the command line may have.

    The ``user`` field holds what the application put there: a str, an int or
    an ObjectId. ``"42"`` matches the string and the number, a 24-digit hex
    string matches the string and the ObjectId.
    """
    values: list[Any] = [text]
    if re.fullmatch(r"-?[0-9]{1,19}", text) and -_INT64 <= int(text) < _INT64:
        values.append(int(text))
    if re.fullmatch(r"[0-9a-fA-F]{24}", text):
        values.append(bson.ObjectId(text))
    return values


def _of_user(text: str) -> dict[str, Any]:
    return {"user": {"$in": user_values(text)}}


def missing_namespace(store: MongoStore) -> str | None:
    """Advice when the store's database or collection does not exist, else None.

    For a command that found nothing, and only then (it costs a round trip): a
    misspelt ``--db`` or ``--collection`` otherwise reads as an empty collection.
    """
    return namespace_hint(store.namespace_check())


# -- stats, list, show ------------------------------------------------------------


def cmd_stats(store: MongoStore, args: argparse.Namespace) -> int:
    """Counts by state, average size, indexes, and the users with most live sessions."""
    stats = store.session_stats(top=args.top)
    hint = missing_namespace(store) if not stats.documents else None
    write_stats(stats, args.json, hint)
    return EXIT_OK


def _pages(store: MongoStore, query: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    # Every document the query matches, a page at a time, in _id order.
    page = store.list_sessions(query, limit=LIST_PAGE)
    while page:
        yield from page
        if len(page) < LIST_PAGE:
            return
        page = store.list_sessions(query, after=page[-1]["_id"], limit=LIST_PAGE)


def _expiry_ms(value: Any) -> int | None:
    # A date as milliseconds since 1970, as the server sorts it (an array by its latest).
    if isinstance(value, list):
        dates = [ms for ms in map(_expiry_ms, value) if ms is not None]
        return max(dates, default=None)
    if isinstance(value, DatetimeMS):
        return int(value)
    if isinstance(value, datetime):
        return (value - _EPOCH) // timedelta(milliseconds=1)
    return None


def latest_first(docs: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """``docs``, read in ``_id`` order, by latest expiry, then ``_id``.

    The order of :meth:`MongoStore.recent_sessions`: no expiry sorts last, as in a
    descending sort on the server, and ids of any type keep the server's order.
    """

    def key(item: tuple[int, dict[str, Any]]) -> tuple[int, int, int]:
        ms = _expiry_ms(item[1].get("expires"))
        return (1, 0, item[0]) if ms is None else (0, -ms, item[0])

    return [doc for _, doc in sorted(enumerate(docs), key=key)]


def _page(
    store: MongoStore, query: Mapping[str, Any], args: argparse.Namespace
) -> tuple[list[dict[str, Any]], bool, Any]:
    # One page in _id order after --after: the documents, whether more follow, and
    # the last id shown (where the next page starts). One more is read than shown,
    # to tell whether more follow: a range of the _id index, at any depth.
    size = args.page_size or DEFAULT_LIMIT
    after = None if args.after is None else id_value(args.after)
    docs = store.list_sessions(query, after=after, limit=size + 1)
    more = len(docs) > size
    docs = docs[:size]
    return docs, more, docs[-1]["_id"] if more else None


def cmd_list(store: MongoStore, args: argparse.Namespace) -> int:
    """Live sessions, latest expiry first or a page at a time by id, optionally of one user."""
    paged = args.page_size is not None or args.after is not None
    if paged and args.limit is not None:
        raise CliError(
            "--limit lists the latest expiries, --page-size and --after page by id: "
            "give one or the other",
            EXIT_USAGE,
        )
    query = store.live_filter() if args.user is None else store.live_filter(**_of_user(args.user))
    next_id: Any = None
    if paged:
        docs, truncated, next_id = _page(store, query, args)
        limit = args.page_size or DEFAULT_LIMIT
    else:
        limit = DEFAULT_LIMIT if args.limit is None else args.limit
        if limit:  # one more than shown, to tell whether there are more
            docs = store.recent_sessions(query, limit=limit + 1)
        else:
            docs = latest_first(_pages(store, query))
        truncated = bool(limit) and len(docs) > limit
        docs = docs[: limit or None]
    sessions = [
        Summary(**Summary.fields_of(doc, store.state_of(doc), device_text(store, doc)))
        for doc in docs
    ]
    hint = missing_namespace(store) if not sessions and args.after is None else None
    write_listing(Listing(sessions, truncated, limit, paged, next_id), args.json, hint)
    if not sessions and args.user is not None:
        warn(f"no live sessions for user '{args.user}'")
        return EXIT_NOTHING_DONE
    return EXIT_OK


#: The most of a raw user agent ``list`` shows when it cannot name the browser.
_AGENT_SHOWN = 40


def _user_agent(store: MongoStore, doc: Mapping[str, Any]) -> str | None:
    # The recorded user agent as it is (None: none, or sealed without the keys).
    try:
        info = store.device_info(doc)
    except CorruptSession:
        return None
    return None if info is None else info.user_agent


def device_text(store: MongoStore, doc: Mapping[str, Any]) -> str | None:
    """The device a stored session recorded, in words: ``Firefox 125 on Linux, 203.0.113.7``.

    None when it recorded none; ``encrypted`` when sealed and the store has no key
    that opens it. Without ua-parser (the ``devices`` extra) or when it names no
    browser, the start of the raw user agent. Written through ``printable()`` like
    everything else: a user agent is whatever the client sent.
    """
    if not isinstance(doc.get("device"), Mapping):
        return None
    try:
        info = store.device_info(doc)
    except CorruptSession:
        return "encrypted"
    if info is None:
        return None
    agent = info.user_agent
    named = None
    try:
        parsed = parse_user_agent(agent)
    except ModuleNotFoundError:
        parsed = None
    if parsed is not None and (parsed.browser or parsed.os):
        named = " on ".join(part for part in (parsed.browser, parsed.os) if part)
    elif agent:
        named = agent if len(agent) <= _AGENT_SHOWN else agent[: _AGENT_SHOWN - 1] + "…"
    return ", ".join(part for part in (named, info.ip) if part) or "-"


def _decode_plain(stored: Any) -> tuple[Any, str]:
    """The session dict of an unencrypted payload and its format: json, bson or unreadable."""
    if isinstance(stored, str):
        try:
            return JsonCodec().decode(stored), "json"
        except CorruptSession:
            return None, "unreadable (a foreign format)"
    if isinstance(stored, Mapping):
        try:
            return BsonCodec().decode(dict(stored)), "bson"
        except CorruptSession:
            pass
    return None, "unreadable"


def _decode_payload(stored: Any, stored_id: str, store: MongoStore) -> tuple[Any, str, str | None]:
    """The session dict, how it was stored, and why encrypted data could not be read.

    An encrypted payload is opened with the keys the store was given
    (``--encryption-key`` or :data:`ENCRYPTION_KEYS_ENV`).
    """
    if not is_envelope(stored):
        return (*_decode_plain(stored), None)
    if not store.encrypted:
        return (
            None,
            "encrypted",
            "the session data is encrypted: give the store's encryption keys in "
            f"${ENCRYPTION_KEYS_ENV} (one per line) or with --encryption-key to read it",
        )
    try:
        opened = store.unseal(stored, stored_id)
    except CorruptSession as exc:
        return None, "encrypted", f"the given encryption keys do not open it: {exc}"
    data, kind = _decode_plain(opened)
    return data, f"encrypted {kind}", None


def cmd_show(store: MongoStore, args: argparse.Namespace) -> int:
    """One session document, whatever its state, with its decoded data."""
    stored_id = args.sid
    if args.hash_ids:
        try:
            stored_id = store.storage_id(args.sid)
        except (TypeError, ValueError) as exc:
            raise CliError(f"not a session id: {exc}", EXIT_USAGE) from None
    doc = store.document(stored_id)
    if doc is None:
        hashed = f" (stored as '{stored_id}')" if stored_id != args.sid else ""
        raise CliError(
            f"no session '{args.sid}'{hashed} in {store.namespace}",
            EXIT_NOTHING_DONE,
            missing_namespace(store),
        )
    data, payload, problem = _decode_payload(doc.get("session"), str(doc["_id"]), store)
    summary = Summary.fields_of(doc, store.state_of(doc), device_text(store, doc))
    summary["size"] = len(bson.encode(doc))
    shown = Shown(
        **summary,
        user_agent=_user_agent(store, doc),
        deleted_at=doc.get("deletedAt"),
        payload=payload,
        session=data,
    )
    write_shown(shown, args.json)
    for name in unreadable_dates(doc):
        warn(
            f"mongosession: {name} holds a date past year 9999 or before year 1 "
            f"({int(doc[name])} ms since 1970): the store reads this session as no session"
        )
    if problem is not None:
        warn(f"mongosession: {problem}")
        return EXIT_ENCRYPTED
    return EXIT_OK


# -- revoke, cleanup ----------------------------------------------------------------


def _confirm(question: str, args: argparse.Namespace) -> bool:
    if args.yes:
        return True
    if not sys.stdin.isatty():
        raise CliError(
            "refusing to revoke without confirmation: standard input is not a terminal "
            "(pass --yes to skip the question)",
            EXIT_USAGE,
        )
    return ask(question)


def _delete(
    store: MongoStore,
    query: Mapping[str, Any],
    batch_size: int,
    progress: Progress | None,
    done_before: int = 0,
) -> int:
    # Delete in batches (the store's), reporting the running total (from
    # ``done_before``) to ``progress``; return how many this call deleted.
    deleted = 0
    for deleted in store.delete_batches(query, batch_size=batch_size):
        if progress is not None:
            progress.update(done_before + deleted)
    return deleted


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def cmd_revoke(store: MongoStore, args: argparse.Namespace) -> int:
    """End one session, every session of a user (but one), or all of them.

    The number it asks about is the live sessions, by the store's live filter, as
    ``stats`` counts them; documents already ended (expired, flagged, past
    ``--absolute-lifetime``) that match go too, and are counted apart.
    """
    chosen = [name for name in ("sid", "user", "all") if getattr(args, name) not in (None, False)]
    if len(chosen) != 1:
        raise CliError("revoke takes exactly one of: SID, --user USER, --all", EXIT_USAGE)
    if args.keep is not None and args.user is None:
        raise CliError("--keep goes with --user", EXIT_USAGE)
    conditions: dict[str, Any]
    if args.sid is not None:
        conditions = {"_id": args.sid}
        what = f"session '{args.sid}'"
    elif args.user is not None:
        conditions = _of_user(args.user)
        if args.keep is not None:
            conditions["_id"] = {"$ne": args.keep}
        what = f"the sessions of user '{args.user}'" + (
            f" except '{args.keep}'" if args.keep is not None else ""
        )
    else:
        conditions = {}
        what = f"ALL sessions in {store.namespace}"
    live_now = store.live_filter()  # one instant for both halves
    live_query = both(conditions, live_now)
    ended_query = both(conditions, {"$nor": [live_now]})
    live = store.count(live_query)
    # With --flag, only what is not flagged yet counts: flagging it again does nothing.
    matching = store.flag_counts(conditions).unflagged if args.flag else store.count(conditions)
    ended = max(0, matching - live)
    if not live and not ended:
        warn(f"nothing to revoke: no match for {what}")
        hint = missing_namespace(store)
        if args.json:
            print_json({"revoked": 0, "flagged": args.flag, **({"hint": hint} if hint else {})})
        else:
            write_hint(hint)
        return EXIT_NOTHING_DONE
    verb = "flag" if args.flag else "delete"
    if ended:
        counted = (
            f"{_plural(live, 'live session')}, "
            f"and {_plural(ended, 'ended document')} not yet removed"
        )
    else:
        counted = _plural(live, "document")
    if not _confirm(f"{verb} {what} ({counted})?", args):
        warn("nothing revoked")
        if args.json:
            print_json({"revoked": 0, "flagged": args.flag})
        return EXIT_NOTHING_DONE
    if args.flag:
        revoked = store.flag_documents(live_query)
        removed = store.flag_documents(ended_query) if ended else 0
    else:
        total = live + ended
        progress = Progress(total, "revoke") if total > args.batch_size else None
        revoked = _delete(store, live_query, args.batch_size, progress)
        removed = _delete(store, ended_query, args.batch_size, progress, revoked) if ended else 0
        if progress is not None:
            progress.finish(revoked + removed)
    write_revoked(Revoked(revoked, args.flag), args.json)
    if removed:
        done = "flagged" if args.flag else "deleted"
        warn(f"(also {done} {_plural(removed, 'ended document')})")
    return EXIT_OK if revoked or removed else EXIT_NOTHING_DONE


def cmd_cleanup(store: MongoStore, args: argparse.Namespace) -> int:
    """Delete flagged and expired documents now, in batches, with progress on stderr."""
    query = store.cleanup_filter(older_than=args.older_than)
    counts = store.flag_counts(query)
    total = counts.flagged + counts.unflagged
    deleted = 0
    if total and not args.dry_run:
        progress = Progress(total, "cleanup")
        progress.update(0)
        deleted = _delete(store, query, args.batch_size, progress)
        progress.finish(deleted)
    hint = None if total else missing_namespace(store)
    cleaned = Cleaned(counts.flagged, counts.unflagged, deleted, args.dry_run)
    write_cleaned(cleaned, args.json, hint)
    return EXIT_OK


# -- ensure-indexes, watch, demo -------------------------------------------------------


def cmd_ensure_indexes(store: MongoStore, args: argparse.Namespace) -> int:
    """Create the TTL index (and the per-user index); optionally turn on pre-images."""
    try:
        made = store.setup_indexes(flagged_index=args.flag_index)
    except IndexConflict as exc:
        raise CliError(str(exc), EXIT_NOTHING_DONE) from None
    except IndexPermissionError as exc:
        raise CliError(
            f"permission denied: this user may not create indexes on {store.namespace}; "
            "connect as a user with the createIndex action there (roles readWrite, dbAdmin)",
            EXIT_PERMISSION,
        ) from exc
    if args.pre_images:
        store.enable_pre_images()
    write_indexes(IndexesMade(*made, pre_images=args.pre_images), store.namespace, args.json)
    return EXIT_OK


def cmd_watch(store: MongoStore, args: argparse.Namespace) -> int:
    """Print sessions as they end (a change stream); Ctrl-C stops."""
    write_hint(missing_namespace(store))  # it may still come: watch on
    seen = 0
    try:
        with store.watch(max_await=min(1.0, args.timeout / 2)) as events:
            for event in events:
                write_event(event, args.json)
                seen += 1
                if args.count and seen >= args.count:
                    break
    except ChangeStreamsUnsupported as exc:
        raise CliError(str(exc), EXIT_NOTHING_DONE) from None
    except KeyboardInterrupt:
        pass
    return EXIT_OK


def run_demo(argv: list[str]) -> int:
    """Hand over to ``mongosession.demo:main(argv)``, imported only now."""
    try:
        demo = importlib.import_module("mongosession.demo")
    except ModuleNotFoundError as exc:
        if exc.name != "mongosession.demo":
            warn(f"the demo needs {exc.name}: pip install 'mongosession[dev]'")
            return EXIT_USAGE
        warn("the demo is coming with the session middleware")
        return EXIT_USAGE
    status = demo.main(argv)
    return int(status or 0)
