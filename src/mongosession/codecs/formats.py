"""Codecs: a session dict to the stored ``session`` field and back.

``json`` writes the string connect-mongo writes by default (``stringify: true``).
``bson`` writes a sub-document, as connect-mongo's ``stringify: false`` and the
older store's ``Filter`` option do, with keys escaped reversibly so that ``.``,
``$`` and NUL survive. Neither runs code from stored data: there is no pickle.
"""

from __future__ import annotations

import contextlib
import json
import math
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from mongosession._clock import parse_js_iso, to_js_iso
from mongosession._errors import CorruptSession, SessionEncodingError

_orjson: Any
try:  # orjson is optional (the ``speed`` extra); the output is the same string.
    import orjson as _orjson
except ImportError:  # pragma: no cover - exercised on machines without orjson
    _orjson = None


@runtime_checkable
class Codec(Protocol):
    """What a custom codec provides.

    ``encode`` returns a ``str`` (stored as a string) or a mapping (stored as a
    sub-document, whose keys must be valid MongoDB field names); ``decode``
    receives exactly what ``encode`` returned, as read back from MongoDB, and
    returns the session dict. Raise ``ValueError`` or ``TypeError`` for a payload
    that is not yours: the store reports it as :class:`CorruptSession`.
    """

    def encode(self, session: Mapping[str, Any]) -> str | Mapping[str, Any]:
        """Turn a session dict into the value stored in ``session``."""

    def decode(self, stored: Any) -> dict[str, Any]:
        """Turn the stored ``session`` value back into a session dict."""


def _reject(value: Any) -> Any:
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _dumps(value: Any) -> str:
    return json.dumps(
        value, separators=(",", ":"), ensure_ascii=False, allow_nan=False, default=_reject
    )


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


class JsonCodec:
    """connect-mongo's default: ``JSON.stringify(session)``, a compact string.

    JSON rules apply, as in JavaScript: keys become strings, tuples become
    lists, NaN and infinities become null, and any other value JSON cannot hold
    (a datetime, a set, bytes) raises :class:`SessionEncodingError`. Uses orjson
    when it is installed; the stored string is the same either way.
    """

    name = "json"

    def encode(self, session: Mapping[str, Any]) -> str:
        """Return the session as a compact JSON string."""
        try:
            if _orjson is not None:
                text: str = _orjson.dumps(
                    session,
                    default=_reject,
                    option=_orjson.OPT_NON_STR_KEYS
                    | _orjson.OPT_PASSTHROUGH_DATETIME
                    | _orjson.OPT_PASSTHROUGH_DATACLASS,
                ).decode()
                return text
            try:
                return _dumps(session)
            except ValueError:  # NaN or infinity: write null, as JSON.stringify (and orjson) do
                return _dumps(_finite(session))
        except (TypeError, ValueError) as exc:
            raise SessionEncodingError(f"session cannot be stored as JSON: {exc}") from None

    def decode(self, stored: Any) -> dict[str, Any]:
        """Parse the stored JSON string; anything but a JSON object is corrupt."""
        if not isinstance(stored, str):
            raise CorruptSession(f"expected a JSON string, found {type(stored).__name__}")
        try:
            value = _orjson.loads(stored) if _orjson is not None else json.loads(stored)
        except ValueError as exc:
            raise CorruptSession(f"stored session is not valid JSON: {exc}") from None
        if not isinstance(value, dict):
            raise CorruptSession("stored session is not a JSON object")
        return value


_ESCAPES = {"%": "%25", ".": "%2E", "$": "%24", "\0": "%00"}
_ESCAPE_RE = re.compile(r"[%.$\0]")
_UNESCAPES = {v: k for k, v in _ESCAPES.items()}
_UNESCAPE_RE = re.compile(r"%(?:25|2E|24|00)")


def escape_key(key: str) -> str:
    """Escape ``%``, ``.``, ``$`` and NUL so ``key`` is a valid field name."""
    return _ESCAPE_RE.sub(lambda m: _ESCAPES[m.group()], key)


def unescape_key(key: str) -> str:
    """Invert :func:`escape_key`."""
    return _UNESCAPE_RE.sub(lambda m: _UNESCAPES[m.group()], key)


#: Values with nothing inside to escape, returned before any slower check (an ABC
#: ``isinstance``): a large session holds hundreds of them.
_ATOMS = frozenset({str, int, float, bool, type(None), datetime})


def _escape(value: Any) -> Any:
    kind = type(value)
    if kind in _ATOMS:
        return value
    if kind is dict or (kind is not list and kind is not tuple and isinstance(value, Mapping)):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise SessionEncodingError(f"session keys must be str, not {type(k).__name__}")
            if "%" in k or "." in k or "$" in k or "\0" in k:
                k = escape_key(k)
            out[k] = v if type(v) in _ATOMS else _escape(v)
        return out
    if isinstance(value, (list, tuple)):
        return [v if type(v) in _ATOMS else _escape(v) for v in value]
    return value


def _unescape(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            (unescape_key(k) if "%" in k else k): (v if type(v) in _ATOMS else _unescape(v))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [v if type(v) in _ATOMS else _unescape(v) for v in value]
    return value


class BsonCodec:
    """A sub-document (connect-mongo's ``stringify: false``), keys escaped.

    ``cookie.expires`` is stored as a BSON date, as connect-mongo does, and read
    back as express-session's ISO string; other datetimes stay datetimes.
    Values BSON cannot hold raise :class:`SessionEncodingError` when the store
    encodes the document.
    """

    name = "bson"

    def encode(self, session: Mapping[str, Any]) -> dict[str, Any]:
        """Return the session as a sub-document with escaped keys."""
        doc: dict[str, Any] = _escape(session)
        cookie = doc.get("cookie")
        if isinstance(cookie, dict) and isinstance(cookie.get("expires"), str):
            with contextlib.suppress(ValueError):  # not a date: stored as the string it is
                doc["cookie"] = {**cookie, "expires": parse_js_iso(cookie["expires"])}
        return doc

    def decode(self, stored: Any) -> dict[str, Any]:
        """Unescape the stored sub-document."""
        if not isinstance(stored, dict):
            raise CorruptSession(f"expected a sub-document, found {type(stored).__name__}")
        doc: dict[str, Any] = _unescape(stored)
        cookie = doc.get("cookie")
        if isinstance(cookie, dict) and isinstance(cookie.get("expires"), datetime):
            cookie["expires"] = to_js_iso(cookie["expires"])
        return doc


def resolve_codec(codec: str | Codec) -> Codec:
    """Return the codec named ``"json"`` or ``"bson"``, or the user's own object."""
    if codec == "json":
        return JsonCodec()
    if codec == "bson":
        return BsonCodec()
    if isinstance(codec, str):
        raise ValueError(f'codec must be "json", "bson" or an object, not {codec!r}')
    if not isinstance(codec, Codec):
        raise TypeError("a custom codec needs encode(session) and decode(stored) methods")
    return codec
