"""express-session's semantics for one request, with no I/O.

:class:`SessionConfig` holds the middleware options (named after
express-session's), :class:`Session` is the dict a handler sees, and
:class:`RequestState` decides, from the options and what happened to the
session, whether to create, save, touch or destroy it and which cookie to send.
The adapters carry the decision out (``_async_exchange.py`` and its generated
blocking twin); nothing here waits on anything.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from . import _clock
from ._cookies import EPOCH, read_cookie, set_cookie_header, sign, unsign
from ._core import StoredSession
from ._errors import ReservedKey
from ._ids import check_sid, generate_sid

try:
    import orjson as _orjson
except ImportError:  # pragma: no cover - depends on the installed extras
    _orjson = None  # type: ignore[assignment]

SameSite = Literal["lax", "strict", "none"]

#: The session key the library keeps for itself: the stored document holds
#: express-session's cookie object there (``session.cookie``), so a value of the
#: application's under it would be lost, or would move the session's expiry.
RESERVED_KEY = "cookie"


def reserved_key_error(
    hint: str = "Use session.cookie for the cookie, and another key for your data.",
) -> ReservedKey:
    """The error for assigning :data:`RESERVED_KEY`; ``hint`` says what to do instead."""
    return ReservedKey(
        f"the session key {RESERVED_KEY!r} is reserved: the stored session keeps its "
        f"cookie object there. {hint}"
    )


def _fingerprint(data: Mapping[str, Any]) -> bytes:
    # What express-session hashes: the session without its cookie. Any value
    # (a datetime under the bson codec, say) gets a stable text form.
    # A plain copy, so that serialising does not go through Session's reads
    # (which would mark it accessed).
    plain = dict.copy(data) if isinstance(data, dict) else dict(data)
    if _orjson is not None:
        try:
            return _orjson.dumps(plain, default=repr, option=_orjson.OPT_NON_STR_KEYS)
        except TypeError:
            pass
    return json.dumps(plain, default=repr, separators=(",", ":")).encode()


@dataclass(frozen=True)
class SessionConfig:
    """The session middleware's options, the same in every adapter.

    Names follow express-session; durations are seconds. Defaults differ from
    express-session's where its own documentation recommends it: ``resave`` and
    ``save_uninitialized`` are False, ``same_site`` is ``"lax"``.
    """

    secret: str | Sequence[str]
    name: str = "connect.sid"
    max_age: float | None = None
    expires: datetime | None = None
    http_only: bool = True
    secure: bool | Literal["auto"] = False
    same_site: SameSite | None = "lax"
    path: str = "/"
    domain: str | None = None
    partitioned: bool = False
    priority: Literal["low", "medium", "high"] | None = None
    rolling: bool = False
    resave: bool = False
    save_uninitialized: bool = False
    unset: Literal["keep", "destroy"] = "keep"
    proxy: bool = False
    genid: Callable[[], str] = generate_sid
    header: str | None = None
    secrets: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        secrets = (self.secret,) if isinstance(self.secret, str) else tuple(self.secret)
        if not secrets or not all(isinstance(s, str) and s for s in secrets):
            raise ValueError("secret must be a non-empty str or a list of them (newest first)")
        object.__setattr__(self, "secrets", secrets)
        if not self.name or any(c in self.name for c in ' ;,="\t\r\n'):
            raise ValueError(f"invalid cookie name {self.name!r}")
        if self.max_age is not None and self.max_age < 0:
            raise ValueError("max_age must be a positive number of seconds")
        if self.same_site is not None:
            same_site = self.same_site.lower()
            if same_site not in ("lax", "strict", "none"):
                raise ValueError('same_site must be "lax", "strict", "none" or None')
            object.__setattr__(self, "same_site", same_site)
            if same_site == "none" and self.secure is False:
                raise ValueError(
                    "same_site='none' requires secure=True or 'auto' (browsers refuse it)"
                )
        if self.secure not in (True, False, "auto"):
            raise ValueError('secure must be True, False or "auto"')
        if self.partitioned and self.secure is False:
            raise ValueError("partitioned cookies must be secure")
        if self.name.startswith("__Host-") and (
            self.secure is not True or self.path != "/" or self.domain
        ):
            raise ValueError("a __Host- cookie needs secure=True, path='/' and no domain")
        if self.name.startswith("__Secure-") and self.secure is not True:
            raise ValueError("a __Secure- cookie needs secure=True")
        if self.unset not in ("keep", "destroy"):
            raise ValueError('unset must be "keep" or "destroy"')
        if self.priority is not None and self.priority not in ("low", "medium", "high"):
            raise ValueError('priority must be "low", "medium", "high" or None')
        if not self.path.startswith("/"):
            raise ValueError("path must start with /")


class SessionCookie:
    """The session's cookie, stored inside the session as express-session stores it."""

    __slots__ = (
        "domain",
        "expires",
        "http_only",
        "original_max_age",
        "partitioned",
        "path",
        "priority",
        "same_site",
        "secure",
    )

    def __init__(
        self,
        *,
        original_max_age: int | None = None,
        expires: datetime | None = None,
        secure: bool | None = None,
        http_only: bool = True,
        domain: str | None = None,
        path: str = "/",
        same_site: str | bool | None = None,
        partitioned: bool | None = None,
        priority: str | None = None,
    ) -> None:
        self.original_max_age = original_max_age  # milliseconds, as stored
        self.expires = expires
        self.secure = secure
        self.http_only = http_only
        self.domain = domain
        self.path = path
        self.same_site = same_site
        self.partitioned = partitioned
        self.priority = priority

    @classmethod
    def new(cls, config: SessionConfig, now: datetime) -> SessionCookie:
        """A fresh cookie from the options."""
        cookie = cls(
            secure=True if config.secure is True else None,  # express stores it only when set
            http_only=config.http_only,
            domain=config.domain,
            path=config.path,
            same_site=config.same_site,
            partitioned=config.partitioned or None,
            priority=config.priority,
        )
        if config.max_age is not None:
            cookie.original_max_age = int(config.max_age * 1000)
            cookie.expires = _clock.after(now, config.max_age)
        elif config.expires is not None:
            cookie.expires = config.expires
        return cookie

    @classmethod
    def from_json(cls, data: Any, config: SessionConfig, now: datetime) -> SessionCookie:
        """The cookie a stored session carries; the options fill what it lacks."""
        if not isinstance(data, Mapping):
            return cls.new(config, now)
        get = data.get  # each key read once: this runs on every request with a session
        expires = get("expires")
        max_age = get("originalMaxAge")
        same_site = get("sameSite")
        secure = get("secure")
        domain = get("domain")
        path = get("path")
        priority = get("priority")
        try:
            when = _clock.parse_js_iso(expires) if isinstance(expires, str) else None
        except ValueError:
            when = None
        return cls(
            original_max_age=int(max_age) if isinstance(max_age, (int, float)) else None,
            expires=when,
            secure=secure if isinstance(secure, bool) else None,
            http_only=get("httpOnly", config.http_only) is not False,
            domain=domain if isinstance(domain, str) else None,
            path=path if isinstance(path, str) else config.path,
            same_site=same_site if isinstance(same_site, (str, bool)) else None,
            partitioned=get("partitioned") is True or None,
            priority=priority if isinstance(priority, str) else None,
        )

    def to_json(self) -> dict[str, Any]:
        """The stored form, in express-session's key order, unset keys left out."""
        data: dict[str, Any] = {"originalMaxAge": self.original_max_age}
        if self.partitioned is not None:
            data["partitioned"] = self.partitioned
        if self.priority is not None:
            data["priority"] = self.priority
        data["expires"] = _clock.to_js_iso(self.expires) if self.expires else None
        if self.secure is not None:
            data["secure"] = self.secure
        data["httpOnly"] = self.http_only
        if self.domain is not None:
            data["domain"] = self.domain
        data["path"] = self.path
        if self.same_site is not None:
            data["sameSite"] = self.same_site
        return data

    @property
    def max_age(self) -> float | None:
        """Seconds until the cookie expires (None for a browser-session cookie).

        Setting it (seconds, or None) restarts the cookie's lifetime from now.
        """
        if self.expires is None:
            return None
        return (self.expires - _clock.now()).total_seconds()

    @max_age.setter
    def max_age(self, seconds: float | None) -> None:
        if seconds is None:
            self.original_max_age = None
            self.expires = None
        else:
            self.original_max_age = int(seconds * 1000)
            self.expires = _clock.after(_clock.now(), seconds)

    def reset_max_age(self, now: datetime) -> None:
        """express-session's ``touch``: the expiry restarts from now."""
        if self.original_max_age is not None:
            self.expires = now + timedelta(milliseconds=self.original_max_age)

    def header(self, name: str, sid: str, secret: str) -> str:
        """The ``Set-Cookie`` value carrying the signed ``sid``."""
        same_site = self.same_site
        if same_site is True:
            same_site = "strict"
        return set_cookie_header(
            name,
            sign(sid, secret),
            expires=self.expires,
            domain=self.domain,
            path=self.path,
            secure=bool(self.secure),
            http_only=self.http_only,
            same_site=same_site or None,
            partitioned=bool(self.partitioned),
            priority=self.priority,
        )

    def clearing_header(self, name: str) -> str:
        """A ``Set-Cookie`` value that makes the browser drop the cookie."""
        same_site = "strict" if self.same_site is True else self.same_site or None
        return set_cookie_header(
            name,
            "",
            expires=EPOCH,
            domain=self.domain,
            path=self.path,
            secure=bool(self.secure),
            http_only=self.http_only,
            same_site=same_site,
        )


class Session(dict[str, Any]):
    """The session a handler sees: a dict, plus ``id``, ``cookie`` and methods.

    It knows whether it was read (``accessed``) so responses that depend on it
    get ``Vary: Cookie``; changes are found by comparing content, so nested
    changes (``session["cart"].append(x)``) count. The methods
    ``regenerate()``, ``destroy()``, ``reload()``, ``save()`` and ``touch()``
    are awaitable in the async adapters and plain calls in the blocking ones.

    The key ``"cookie"`` is reserved (the stored document's cookie object):
    assigning it raises :class:`~mongosession.ReservedKey`, whatever the way
    (``[]=``, ``update``, ``setdefault``, ``|=``); reading it is a ``KeyError``
    like any missing key. The cookie is :attr:`cookie`.
    """

    __slots__ = ("_exchange", "accessed", "cookie", "id")

    def __init__(
        self, data: Mapping[str, Any], *, sid: str, cookie: SessionCookie, exchange: Any
    ) -> None:
        super().__init__(data)
        self.id = sid
        self.cookie = cookie
        self.accessed = False
        self._exchange = exchange

    def __repr__(self) -> str:
        return f"<Session {dict.__repr__(self)}>"

    # Reading marks the session as accessed.
    def __getitem__(self, key: str) -> Any:
        self.accessed = True
        return dict.__getitem__(self, key)

    def get(self, key: str, default: Any = None) -> Any:
        self.accessed = True
        return dict.get(self, key, default)

    def __contains__(self, key: object) -> bool:
        self.accessed = True
        return dict.__contains__(self, key)

    def __iter__(self) -> Iterator[str]:
        self.accessed = True
        return dict.__iter__(self)

    def __len__(self) -> int:
        self.accessed = True
        return dict.__len__(self)

    def keys(self) -> Any:
        self.accessed = True
        return dict.keys(self)

    def values(self) -> Any:
        self.accessed = True
        return dict.values(self)

    def items(self) -> Any:
        self.accessed = True
        return dict.items(self)

    def __setitem__(self, key: str, value: Any) -> None:
        if key == RESERVED_KEY:
            raise reserved_key_error()
        self.accessed = True
        dict.__setitem__(self, key, value)

    def __delitem__(self, key: str) -> None:
        self.accessed = True
        dict.__delitem__(self, key)

    def setdefault(self, key: str, default: Any = None) -> Any:
        if key == RESERVED_KEY:
            raise reserved_key_error()
        self.accessed = True
        return dict.setdefault(self, key, default)

    def pop(self, key: str, *default: Any) -> Any:
        self.accessed = True
        return dict.pop(self, key, *default)

    def popitem(self) -> tuple[str, Any]:
        self.accessed = True
        return dict.popitem(self)

    def update(self, *args: Any, **kwargs: Any) -> None:
        # All or nothing: the reserved key is looked for before anything changes
        # (a plain dict of the arguments, as dict.update reads them, once).
        self.accessed = True
        data = dict(*args, **kwargs)
        if RESERVED_KEY in data:
            raise reserved_key_error()
        dict.update(self, data)

    # dict's own |= would put the keys in without going through update().
    def __ior__(self, other: Any) -> Session:  # type: ignore[override,misc]
        self.update(other)
        return self

    def clear(self) -> None:
        self.accessed = True
        dict.clear(self)

    # express-session's methods, carried out by the adapter's exchange.
    def regenerate(self, *, keep_data: bool = True) -> Any:
        """New id, old record deleted, data kept (``keep_data=False`` drops it, as express does)."""
        return self._exchange.regenerate(keep_data=keep_data)

    def destroy(self) -> Any:
        """Delete the record now; the cookie is cleared and the session starts empty."""
        return self._exchange.destroy()

    def reload(self) -> Any:
        """Re-read from the store; False (and an empty session) when it is gone."""
        return self._exchange.reload()

    def save(self) -> Any:
        """Save now rather than at the end of the request."""
        return self._exchange.save()

    def touch(self) -> Any:
        """Restart the cookie's lifetime (``max_age``) from now."""
        return self._exchange.touch()


def _check_keys(session: Session) -> None:
    # The session's own methods refuse the key; this catches a plain dict the
    # handler put in the request's session slot (adopted at the commit) or a
    # dict method called past the session's.
    if dict.__contains__(session, RESERVED_KEY):
        raise reserved_key_error()


@dataclass
class Plan:
    """What the end of a request must do."""

    destroy: str | None = None  # a session id to delete (unset="destroy")
    create: bool = False  # insert a new session
    update: bool = False  # save a loaded one (update-only)
    touch: bool = False  # move the expiry
    set_cookie: bool = False
    clear_cookie: bool = False


class RequestState:
    """One request's session bookkeeping: express-session's decision table."""

    def __init__(
        self,
        config: SessionConfig,
        *,
        secure_request: bool,
        session_class: type[Session] = Session,
    ) -> None:
        self.config = config
        self.secure_request = secure_request
        self.session_class = session_class  # an adapter's subclass (Flask's SessionMixin)
        self.cookie_sid: str | None = None  # the verified id the client presented
        self.original_id: str | None = None
        self.original_fp: bytes = b""
        self.saved_fp: bytes | None = None
        self.in_store = False  # the session's id has a stored document
        self.revision: Any = None
        self.last_modified: datetime | None = None
        self.ended_cookie = False  # the presented session ended during the request
        # ...by destroy(), or found ended: no new session unless written to.
        self.ended = False
        self.written = False  # saved during the request: no touch needed at the end

    # -- reading the request -------------------------------------------------

    def presented_sid(self, *, cookie_header: str | None, header_value: str | None) -> str | None:
        """The verified session id the request carries, or None.

        Reads the configured header instead of the cookie when ``header`` is
        set. Unsigned, badly signed or malformed values are ignored (a fresh
        session follows), never adopted.
        """
        config = self.config
        if config.header is not None:
            raw = header_value
        else:
            raw = read_cookie(cookie_header, config.name) if cookie_header else None
        if not raw or len(raw) > 1024:
            return None
        sid = unsign(raw, config.secrets)
        if sid is None:
            return None
        try:
            self.cookie_sid = check_sid(sid)
        except ValueError:
            return None
        return sid

    def new_session(self, exchange: Any, now: datetime) -> Session:
        """A new, empty, unsaved session with a fresh id."""
        session = self.session_class(
            {}, sid=self.new_id(), cookie=SessionCookie.new(self.config, now), exchange=exchange
        )
        self.adopt(session, in_store=False)
        return session

    def new_id(self) -> str:
        """An id from ``genid``, checked like any presented id."""
        return check_sid(self.config.genid())

    def loaded_session(
        self, sid: str, stored: Mapping[str, Any], exchange: Any, now: datetime
    ) -> Session:
        """The session for a stored one (its ``cookie`` key becomes ``.cookie``)."""
        data = dict(stored)
        cookie = SessionCookie.from_json(data.pop("cookie", None), self.config, now)
        session = self.session_class(data, sid=sid, cookie=cookie, exchange=exchange)
        self.revision = getattr(stored, "revision", None)
        self.last_modified = getattr(stored, "last_modified", None)
        self.adopt(session, in_store=True)
        return session

    def adopt(self, session: Session, *, in_store: bool) -> None:
        """Take ``session`` as the request's starting point."""
        self.original_id = session.id
        self.original_fp = _fingerprint(session)
        self.in_store = in_store
        self.saved_fp = self.original_fp if in_store and not self.config.resave else None
        if not in_store:
            self.revision = None
            self.last_modified = None

    # -- the decision table ----------------------------------------------------

    # ``fingerprint``, where taken, is the session's current one when the caller
    # has it already: plan() computes it once instead of once per question.

    def modified(self, session: Session, fingerprint: bytes | None = None) -> bool:
        """Changed since loaded or created: another id, or other content."""
        return (
            session.id != self.original_id
            or (fingerprint or _fingerprint(session)) != self.original_fp
        )

    def saved(self, session: Session, fingerprint: bytes | None = None) -> bool:
        """Stored as it is now (same id, same content as the last save or load)."""
        return (
            session.id == self.original_id
            and (fingerprint or _fingerprint(session)) == self.saved_fp
        )

    def should_save(self, session: Session, fingerprint: bytes | None = None) -> bool:
        """express-session's ``shouldSave``."""
        config = self.config
        if (
            (not config.save_uninitialized or self.ended)
            and self.saved_fp is None
            and self.cookie_sid != session.id
        ):
            return self.modified(session, fingerprint)
        return not self.saved(session, fingerprint)

    def plan(self, session: Session | None, now: datetime) -> Plan:
        """Decide what the end of the request does; ``session`` None means unset."""
        config = self.config
        if session is None:
            plan = Plan()
            if self.cookie_sid is not None and config.unset == "destroy":
                plan.destroy = self.cookie_sid
                plan.clear_cookie = True
            return plan
        _check_keys(session)
        if config.secure == "auto":
            session.cookie.secure = self.secure_request
        session.cookie.reset_max_age(now)
        plan = Plan()
        fingerprint = _fingerprint(session)
        if self.should_save(session, fingerprint):
            plan.create = not self.in_store
            plan.update = self.in_store
        else:
            plan.touch = self.in_store and self.cookie_sid == session.id and not self.written
        if self.cookie_sid != session.id:
            # A new id: sent when it is stored already (saved or regenerated
            # during the request), or will be; after a logout only if written to.
            plan.set_cookie = (
                (config.save_uninitialized and not self.ended)
                or self.in_store
                or self.modified(session, fingerprint)
            )
        else:
            plan.set_cookie = config.rolling or (
                session.cookie.expires is not None and self.modified(session, fingerprint)
            )
        if plan.set_cookie and session.cookie.secure and not self.secure_request:
            plan.set_cookie = False  # express-session never sends a Secure cookie over http
        if self.cookie_sid is not None and not plan.set_cookie and self.cookie_sid != session.id:
            # The presented session ended (destroy, regenerate) and no new one follows.
            plan.clear_cookie = self.ended_cookie
        return plan

    def mark_saved(self, session: Session, written: StoredSession) -> None:
        """After a write: the session is stored as it is now."""
        self.in_store = True
        self.written = True
        self.original_id = session.id
        self.saved_fp = _fingerprint(session)
        self.revision = written.revision
        self.last_modified = written.last_modified

    def stored_form(self, session: Session) -> StoredSession:
        """What the store keeps: the data plus the cookie (express-session's shape).

        A StoredSession carrying the revision read, so the store can merge
        concurrent changes and report the new revision back.

        Raises:
            ReservedKey: the data holds the key ``cookie`` (put there past the
                session's own checks, e.g. a plain dict in the ASGI session slot).
        """
        _check_keys(session)
        data = {"cookie": session.cookie.to_json()}
        data.update(dict.items(session))
        return StoredSession(data, revision=self.revision, last_modified=self.last_modified)

    def touch_form(self, session: Session) -> StoredSession:
        """What ``store.touch`` needs: the cookie's expiry and the last write.

        The expiry stays a datetime, which the store takes as it is (BSON keeps
        milliseconds, as the JSON form does): formatting it for the store to parse
        back would cost more than the rest of a touch.
        """
        cookie = {"expires": session.cookie.expires}
        return StoredSession({"cookie": cookie}, last_modified=self.last_modified)

    def cookie_headers(self, session: Session | None, plan: Plan) -> list[tuple[str, str]]:
        """Response headers for the plan: Set-Cookie (or the id header) and caching rules."""
        config = self.config
        headers: list[tuple[str, str]] = []
        if plan.set_cookie and session is not None:
            if config.header is not None:
                headers.append((config.header, sign(session.id, config.secrets[0])))
            else:
                headers.append(
                    (
                        "set-cookie",
                        session.cookie.header(config.name, session.id, config.secrets[0]),
                    )
                )
        elif plan.clear_cookie and config.header is None:
            cookie = (
                session.cookie if session is not None else SessionCookie.new(config, _clock.now())
            )
            headers.append(("set-cookie", cookie.clearing_header(config.name)))
        if headers:
            headers.append(("cache-control", "no-store"))
        if (session is not None and session.accessed) or self.cookie_sid is not None:
            headers.append(("vary", "Cookie" if config.header is None else config.header))
        return headers
