"""Cookies as express-session writes and reads them, with no I/O.

The value is ``s:`` + sid + ``.`` + base64(HMAC-SHA256(secret, sid)) without
``=`` padding, then URL-encoded like JavaScript's ``encodeURIComponent``. With
several secrets the first signs and each verifies (rotation).
"""

from __future__ import annotations

import base64
import functools
import hmac
from collections.abc import Sequence
from datetime import datetime, timezone
from email.utils import format_datetime
from urllib.parse import quote, unquote

# encodeURIComponent leaves A-Z a-z 0-9 - _ . ! ~ * ' ( ) unescaped.
_URI_COMPONENT_SAFE = "-_.!~*'()"


def signature(sid: str, secret: str | bytes) -> str:
    """express-session's (cookie-signature's) signature of ``sid``.

    A str secret signs with its UTF-8 bytes, as Node's ``createHmac`` takes a
    string; bytes sign as they are, as it takes a ``Buffer``.
    """
    key = secret.encode() if isinstance(secret, str) else secret
    # hmac.digest is the one-shot C path: half the CPU of hmac.new(...).digest().
    digest = hmac.digest(key, sid.encode(), "sha256")
    return base64.b64encode(digest).decode().rstrip("=")


def sign(sid: str, secret: str | bytes) -> str:
    """Return ``s:<sid>.<signature>``, not yet URL-encoded."""
    return f"s:{sid}.{signature(sid, secret)}"


def unsign(value: str, secrets: Sequence[str | bytes]) -> str | None:
    """Return the sid of a signed value if any secret verifies it, else None.

    Comparison is in constant time; every secret is tried.
    """
    if not value.startswith("s:"):
        return None
    sid, dot, mac = value[2:].rpartition(".")
    if not dot or not sid:
        return None
    found = False
    for secret in secrets:
        found |= hmac.compare_digest(signature(sid, secret).encode(), mac.encode())
    return sid if found else None


#: Cookie values :func:`verified` remembers (with their secrets): about 1 MB at most.
VERIFIED_CACHE_SIZE = 4096


@functools.lru_cache(maxsize=VERIFIED_CACHE_SIZE)
def verified(value: str, secrets: tuple[bytes, ...]) -> str | None:
    """:func:`unsign`, remembered: a browser presents the same cookie on every request.

    A hit needs the exact value verified before (with the same secrets), so it
    tells nothing about any other value; a flood of made-up cookies only evicts
    (least recently used first).
    """
    return unsign(value, secrets)


def encode_component(value: str) -> str:
    """JavaScript's ``encodeURIComponent``."""
    return quote(value, safe=_URI_COMPONENT_SAFE)


def decode_component(value: str) -> str:
    """JavaScript's ``decodeURIComponent``, leaving the value as is when it fails."""
    if "%" not in value:
        return value
    if value.startswith("s%3A"):
        # A signed id as express-session writes it escapes only ":" and the
        # signature's "+", "/" and "=": decode those without the general unquote.
        # (The replacements add no "%", so no new escape can appear.)
        rest = value[4:].replace("%2B", "+").replace("%2F", "/").replace("%3D", "=")
        if "%" not in rest:
            return "s:" + rest
    try:
        return unquote(value, errors="strict")
    except UnicodeDecodeError:
        return value


def read_cookie(header: str, name: str) -> str | None:
    """The first value of cookie ``name`` in a ``Cookie`` header, URL-decoded.

    Like the ``cookie`` package express-session uses: pairs split on ``;``,
    surrounding whitespace and double quotes dropped, the first occurrence wins.
    """
    for pair in header.split(";"):
        key, eq, value = pair.partition("=")
        if eq and key.strip() == name:
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] == '"':
                value = value[1:-1]
            return decode_component(value)
    return None


def http_date(moment: datetime) -> str:
    """An ``Expires`` date: ``Thu, 01 Jan 1970 00:00:00 GMT``."""
    return format_datetime(moment.astimezone(timezone.utc), usegmt=True)


EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def set_cookie_header(
    name: str,
    value: str,
    *,
    expires: datetime | None = None,
    domain: str | None = None,
    path: str | None = "/",
    secure: bool = False,
    http_only: bool = True,
    same_site: str | None = None,
    partitioned: bool = False,
    priority: str | None = None,
) -> str:
    """A ``Set-Cookie`` value with attributes in the order the ``cookie`` package uses."""
    parts = [f"{name}={encode_component(value)}"]
    if domain:
        parts.append(f"Domain={domain}")
    if path:
        parts.append(f"Path={path}")
    if expires is not None:
        parts.append(f"Expires={http_date(expires)}")
    if http_only:
        parts.append("HttpOnly")
    if secure:
        parts.append("Secure")
    if partitioned:
        parts.append("Partitioned")
    if priority:
        parts.append(f"Priority={priority.capitalize()}")
    if same_site:
        parts.append(f"SameSite={same_site.capitalize()}")
    return "; ".join(parts)
