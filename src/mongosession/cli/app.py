"""The ``mongosession`` command from end to end: parse, open the store, run, map failures to exit statuses."""

from __future__ import annotations

import argparse
import os
import re
import sys
import traceback
from collections.abc import Callable, Sequence
from typing import Any

from pymongo import MongoClient
from pymongo.errors import ConfigurationError, ConnectionFailure, OperationFailure

from mongosession import StoreUnavailable
from mongosession.cli.commands import ENCRYPTION_KEYS_ENV, HASH_KEY_ENV, run_demo
from mongosession.cli.output import (
    EXIT_BUG,
    EXIT_INTERRUPTED,
    EXIT_PERMISSION,
    EXIT_UNAVAILABLE,
    EXIT_USAGE,
    CliError,
    warn,
)
from mongosession.cli.parser import build_parser
from mongosession.store.errors import ServerCode
from mongosession.store.synchronous.store import MongoStore

#: The server's AuthenticationFailed (wrong user or password).
_AUTHENTICATION_FAILED = 18


def _hosts(uri: str) -> str:
    # Read from the text: no DNS lookup (mongodb+srv), and never the credentials.
    _, _, rest = uri.partition("://")
    hosts = re.split(r"[/?]", rest, maxsplit=1)[0].rpartition("@")[2]
    return hosts.replace(",", ", ") or "the server"


def _brief(exc: BaseException) -> str:
    # Server selection errors carry a whole topology description; keep the cause.
    text = str(exc).split(", Timeout:")[0].split(" (configured timeouts:")[0]
    return text.strip() or type(exc).__name__


def _unauthorized(exc: OperationFailure, namespace: str) -> str:
    # The server's message quotes the whole command; name just the command.
    message = str((exc.details or {}).get("errmsg") or exc)
    found = re.search(r"execute command \{ ?(\w+)", message)
    command = found.group(1) if found else "this command"
    return (
        f"permission denied on {namespace}: the database user may not run {command} "
        "(stats, list, show and watch need read; revoke and cleanup need readWrite)"
    )


def _key(text: str) -> bytes | str:
    # As the store takes them: a str is a passphrase (or the hash key's UTF-8
    # bytes); "hex:" gives raw bytes, e.g. a 32-byte key from os.urandom.
    if text.startswith("hex:"):
        try:
            return bytes.fromhex(text[4:])
        except ValueError:
            raise CliError("a hex: key must be hexadecimal digits", EXIT_USAGE) from None
    return text


def _secrets(args: argparse.Namespace) -> dict[str, Any]:
    """The store's secrets ``show`` needs: options first, then the environment."""
    secrets: dict[str, Any] = {}
    if getattr(args, "command", None) != "show":
        return secrets
    keys = args.encryption_key
    if keys is None:
        keys = [line for line in os.environ.get(ENCRYPTION_KEYS_ENV, "").splitlines() if line]
    if keys:
        secrets["encryption_keys"] = [_key(k) for k in keys]
    if args.hash_key is not None or args.hash_ids:
        hash_key = args.hash_key or os.environ.get(HASH_KEY_ENV)
        if not hash_key:
            raise CliError(
                f"--hash-ids needs the key: set {HASH_KEY_ENV} or pass --hash-key", EXIT_USAGE
            )
        secrets["hash_ids"] = _key(hash_key)
        args.hash_ids = True
    return secrets


def connect(args: argparse.Namespace) -> tuple[MongoClient[dict[str, Any]], str]:
    """A client for the URI the options give (not connected yet), and that URI.

    ``--timeout`` bounds finding and connecting to the server, as the store's own
    client would; the operations themselves get no bound here (see :func:`open_store`).
    """
    uri = args.uri or os.environ.get("MONGODB_URI")
    if not uri:
        raise CliError("no database given: pass --uri or set MONGODB_URI", EXIT_USAGE)
    wait_ms = int(args.timeout * 1000)
    try:
        client: MongoClient[dict[str, Any]] = MongoClient(
            uri,
            connect=False,
            tz_aware=True,
            appname="mongosession",
            serverSelectionTimeoutMS=wait_ms,
            connectTimeoutMS=wait_ms,
        )
    except (ValueError, TypeError, ConfigurationError) as exc:
        raise CliError(str(exc), EXIT_USAGE) from None
    return client, uri


def open_store(args: argparse.Namespace, client: MongoClient[dict[str, Any]]) -> MongoStore:
    """The store the options describe, on ``client`` (which the caller closes).

    Its ``timeout`` is ``--timeout`` for ``watch``, whose every wait for the server
    it bounds, and None for the other commands: a count or a grouping over millions
    of sessions takes the time it needs.
    """
    try:
        return MongoStore(
            client=client,
            db_name=args.db,
            collection=args.collection,
            timeout=args.timeout if args.command == "watch" else None,
            absolute_lifetime=args.absolute_lifetime,
            create_indexes=False,
            user_key="user" if getattr(args, "user_index", False) else None,
            **_secrets(args),
        )
    except ImportError as exc:  # encryption keys without the crypto extra
        raise CliError(str(exc), EXIT_USAGE) from None
    except (ValueError, TypeError, ConfigurationError) as exc:
        raise CliError(
            str(exc).replace("pass db_name=", "pass --db"),
            EXIT_USAGE,
        ) from None


def _fail(message: str, status: int) -> int:
    warn(f"mongosession: {message}")
    return status


def _run(store: MongoStore, uri: str, args: argparse.Namespace) -> int:
    # The command, its database failures as one line and an exit status.
    handler: Callable[[MongoStore, argparse.Namespace], int] = args.handler
    try:
        return handler(store, args)
    except (ConnectionFailure, StoreUnavailable) as exc:
        # The store wraps the driver's error; a timeout the server reported is no
        # failure to reach it.
        cause = exc.__cause__ if isinstance(exc, StoreUnavailable) else exc
        if isinstance(cause, OperationFailure) and cause.timeout:
            return _fail(f"the database did not answer in time: {cause}", EXIT_UNAVAILABLE)
        return _fail(
            f"cannot reach MongoDB at {_hosts(uri)} within {args.timeout:g}s: {_brief(cause or exc)}",
            EXIT_UNAVAILABLE,
        )
    except OperationFailure as exc:
        if exc.code == _AUTHENTICATION_FAILED:
            return _fail(f"authentication failed at {_hosts(uri)}", EXIT_PERMISSION)
        if exc.code == ServerCode.UNAUTHORIZED:
            return _fail(_unauthorized(exc, store.namespace), EXIT_PERMISSION)
        if exc.timeout:
            return _fail(f"the database did not answer in time: {exc}", EXIT_UNAVAILABLE)
        raise


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``mongosession`` command with ``argv`` (default: ``sys.argv[1:]``).

    Returns the exit status (see :data:`~mongosession.cli.output.EXIT_CODES`)
    instead of exiting, so it can be called from Python. Example::

        status = main(["--uri", "mongodb://localhost/app", "stats", "--json"])
    """
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments[:1] == ["demo"]:
        return run_demo(arguments[1:])
    parser = build_parser()
    try:
        args = parser.parse_args(arguments)
    except SystemExit as exc:  # --help, or a usage error argparse already printed
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    if args.command == "demo":
        return run_demo([])
    client: MongoClient[dict[str, Any]] | None = None
    try:
        client, uri = connect(args)
        return _run(open_store(args, client), uri, args)
    except CliError as exc:
        return _fail(str(exc), exc.status)
    except KeyboardInterrupt:
        warn("interrupted")
        return EXIT_INTERRUPTED
    except Exception as exc:  # a bug: its message may quote stored values
        warn("Traceback (most recent call last):")
        for line in "".join(traceback.format_tb(exc.__traceback__)).rstrip("\n").split("\n"):
            warn(line)
        warn("".join(traceback.format_exception_only(exc)).rstrip("\n"))  # one line
        return EXIT_BUG  # as Python exits on an uncaught exception
    finally:
        if client is not None:
            client.close()  # the store's too: it closes no client it was given
