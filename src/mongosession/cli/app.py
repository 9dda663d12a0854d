"""The ``mongosession`` command from end to end: parse, open the store, run, map failures to exit statuses."""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import traceback
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TextIO
from urllib.parse import parse_qsl

from pymongo import MongoClient, common
from pymongo.errors import ConfigurationError, ConnectionFailure, InvalidName, OperationFailure

from mongosession import StoreUnavailable, __version__
from mongosession.cli.commands import ENCRYPTION_KEYS_ENV, HASH_KEY_ENV, run_demo
from mongosession.cli.output import (
    EXIT_BUG,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_PERMISSION,
    EXIT_UNAVAILABLE,
    EXIT_USAGE,
    CliError,
    error_json,
    say,
    say_json,
    warn,
)
from mongosession.cli.parser import UsageError, build_parser
from mongosession.store.errors import ServerCode
from mongosession.store.synchronous.store import MongoStore

#: The server's AuthenticationFailed (wrong user or password).
_AUTHENTICATION_FAILED = 18


def _hosts(uri: str) -> str:
    # Read from the text: no DNS lookup (mongodb+srv), and never the credentials.
    _, _, rest = uri.partition("://")
    hosts = re.split(r"[/?]", rest, maxsplit=1)[0].rpartition("@")[2]
    return hosts.replace(",", ", ") or "the server"


def _srv_host(uri: str) -> str | None:
    # The host name of a mongodb+srv:// URI, whose SRV record names the servers.
    if not uri.startswith("mongodb+srv://"):
        return None
    return _hosts(uri)


def _dns_failure(exc: BaseException) -> bool:
    # PyMongo resolves a mongodb+srv:// name with the first operation, and reports a
    # failed lookup (no such name, no answer, no name server) as a ConfigurationError
    # raised from dnspython's exception.
    cause = exc.__cause__
    return cause is not None and type(cause).__module__.split(".")[0] == "dns"


def _option_names(uri: str) -> list[str]:
    # The option names of the URI's query string (never the values: they may be secret).
    _, _, query = uri.partition("?")
    return [name for name, _ in parse_qsl(query, keep_blank_values=True)]


def _unknown_options(uri: str) -> list[str]:
    known = {
        name.lower()
        for table in (
            "URI_OPTIONS_VALIDATOR_MAP",
            "URI_OPTIONS_ALIAS_MAP",
            "URI_OPTIONS_DEPRECATION_MAP",
        )
        for name in getattr(common, table, {})
    }
    return [name for name in _option_names(uri) if name.lower() not in known]


def _uri_problem(message: str, uri: str) -> str:
    # PyMongo warns about a URI option it cannot use, and ignores it; it does not
    # name an unknown one (its value might be a secret): name it here.
    if message.startswith("Unknown option"):
        unknown = _unknown_options(uri)
        if unknown:
            names = ", ".join(f"'{name}'" for name in unknown)
            return f"unknown option in the URI: {names}"
    return f"bad option in the URI: {message}"


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
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            client: MongoClient[dict[str, Any]] = MongoClient(
                uri,
                connect=False,
                tz_aware=True,
                appname="mongosession",
                serverSelectionTimeoutMS=wait_ms,
                connectTimeoutMS=wait_ms,
            )
    except (ValueError, TypeError, ConfigurationError) as exc:
        raise CliError(_one_line(exc), EXIT_USAGE) from None
    except OSError as exc:  # a TLS file named in the URI cannot be read
        raise CliError(f"bad option in the URI: {exc.strerror or exc}", EXIT_USAGE) from None
    # An invalid URI option is only a warning to PyMongo, which then ignores it: a
    # misspelt "tls" would connect in clear. The command refuses instead.
    for found in caught:
        if issubclass(found.category, DeprecationWarning):
            warn(f"mongosession: warning: {_one_line(found.message)}")
        else:
            client.close()
            raise CliError(_uri_problem(_one_line(found.message), uri), EXIT_USAGE)
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
        raise CliError(_one_line(exc), EXIT_USAGE) from None
    except InvalidName as exc:  # --db or --collection
        raise CliError(f"invalid name: {_one_line(exc)}", EXIT_USAGE) from None
    except (ValueError, TypeError, ConfigurationError) as exc:
        raise CliError(
            _one_line(exc).replace("pass db_name=", "pass --db"),
            EXIT_USAGE,
        ) from None


def _one_line(message: object) -> str:
    # Some driver messages run over several lines (a pip command, say).
    return " ".join(str(message).split())


def _fail(message: str, status: int, as_json: bool, hint: str | None = None) -> int:
    # One line on stderr; with --json, the same as a JSON object on stdout.
    warn(f"mongosession: {message}" + ("" if hint is None else f" ({hint})"))
    if as_json:
        error_json(message, status, hint)
    return status


def _run(store: MongoStore, uri: str, args: argparse.Namespace) -> int:
    # The command, its database failures as one line and an exit status.
    handler: Callable[[MongoStore, argparse.Namespace], int] = args.handler
    as_json = bool(args.json)
    try:
        return handler(store, args)
    except (ConnectionFailure, StoreUnavailable) as exc:
        # The store wraps the driver's error; a timeout the server reported is no
        # failure to reach it.
        cause = exc.__cause__ if isinstance(exc, StoreUnavailable) else exc
        if isinstance(cause, OperationFailure) and cause.timeout:
            return _fail(
                f"the database did not answer in time: {_one_line(cause)}",
                EXIT_UNAVAILABLE,
                as_json,
            )
        return _fail(
            f"cannot reach MongoDB at {_hosts(uri)} within {args.timeout:g}s: "
            f"{_one_line(_brief(cause or exc))}",
            EXIT_UNAVAILABLE,
            as_json,
        )
    except ConfigurationError as exc:
        # Found with the first operation: a mongodb+srv:// name that does not
        # resolve, or an option the driver cannot use after all (GSSAPI without
        # its module, say).
        srv_host = _srv_host(uri)
        if srv_host is not None and _dns_failure(exc):
            return _fail(f"cannot resolve {srv_host}: {_one_line(exc)}", EXIT_UNAVAILABLE, as_json)
        return _fail(_one_line(exc), EXIT_USAGE, as_json)
    except OperationFailure as exc:
        if exc.code == _AUTHENTICATION_FAILED:
            return _fail(f"authentication failed at {_hosts(uri)}", EXIT_PERMISSION, as_json)
        if exc.code == ServerCode.UNAUTHORIZED:
            return _fail(_unauthorized(exc, store.namespace), EXIT_PERMISSION, as_json)
        if exc.timeout:
            return _fail(
                f"the database did not answer in time: {_one_line(exc)}", EXIT_UNAVAILABLE, as_json
            )
        raise


@contextmanager
def _warnings_in_one_line() -> Iterator[None]:
    # A warning raised while the command runs (by the driver, say) is one escaped
    # line on stderr, not Python's two lines quoting the source.
    def show(
        message: Warning | str,
        category: type[Warning],
        filename: str,
        lineno: int,
        file: TextIO | None = None,
        line: str | None = None,
    ) -> None:
        warn(f"mongosession: warning: {_one_line(message)}")

    with warnings.catch_warnings():
        warnings.showwarning = show
        yield


def _bug(exc: BaseException, as_json: bool) -> int:
    # A failure the command does not know: its traceback, as Python prints it
    # but escaped (its message may quote stored values).
    warn("Traceback (most recent call last):")
    for line in "".join(traceback.format_tb(exc.__traceback__)).rstrip("\n").split("\n"):
        warn(line)
    summary = "".join(traceback.format_exception_only(exc)).rstrip("\n")
    warn(summary)  # one line
    if as_json:
        error_json(_one_line(summary), EXIT_BUG)
    return EXIT_BUG  # as Python exits on an uncaught exception


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``mongosession`` command with ``argv`` (default: ``sys.argv[1:]``).

    Returns the exit status (see :data:`~mongosession.cli.output.EXIT_CODES`)
    instead of exiting, so it can be called from Python. Example::

        status = main(["--uri", "mongodb://localhost/app", "stats", "--json"])
    """
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments[:1] == ["demo"]:
        return run_demo(arguments[1:])
    as_json = "--json" in arguments  # until the arguments are read
    parser = build_parser()
    try:
        args = parser.parse_args(arguments)
    except UsageError as exc:  # bad arguments, in one line, as argparse words them
        return _fail(str(exc), EXIT_USAGE, as_json, exc.hint)
    except SystemExit as exc:  # --help
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    as_json = bool(args.json)
    if args.version:
        if as_json:
            say_json(json.dumps({"version": __version__}))
        else:
            say(f"mongosession {__version__}")
        return EXIT_OK
    if args.command is None:
        parser.print_help(sys.stderr)
        return _fail("no command given", EXIT_USAGE, as_json) if as_json else EXIT_USAGE
    if args.command == "demo":
        return run_demo([])
    client: MongoClient[dict[str, Any]] | None = None
    try:
        with _warnings_in_one_line():
            client, uri = connect(args)
            return _run(open_store(args, client), uri, args)
    except CliError as exc:
        return _fail(str(exc), exc.status, as_json, exc.hint)
    except KeyboardInterrupt:
        warn("interrupted")
        if as_json:
            error_json("interrupted", EXIT_INTERRUPTED)
        return EXIT_INTERRUPTED
    except Exception as exc:  # a bug: its message may quote stored values
        return _bug(exc, as_json)
    finally:
        if client is not None:
            client.close()  # the store's too: it closes no client it was given
