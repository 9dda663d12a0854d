"""The ``mongosession`` command's arguments: argparse, and the typed option parsers."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from typing import Any, NoReturn

from mongosession.cli import commands
from mongosession.cli.commands import (
    DEFAULT_BATCH,
    DEFAULT_LIMIT,
    ENCRYPTION_KEYS_ENV,
    HASH_KEY_ENV,
)
from mongosession.cli.output import EXIT_CODES, EXIT_USAGE, CliError

#: The largest ``--timeout``: a day (the driver takes milliseconds in a 32-bit int).
MAX_TIMEOUT = 86_400.0


class UsageError(CliError):
    """Bad arguments, as argparse words them; ``prog`` is the command that refused them."""

    def __init__(self, message: str, prog: str) -> None:
        super().__init__(message, EXIT_USAGE, hint=f"see {prog} --help")
        self.prog = prog


class Parser(argparse.ArgumentParser):
    """argparse, raising :class:`UsageError` instead of printing and exiting.

    The caller then says it in one line, and with ``--json`` as JSON too.
    """

    def error(self, message: str) -> NoReturn:
        raise UsageError(message, self.prog)


def _integer(text: str, meaning: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not {meaning}") from None


def _number(text: str, meaning: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not {meaning}") from None
    if math.isnan(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not {meaning}")
    return value


def positive_int(text: str) -> int:
    """An option's value as an int above zero."""
    value = _integer(text, "a positive integer")
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive integer")
    return value


def count(text: str) -> int:
    """An option's value as an int, zero meaning no limit."""
    value = _integer(text, "a count (0 for no limit, or a positive integer)")
    if value < 0:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a count (0 for no limit, or a positive integer)"
        )
    return value


def seconds(text: str) -> float:
    """An option's value as a positive, finite number of seconds."""
    value = _number(text, "a number of seconds")
    if not 0 < value < math.inf:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive number of seconds")
    return value


def timeout_seconds(text: str) -> float:
    """``--timeout``: a positive number of seconds, at most :data:`MAX_TIMEOUT`."""
    value = seconds(text)
    if value > MAX_TIMEOUT:
        raise argparse.ArgumentTypeError(f"{text!r} is more than a day ({MAX_TIMEOUT:g} seconds)")
    return value


def non_negative_seconds(text: str) -> float:
    """An option's value as zero or a positive number of seconds."""
    value = _number(text, "a number of seconds")
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not zero or a positive number of seconds")
    return value


def _common_options(with_defaults: bool) -> Parser:
    # The same options on the main parser and on every command, so both
    # `mongosession --json stats` and `mongosession stats --json` work; a
    # command's copy has no defaults, so it never overrides the main one.
    parser = Parser(add_help=False)

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
        type=timeout_seconds,
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
    parser = Parser(
        prog="mongosession",
        description="Inspect and manage server-side sessions stored in MongoDB.",
        epilog=f"exit status:\n{codes}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[_common_options(True)],
    )
    parser.add_argument(
        "--version", action="store_true", help="print the version of mongosession and exit"
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

    listing = command(
        "list",
        commands.cmd_list,
        "list live sessions: the latest expiry first, or a page at a time in id order",
    )
    listing.add_argument("--user", help="only the sessions of this user")
    listing.add_argument(
        "--limit",
        type=count,
        help=f"the N latest expiries; 0 for all (default: {DEFAULT_LIMIT})",
    )
    listing.add_argument(
        "--page-size",
        type=positive_int,
        metavar="N",
        help=f"one page of N sessions in id order, and the --after value of the next "
        f"(default with --after: {DEFAULT_LIMIT})",
    )
    listing.add_argument(
        "--after",
        metavar="ID",
        help="the page after this id (the value the previous page gave)",
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
