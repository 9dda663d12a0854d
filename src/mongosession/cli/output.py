"""What the command line writes, and how it ends: escaped text, JSON, tables, progress, exit statuses.

What the commands print comes from the database, and the database from web users (a
user name, session data) or from other applications sharing the collection (an id,
a date, an index name). A control character in it would drive the operator's
terminal: retitle it, clear it, forge a row. So every line written goes through
:func:`printable` (:func:`say`, :func:`warn`, :func:`ask`, :class:`Progress`), which
escapes the whole line, or, for JSON, :func:`printable_json` (:func:`say_json`). Both
follow :meth:`str.isprintable`.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterable, Sequence
from datetime import datetime, timezone
from typing import Any, TextIO

from bson import json_util
from bson.datetime_ms import DatetimeMS

from mongosession import _clock

#: Success.
EXIT_OK = 0
#: Not found, or nothing done.
EXIT_NOTHING_DONE = 1
#: Bad arguments or configuration: options, the URI and its options, names.
EXIT_USAGE = 2
#: The database cannot be reached: DNS, connection, no answer within ``--timeout``.
EXIT_UNAVAILABLE = 3
#: Authentication failed, or a privilege is missing.
EXIT_PERMISSION = 4
#: Encrypted session data that no given key opens.
EXIT_ENCRYPTED = 5
#: A failure the command does not know (a bug): what Python's exit would be.
EXIT_BUG = 1
#: Ctrl-C, as a shell reports a process ended by SIGINT.
EXIT_INTERRUPTED = 130

#: Exit status -> meaning; scripts may rely on these.
EXIT_CODES = {
    EXIT_OK: "success",
    EXIT_NOTHING_DONE: "not found, or nothing done (no such session, nothing matched, "
    "confirmation declined, index conflict, change streams unsupported)",
    EXIT_USAGE: "usage error (bad arguments, a bad URI or URI option, no URI, no database "
    "name, an invalid database or collection name, no terminal to confirm on)",
    EXIT_UNAVAILABLE: "database unavailable (the host name does not resolve, cannot connect, "
    "or no answer within --timeout)",
    EXIT_PERMISSION: "permission denied (authentication failed, or the user lacks a privilege)",
    EXIT_ENCRYPTED: "encrypted session data that no given key opens (show without the "
    "store's encryption keys, or with the wrong ones)",
}


class CliError(Exception):
    """A failure the command line reports in one line, with an exit status.

    ``hint`` is a further line of advice (a misspelt database, say); with ``--json``
    both go in the error object :func:`error_json` writes.
    """

    def __init__(self, message: str, status: int, hint: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.hint = hint


# -- escaping ---------------------------------------------------------------------

_NAMED_ESCAPES = {"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(char: str) -> str:
    named = _NAMED_ESCAPES.get(char)
    if named is not None:
        return named
    code = ord(char)
    if code < 0x80:
        return f"\\x{code:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def printable(value: object) -> str:
    """``value`` as text that is safe to write to a terminal.

    Every character :meth:`str.isprintable` rejects (C0 controls and newlines, DEL,
    C1 controls, the line and paragraph separators, format characters such as the
    bidirectional overrides and zero-width spaces, lone surrogates) and the backslash
    are escaped as Python writes them: ``\\n``, ``\\x1b``, ``\\u0085``, ``\\\\``. The
    escaping is one-to-one, and bash's ``$'...'`` reads it back. Example::

        printable("\\x1b]0;owned\\x07\\nroot")  # '\\\\x1b]0;owned\\\\x07\\\\nroot'
    """
    text = value if isinstance(value, str) else str(value)
    if text.isprintable() and "\\" not in text:
        return text
    return "".join(c if c.isprintable() and c != "\\" else _escape(c) for c in text)


def _json_escape(char: str) -> str:
    code = ord(char)
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    code -= 0x10000  # JSON spells a character beyond the BMP as a surrogate pair
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"


def printable_json(text: str) -> str:
    """JSON text with every unprintable character (:func:`printable`'s rule) as ``\\uXXXX``.

    ``json.dumps`` escapes C0, the quote and the backslash itself; with
    ``ensure_ascii=False`` the rest (DEL, C1, separators...) would go out raw. Outside
    its strings JSON text holds only printable characters and the line breaks of its
    indentation, so the result is the same JSON value.
    """
    return "\n".join(
        line
        if line.isprintable()
        else "".join(c if c.isprintable() else _json_escape(c) for c in line)
        for line in text.split("\n")
    )


# -- writing ----------------------------------------------------------------------


def say(line: object = "", *, flush: bool = False) -> None:
    """Write one line of text on stdout, escaped by :func:`printable`."""
    print(printable(line), flush=flush)


def say_json(text: str, *, flush: bool = False) -> None:
    """Write JSON text on stdout, escaped by :func:`printable_json`."""
    print(printable_json(text), flush=flush)


def warn(message: object) -> None:
    """Write one line on stderr, escaped by :func:`printable`."""
    print(printable(message), file=sys.stderr)


def error_json(message: str, status: int, hint: str | None = None) -> None:
    """Write a failure as one line of JSON on stdout: ``{"error", "status"[, "hint"]}``.

    One line, so that it also reads as one more record of ``watch --json``.
    """
    body: dict[str, Any] = {"error": message, "status": status}
    if hint is not None:
        body["hint"] = hint
    say_json(json.dumps(body), flush=True)


def ask(question: str) -> bool:
    """Ask a yes/no question at the terminal (stderr, stdin); True for ``y`` or ``yes``."""
    print(f"{printable(question)} [y/N] ", end="", file=sys.stderr, flush=True)
    return sys.stdin.readline().strip().lower() in ("y", "yes")


_SHELL_SAFE = re.compile(r"[A-Za-z0-9_@%+=:,./-]+")


def shell_word(text: str) -> str:
    """``text`` as one shell word a user can paste back: bare, '...' or bash's $'...'.

    The result is printable (:func:`printable`'s rule): unprintable characters are
    escaped inside ``$'...'``, which bash reads back as the original. Write it with
    :func:`warn_verbatim`, since :func:`printable` would escape its backslashes again.
    """
    if _SHELL_SAFE.fullmatch(text):
        return text
    if text.isprintable():
        return "'" + text.replace("'", "'\\''") + "'"
    return "$'" + printable(text).replace("'", "\\'") + "'"


def warn_verbatim(line: str) -> None:
    """Write on stderr a line that is printable already (built by :func:`shell_word`)."""
    if not line.isprintable():  # never a raw control character, whatever the caller did
        line = printable(line)
    print(line, file=sys.stderr)


def id_text(value: Any) -> str:
    """A stored ``_id`` as ``list --after`` takes it back: a str as it is, else Extended JSON.

    The canonical Extended JSON keeps the type (``{"$oid": "..."}``,
    ``{"$numberInt": "7"}``), so the next page starts after the same value.
    """
    if isinstance(value, str):
        return value
    return json_util.dumps(value, json_options=json_util.CANONICAL_JSON_OPTIONS)


def id_value(text: str) -> Any:
    """What :func:`id_text` wrote, back as the stored value.

    Text that reads as an Extended JSON object is that value (an ObjectId, a number,
    a document); anything else is a str id.
    """
    if text.startswith("{"):
        try:
            value: Any = json_util.loads(text, json_options=json_util.CANONICAL_JSON_OPTIONS)
        except (ValueError, TypeError):
            return text
        if not isinstance(value, str):
            return value
    return text


def json_default(value: Any) -> Any:
    """JSON for what ``json`` cannot write: dates (ISO 8601), bytes (hex), other BSON values."""
    if isinstance(value, datetime):
        return _clock.to_js_iso(value)
    if isinstance(value, DatetimeMS):  # a date no datetime holds: Extended JSON's form
        return {"$date": {"$numberLong": str(int(value))}}
    if isinstance(value, bytes):
        return value.hex()
    return str(value)  # ObjectId, Decimal128, Timestamp...


def print_json(value: Any) -> None:
    """Write ``value`` as indented JSON on stdout."""
    say_json(json.dumps(value, indent=2, default=json_default))


def when(value: Any) -> str:
    """A stored date as the tables show it (UTC, to the second)."""
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ")
    if isinstance(value, DatetimeMS):
        return f"unreadable ({int(value)} ms)"
    return "-" if value is None else str(value)


def size(n: float | None) -> str:
    """A number of bytes, in B, KiB or MiB."""
    if n is None:
        return "-"
    if n < 1024:
        return f"{n:.0f} B"
    if n < 1024 * 1024:
        return f"{n / 1024:.1f} KiB"
    return f"{n / 1024 / 1024:.1f} MiB"


def say_table(headers: Sequence[str] | None, rows: Iterable[Sequence[Any]]) -> None:
    """Print aligned columns, each cell as :func:`printable` shows it."""
    cells = [[str(c) for c in row] for row in rows]
    if headers is not None:
        cells.insert(0, [str(c) for c in headers])
    if not cells:
        return
    shown = [[len(printable(c)) for c in row] for row in cells]
    widths = [max(row[i] for row in shown) for i in range(len(cells[0]))]
    for row, lengths in zip(cells, shown, strict=True):
        padded = (c + " " * (w - n) for c, n, w in zip(row, lengths, widths, strict=True))
        say("  ".join(padded).rstrip(" "))


class Progress:
    """Progress of a long deletion on stderr.

    A redrawn bar on a terminal; otherwise (logs, pipes) one line at every
    further 5 % and at the end, so a cron log stays short for millions.
    """

    def __init__(self, total: int, label: str, stream: TextIO | None = None) -> None:
        self.total = total
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        self.interactive = self.stream.isatty()
        self._last_step = -1

    def update(self, done: int) -> None:
        """Report ``done`` of ``total``."""
        percent = 100.0 if self.total <= 0 else min(100.0, 100.0 * done / self.total)
        if self.interactive:
            filled = int(percent // 5)
            bar = "#" * filled + "." * (20 - filled)
            line = printable(f"{self.label} [{bar}] {done}/{self.total} {percent:3.0f}%")
            self.stream.write(f"\r{line}")
            self.stream.flush()
            return
        step = int(percent // 5)
        if step > self._last_step:
            self._last_step = step
            line = f"{self.label}: {done}/{self.total} ({percent:.0f}%)"
            print(printable(line), file=self.stream)

    def finish(self, done: int) -> None:
        """Report the final count and end the line."""
        if self.interactive:
            self.update(done)
            self.stream.write("\n")
            self.stream.flush()
        elif self._last_step < 20:
            print(printable(f"{self.label}: {done}/{self.total} (done)"), file=self.stream)
