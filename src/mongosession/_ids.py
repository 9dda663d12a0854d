"""Session id generation and validation.

Ids are checked for type and charset before they reach any query, so a value
such as ``{"$ne": None}`` can never become a query operator.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from typing import Any

# express-session's default ids are 24 random bytes in base64url (32 chars);
# ids from other generators (uuid4, Node's genid) also fit this charset.
_SID_RE = re.compile(r"[A-Za-z0-9_\-.~+/=:@!]{1,256}")

SID_BYTES = 24


def generate_sid() -> str:
    """Return a new session id: 192 bits from the OS CSPRNG, base64url."""
    return secrets.token_urlsafe(SID_BYTES)


def check_sid(sid: Any) -> str:
    """Return ``sid`` if it is a well-formed session id, else raise.

    Raises:
        TypeError: ``sid`` is not a ``str``.
        ValueError: ``sid`` is empty, longer than 256 characters, or holds a
            character outside ``A-Z a-z 0-9 _ - . ~ + / = : @ !``.
    """
    if type(sid) is not str:
        raise TypeError(f"session id must be a str, not {type(sid).__name__}")
    if _SID_RE.fullmatch(sid) is None:
        raise ValueError("malformed session id")
    return sid


HASH_KEY_MIN_BYTES = 16


def hash_key(key: bytes | str) -> bytes:
    """Check and return the key of ``hash_ids`` (a str is taken as its UTF-8 bytes).

    Raises:
        TypeError: ``key`` is not bytes or a str (``hash_ids=True`` names no key).
        ValueError: ``key`` is shorter than 16 bytes.
    """
    if isinstance(key, str):
        key = key.encode()
    if not isinstance(key, bytes):
        raise TypeError(
            "hash_ids takes the hashing key (bytes or str, at least 16 bytes), "
            f"not {type(key).__name__}"
        )
    if len(key) < HASH_KEY_MIN_BYTES:
        raise ValueError(f"the hash_ids key must be at least {HASH_KEY_MIN_BYTES} bytes")
    return key


def hash_keys(hash_ids: Any) -> tuple[bytes | None, ...]:
    """The keys of ``hash_ids``, the first for new sessions; None means "the id itself".

    One key (bytes or str) hashes every id. A list rotates: the first key names
    new sessions and logins, every key finds a session made under it, so a
    session made before the rotation lives on until it ends (docs/rotation.md).
    None in a list stands for unhashed ids: ``[key, None]`` turns hashing on
    without ending the sessions stored under their plain ids.

    Raises:
        TypeError: not a key nor a list of keys (``hash_ids=True`` names no key).
        ValueError: a key shorter than 16 bytes, an empty list, a key twice.
    """
    if hash_ids is None:
        return (None,)
    if isinstance(hash_ids, (bytes, str)):
        return (hash_key(hash_ids),)
    if not isinstance(hash_ids, (list, tuple)):
        return (hash_key(hash_ids),)  # the TypeError that names what a key is
    keys = tuple(None if key is None else hash_key(key) for key in hash_ids)
    if not keys:
        raise ValueError("hash_ids=[] names no key: pass a key, or None for unhashed ids")
    if len(set(keys)) != len(keys):
        raise ValueError("hash_ids names the same key twice")
    return keys


def hashed_sid(key: bytes, sid: str) -> str:
    """The ``_id`` of ``sid`` with ``hash_ids``: HMAC-SHA256 under ``key``, base64url.

    One way: a leaked database holds no id a cookie could carry.
    """
    digest = hmac.new(key, sid.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def sid_digest(sid: str) -> str:
    """Name a session in logs without revealing its id (RELIABILITY item 10)."""
    return hashlib.sha256(sid.encode()).hexdigest()[:12]
