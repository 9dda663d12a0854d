"""The ``mongosession`` command's arguments: argparse, and the typed option parsers."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from mongosession.cli import commands
from mongosession.cli.commands import DEFAULT_BATCH, ENCRYPTION_KEYS_ENV, HASH_KEY_ENV
from mongosession.cli.output import EXIT_CODES


def positive_int(text: str) -> int:
    """An option's value as an int above zero."""
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be a positive integer")
    return value


def count(text: str) -> int:
    """An option's value as an int, zero meaning no limit."""
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must be 0 (no limit) or a positive integer")
    return value


def seconds(text: str) -> float:
    """An option's value as a positive number of seconds."""
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError("must be a positive number of seconds")
    return value


def non_negative_seconds(text: str) -> float:
    """An option's value as zero or a positive number of seconds."""
    value = float(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError("must be zero or a positive number of seconds")
    return value


def _common_options(with_defaults: bool) -> argparse.ArgumentParser:
    # The same options on the main parser and on every command, so both
    # `mongosession --json stats` and `mongosession stats --json` work; a
    # command's copy has no defaults, so it never overrides the main one.
    parser = argparse.ArgumentParser(add_help=False)

    def default(value: Any) -> Any:
        return value if with_defaults else argparse.SUPPRESS

    group = parser.add_argument_group("connection and output")
    group.add_argument(
        "--uri",
        default=default(None),
        help="MongoDB connection string, with the database (default: $MONGODB_URI)",
    )
    group.add_argument(
        "--db", default=default(None), help="database name (default: the URI's database)"
    )
    group.add_argument(
        "--collection", default=default("sessions"), help="sessions collection (default: sessions)"
    )
    group.add_argument(
        "--absolute-lifetime",
        type=seconds,
        default=default(None),
        metavar="SECONDS",
        help="the store's absolute_lifetime: sessions created longer ago than this "
        "count as ended, as the application's store sees them (default: none)",
    )
    group.add_argument(
        "--timeout",
        type=seconds,
        default=default(5.0),
        help="seconds to wait for the server before giving up (default: 5)",
    )
    group.add_argument(
        "--json",
        action="store_true",
        default=default(False),
        help="machine-readable JSON on stdout",
    )
    return parser


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``mongosession`` command.

    Each command's parser carries its function (:mod:`.commands`) as ``handler``.
    """
    codes = "\n".join(f"  {code}  {meaning}" for code, meaning in EXIT_CODES.items())
    parser = argparse.ArgumentParser(
        prog="mongosession",
        description="Inspect and manage server-side sessions stored in MongoDB.",
        epilog=f"exit status:\n{codes}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[_common_options(True)],
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    common = [_common_options(False)]

    def command(name: str, handler: Callable[..., int], help_text: str) -> argparse.ArgumentParser:
        sub = subparsers.add_parser(name, parents=common, help=help_text, description=help_text)
        sub.set_defaults(handler=handler)
        return sub

    stats = command(
        "stats", commands.cmd_stats, "counts by state, average size, top users, indexes"
    )
    stats.add_argument("--top", type=count, default=10, help="users to list (default: 10)")

    listing = command("list", commands.cmd_list, "list live sessions, latest expiry first")
    listing.add_argument("--user", help="only the sessions of this user")
    listing.add_argument(
        "--limit", type=count, default=50, help="at most N sessions; 0 for all (default: 50)"
    )

    show = command("show", commands.cmd_show, "show one session document and its data")
    show.add_argument(
        "sid", metavar="SID", help="the stored session id (_id); with --hash-ids the cookie's id"
    )
    show.add_argument(
        "--encryption-key",
        action="append",
        metavar="KEY",
        help=f"a key of the store's encryption_keys, to decrypt the data; repeat for "
        f"several (default: ${ENCRYPTION_KEYS_ENV}, one per line). Prefer the variable: "
        "arguments show in the process list and the shell history",
    )
    show.add_argument(
        "--hash-ids",
        action="store_true",
        help=f"SID is the id the cookie carries: look it up under its hashed _id, with the "
        f"store's hash_ids key from ${HASH_KEY_ENV} (or --hash-key)",
    )
    show.add_argument(
        "--hash-key",
        metavar="KEY",
        help=f"the store's hash_ids key; implies --hash-ids (prefer ${HASH_KEY_ENV})",
    )

    revoke = command("revoke", commands.cmd_revoke, "end one session, a user's sessions, or all")
    revoke.add_argument("sid", metavar="SID", nargs="?", help="the stored session id (_id)")
    revoke.add_argument("--user", help="every session of this user ('log out everywhere')")
    revoke.add_argument("--keep", metavar="SID", help="with --user: spare this session")
    revoke.add_argument("--all", action="store_true", help="every session in the collection")
    revoke.add_argument(
        "--flag",
        action="store_true",
        help="mark deleted instead of deleting (no in-flight request can write them back; "
        "cleanup or the TTL index removes them later)",
    )
    revoke.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
    revoke.add_argument("--batch-size", type=positive_int, default=DEFAULT_BATCH)

    cleanup = command("cleanup", commands.cmd_cleanup, "delete flagged and expired sessions now")
    cleanup.add_argument(
        "--batch-size",
        type=positive_int,
        default=DEFAULT_BATCH,
        help=f"documents per delete command (default: {DEFAULT_BATCH})",
    )
    cleanup.add_argument(
        "--older-than",
        type=non_negative_seconds,
        default=0.0,
        metavar="SECONDS",
        help="spare sessions flagged less than this long ago, so requests still holding "
        "them see the flag (default: 0)",
    )
    cleanup.add_argument("--dry-run", action="store_true", help="count only, delete nothing")

    ensure = command(
        "ensure-indexes", commands.cmd_ensure_indexes, "create the TTL index (as an admin user)"
    )
    ensure.add_argument("--user-index", action="store_true", help="also the per-user index")
    ensure.add_argument(
        "--flag-index",
        action="store_true",
        help="also a partial index on flagged sessions (delete_flags), so stats need no scan",
    )
    ensure.add_argument(
        "--pre-images",
        action="store_true",
        help="also turn on change-stream pre-images, so watch tells expiry from destroy",
    )

    watch = command("watch", commands.cmd_watch, "print sessions as they end (needs a replica set)")
    watch.add_argument("--count", type=count, default=0, help="stop after N events")

    subparsers.add_parser(
        "demo",
        add_help=False,
        help="run the demo app (its own options follow)",
        description="Run the demo app; the arguments after `demo` are the demo's.",
    )
    return parser
