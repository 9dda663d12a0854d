"""Codecs: a session dict to the stored ``session`` field and back.

``json`` writes the string connect-mongo writes by default (``stringify: true``).
``bson`` writes the sub-document connect-mongo's ``stringify: false`` writes, keys as
they are (MongoDB 5.0+ stores ``.`` and ``$`` in field names); with
``BsonCodec(escape_keys=True)``, keys escaped reversibly as mongosession 0.1.0 wrote
them (the older store's ``Filter``). Neither runs code from stored data: there is no
pickle.
"""

from __future__ import annotations

import contextlib
import json
import math
import re
from collections.abc import Callable, Mapping
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
    (a datetime, a set, bytes) raises :class:`SessionEncodingError`. A float keeps
    its decimal point or exponent (``100.0``, where ``JSON.stringify`` writes
    ``100``), so that it reads back as a float. Uses orjson when it is installed;
    the stored string is the same either way, but for the exponent of a float
    (``1.5e-7`` with orjson, ``1.5e-07`` without).
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


_MISSING: Any = object()

#: Values with nothing inside to escape, returned before any slower check (an ABC
#: ``isinstance``): a large session holds hundreds of them.
_ATOMS = frozenset({str, int, float, bool, type(None), datetime})


def _key_as_is(key: str) -> str:
    return key


def _escaped_key(key: str) -> str:
    return escape_key(key) if "%" in key or "." in key or "$" in key or "\0" in key else key


def _walk(value: Any, key: Callable[[str], str]) -> Any:
    # A copy of every container, its keys through ``key``: the stored form must not
    # share a list or a dict with the session (a later change to the session would
    # change the revision the next save compares against), and the read session
    # must not share one with the revision either.
    kind = type(value)
    if kind in _ATOMS:
        return value
    if kind is dict or (kind is not list and kind is not tuple and isinstance(value, Mapping)):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise SessionEncodingError(f"session keys must be str, not {type(k).__name__}")
            out[key(k)] = v if type(v) in _ATOMS else _walk(v, key)
        return out
    if isinstance(value, (list, tuple)):
        return [v if type(v) in _ATOMS else _walk(v, key) for v in value]
    return value


def _escape(value: Any) -> Any:
    """A copy with 0.1.0's escaped keys (``escape_keys=True``)."""
    return _walk(value, _escaped_key)


def _copy(value: Any) -> Any:
    """A copy with the keys as they are (connect-mongo's raw keys)."""
    return _walk(value, _key_as_is)


def _unescape(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            (unescape_key(k) if "%" in k else k): (v if type(v) in _ATOMS else _unescape(v))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [v if type(v) in _ATOMS else _unescape(v) for v in value]
    return value


#: The attributes of express-session's ``Cookie.toJSON()``, in its order. Those left
#: undefined there reach MongoDB as null through connect-mongo (the Node driver
#: serialises ``undefined`` as null), so ``stringify: false`` stores all nine.
COOKIE_ATTRIBUTES = (
    "originalMaxAge",
    "partitioned",
    "priority",
    "expires",
    "secure",
    "httpOnly",
    "domain",
    "path",
    "sameSite",
)


#: The attributes express-session may leave undefined: null in connect-mongo's
#: document, left out of the JSON form (``JSON.stringify`` drops undefined).
UNDEFINED_COOKIE_ATTRIBUTES = frozenset({"partitioned", "priority", "secure", "domain", "sameSite"})


def _stored_expires(cookie: dict[str, Any]) -> None:
    # cookie.expires as the BSON date connect-mongo stores (a Date there).
    if isinstance(cookie.get("expires"), str):
        with contextlib.suppress(ValueError):  # not a date: stored as the string it is
            cookie["expires"] = parse_js_iso(cookie["expires"])


class BsonCodec:
    """A sub-document: connect-mongo's ``stringify: false`` document.

    By default the document is connect-mongo's, field for field: keys as they are
    (``a.b``, ``$x``, ``100%``; MongoDB 5.0+ stores such field names, and a key
    with NUL, which BSON cannot hold, raises :class:`SessionEncodingError`), the
    ``cookie`` first with each of express-session's attributes (null when unset;
    a session without cookie gets ``cookie: null``), ``cookie.expires`` as a
    BSON date. Reading gives the session in the JSON form express-session hands a
    store, the form the ``json`` codec reads too: keys as stored,
    ``cookie.expires`` as its ISO string, and the attributes express-session
    leaves undefined (``partitioned``, ``priority``, ``secure``, ``domain``,
    ``sameSite``) left out when null, as is a null ``cookie``; other datetimes
    stay datetimes. So a session reads back as it was written (a cookie lacking
    ``originalMaxAge``, ``expires``, ``httpOnly`` or ``path``, which
    express-session always writes, gets them as None). Values BSON cannot hold
    raise :class:`SessionEncodingError` when the store encodes the document.

    ``escape_keys=True`` reads and writes the format of mongosession 0.1.0 and of
    the older store's ``Filter`` option instead: ``%``, ``.``, ``$`` and NUL in
    keys escaped as ``%25 %2E %24 %00`` (:func:`escape_key`), the cookie as given.
    Node reads such keys escaped.

    Example::

        store = MongoStore(uri=..., codec="bson")  # BsonCodec()
        legacy = MongoStore(uri=..., codec=BsonCodec(escape_keys=True))
    """

    name = "bson"

    def __init__(self, *, escape_keys: bool = False) -> None:
        self.escape_keys = escape_keys

    def encode(self, session: Mapping[str, Any]) -> dict[str, Any]:
        """Return the session as the sub-document to store."""
        if self.escape_keys:
            escaped: dict[str, Any] = _escape(session)
            if isinstance(escaped.get("cookie"), dict):
                _stored_expires(escaped["cookie"])  # a copy already
            return escaped
        doc: dict[str, Any] = _copy(session)
        cookie = doc.pop("cookie", None)
        if isinstance(cookie, dict):
            full = {name: cookie.get(name) for name in COOKIE_ATTRIBUTES}
            full.update(cookie)  # keys express-session does not write come after its own
            _stored_expires(full)
            cookie = full
        # connect-mongo's serialiser starts its document with the cookie.
        return {"cookie": cookie, **doc}

    def decode(self, stored: Any) -> dict[str, Any]:
        """The session dict of a stored sub-document."""
        if not isinstance(stored, dict):
            raise CorruptSession(f"expected a sub-document, found {type(stored).__name__}")
        if self.escape_keys:
            doc: dict[str, Any] = _unescape(stored)
            cookie = doc.get("cookie")
            if isinstance(cookie, dict) and isinstance(cookie.get("expires"), datetime):
                cookie["expires"] = to_js_iso(cookie["expires"])  # a copy already
            return doc
        doc = _copy(stored)
        cookie = doc.get("cookie", _MISSING)
        if cookie is None:
            del doc["cookie"]  # connect-mongo's null for a session without cookie
        elif isinstance(cookie, dict):
            for name in UNDEFINED_COOKIE_ATTRIBUTES.intersection(cookie):
                if cookie[name] is None:
                    del cookie[name]
            if isinstance(cookie.get("expires"), datetime):
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
