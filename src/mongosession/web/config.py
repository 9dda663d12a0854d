"""The session middleware's options and the session's cookie, as express-session has them."""

from __future__ import annotations

import copy
import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal, TypedDict

from mongosession import _clock
from mongosession._errors import ConfigurationError, ConfigurationTypeError
from mongosession._ids import generate_sid
from mongosession.web.cookies import EPOCH, set_cookie_header, sign

SameSite = Literal["lax", "strict", "none"]
#: The ``same_site`` option: a SameSite value, or ``"auto"`` (``"none"`` on secure
#: requests, ``"lax"`` on others, as express-session 1.19's ``sameSite: 'auto'``).
SameSiteOption = Literal["lax", "strict", "none", "auto"]
Priority = Literal["low", "medium", "high"]
Unset = Literal["keep", "destroy"]
#: ``record_ip``: the client's address as it is, truncated (its /24 for IPv4, its
#: /48 for IPv6), or not at all.
RecordIp = Literal["full", "truncated", "none"]

#: A signing secret: a str (signed with its UTF-8 bytes) or bytes (as they are, as
#: express-session signs with a Buffer).
Secret = str | bytes

#: ``genid``: returns a new session id; it may take the request (see :class:`SessionConfig`).
GenId = Callable[[], str] | Callable[[Any], str]

#: ``cookie``: the cookie options of one request, computed from the request.
CookieFunction = Callable[[Any], Mapping[str, Any]]


class CookieOptions(TypedDict, total=False):
    """The cookie options, which a ``cookie`` function returns for one request.

    The same names, values and checks as the options themselves; any it leaves
    out keep the middleware's value. Example::

        def cookie(scope: Any) -> CookieOptions:
            api = scope["path"].startswith("/api/")
            return {"same_site": "strict" if api else "lax", "max_age": 3600}
    """

    max_age: float | None
    expires: datetime | None
    http_only: bool
    secure: bool | Literal["auto"]
    same_site: SameSiteOption | None
    path: str
    domain: str | None
    partitioned: bool
    priority: Priority | None


#: The names a ``cookie`` function may return.
COOKIE_OPTIONS = CookieOptions.__optional_keys__

#: Option names of express-session that mongosession spells otherwise, for the error.
_RENAMED = {"key": "name (key is express-session's deprecated alias of name)"}


class SessionOptions(CookieOptions, total=False):
    """The session options every adapter takes as keywords, typed (see :class:`SessionConfig`).

    ``SessionMiddleware(app, store=store, secret=s, **options)``, Flask's
    ``MongoSessionInterface`` and ``MongoSession``, and aiohttp's ``setup`` take
    these keywords and nothing else, so a misspelt or mistyped option is a type
    error for mypy, and a :class:`~mongosession.ConfigurationError` at start-up.
    A dict of options can be typed with it::

        options: SessionOptions = {"max_age": 3600, "rolling": True}
        app.add_middleware(SessionMiddleware, store=store, secret=s, **options)
    """

    # The cookie's options are CookieOptions' (inherited); then the rest.
    name: str
    rolling: bool
    resave: bool
    save_uninitialized: bool
    unset: Unset
    proxy: bool
    genid: GenId
    header: str | None
    cookie: CookieFunction | None
    record_devices: bool
    record_ip: RecordIp


@dataclass(frozen=True)
class SessionConfig:
    """The session middleware's options, the same in every adapter.

    Names follow express-session; durations are seconds. Defaults differ from
    express-session's where its own documentation recommends it: ``resave`` and
    ``save_uninitialized`` are False, ``same_site`` is ``"lax"``. An option
    that cannot work raises :class:`~mongosession.ConfigurationError` here, when
    the middleware is made. Example::

        config = SessionConfig(secret=["new", "old"], max_age=3600, secure="auto")

    ``secret`` is a str (signed with its UTF-8 bytes), bytes (as they are), or a
    list of them, newest first. ``genid`` returns a new id; one that takes an
    argument (one required positional parameter, or ``*args``) gets the request,
    as the adapter has it (:meth:`new_id`). ``cookie`` is a function of the
    request returning cookie options (:class:`CookieOptions`) that override the
    static ones for that request (:meth:`resolve`). ``record_devices`` records
    each session's user agent, client IP (as ``record_ip`` says) and activity
    beside its data, for "where you're signed in" pages (docs/devices.md).
    """

    secret: Secret | Sequence[Secret]
    name: str = "connect.sid"
    max_age: float | None = None
    expires: datetime | None = None
    http_only: bool = True
    secure: bool | Literal["auto"] = False
    same_site: SameSiteOption | None = "lax"
    path: str = "/"
    domain: str | None = None
    partitioned: bool = False
    priority: Priority | None = None
    rolling: bool = False
    resave: bool = False
    save_uninitialized: bool = False
    unset: Unset = "keep"
    proxy: bool = False
    genid: GenId = generate_sid
    header: str | None = None
    cookie: CookieFunction | None = None
    record_devices: bool = False
    record_ip: RecordIp = "full"
    #: The signing keys, newest first: each secret as bytes (a str's UTF-8 encoding).
    secrets: tuple[bytes, ...] = field(init=False)
    #: ``genid`` takes the request (one required positional parameter, or ``*args``).
    genid_takes_request: bool = field(init=False)
    #: ``genid`` cannot be called without the request (a required parameter).
    genid_needs_request: bool = field(init=False)

    @classmethod
    def from_options(
        cls, secret: Secret | Sequence[Secret], options: Mapping[str, Any]
    ) -> SessionConfig:
        """The config of an adapter's ``secret`` and ``**options`` (or a settings mapping).

        Raises:
            ConfigurationTypeError: a name that is no session option (a
                ``TypeError``, as for any unexpected keyword argument).
            ConfigurationError: an option that cannot work.
        """
        unknown = sorted(set(options) - SessionOptions.__optional_keys__)
        if unknown:
            hints = "".join(
                f"; for {name!r} use {_RENAMED[name]}" for name in unknown if name in _RENAMED
            )
            raise ConfigurationTypeError(
                f"unknown session option {', '.join(map(repr, unknown))}{hints}; the options "
                f"are {', '.join(sorted(SessionOptions.__optional_keys__))}"
            )
        return cls(secret=secret, **options)

    def __post_init__(self) -> None:
        # Callers are often untyped (settings files): the types are checked too.
        object.__setattr__(self, "secrets", _secrets(self.secret))
        for option in ("name", "path"):
            if not isinstance(getattr(self, option), str):
                raise ConfigurationTypeError(f"{option} must be a str")
        if self.header is not None and (not isinstance(self.header, str) or not self.header):
            raise ConfigurationError("header must be None or a header name")
        takes, needs = _genid_arity(self.genid)
        object.__setattr__(self, "genid_takes_request", takes)
        object.__setattr__(self, "genid_needs_request", needs)
        if self.cookie is not None and not callable(self.cookie):
            raise ConfigurationTypeError(
                "cookie must be None or a function of the request returning cookie options"
            )
        if not self.name or any(c in self.name for c in ' ;,="\t\r\n'):
            raise ConfigurationError(f"invalid cookie name {self.name!r}")
        if self.unset not in ("keep", "destroy"):
            raise ConfigurationError('unset must be "keep" or "destroy"')
        if not isinstance(self.record_devices, bool):
            raise ConfigurationTypeError("record_devices must be True or False")
        if self.record_ip not in ("full", "truncated", "none"):
            raise ConfigurationError('record_ip must be "full", "truncated" or "none"')
        self._check_cookie()

    def _check_cookie(self) -> None:
        # The cookie options: checked when the middleware is made, and for each
        # request's own with a ``cookie`` function (resolve()).
        if not isinstance(self.path, str):
            raise ConfigurationTypeError("path must be a str")
        if self.max_age is not None:
            if not isinstance(self.max_age, (int, float)) or isinstance(self.max_age, bool):
                raise ConfigurationTypeError("max_age must be a number of seconds or None")
            if self.max_age < 0:
                raise ConfigurationError("max_age must be a positive number of seconds")
        if self.expires is not None and (
            not isinstance(self.expires, datetime) or self.expires.tzinfo is None
        ):
            raise ConfigurationTypeError("expires must be a timezone-aware datetime or None")
        if self.secure not in (True, False, "auto"):
            raise ConfigurationError('secure must be True, False or "auto"')
        if self.same_site is not None:
            same_site = self.same_site.lower() if isinstance(self.same_site, str) else None
            if same_site not in ("lax", "strict", "none", "auto"):
                raise ConfigurationError(
                    'same_site must be "lax", "strict", "none", "auto" or None'
                )
            object.__setattr__(self, "same_site", same_site)
            if same_site == "none" and self.secure is False:
                raise ConfigurationError(
                    "same_site='none' requires secure=True or 'auto' (browsers refuse it)"
                )
            if same_site == "auto" and self.secure is False:
                raise ConfigurationError(
                    "same_site='auto' requires secure=True or 'auto': on https it sends "
                    "SameSite=None, which browsers refuse without Secure"
                )
        if self.partitioned and self.secure is False:
            raise ConfigurationError("partitioned cookies must be secure")
        if self.name.startswith("__Host-") and (
            self.secure is not True or self.path != "/" or self.domain
        ):
            raise ConfigurationError("a __Host- cookie needs secure=True, path='/' and no domain")
        if self.name.startswith("__Secure-") and self.secure is not True:
            raise ConfigurationError("a __Secure- cookie needs secure=True")
        if self.priority is not None and self.priority not in ("low", "medium", "high"):
            raise ConfigurationError('priority must be "low", "medium", "high" or None')
        if not self.path.startswith("/"):
            raise ConfigurationError("path must start with /")

    def resolve(self, request: Any) -> SessionConfig:
        """The options of one request: the ``cookie`` function's over the static ones.

        Without a ``cookie`` function, this config itself. ``request`` is what
        the adapter passes (the ASGI middleware: the scope).

        Raises:
            ConfigurationError: the function returned something other than a
                mapping of cookie options, or an option that cannot work (the
                same checks as at start-up); the request fails (500).
        """
        function = self.cookie
        if function is None:
            return self
        options = function(request)
        if not isinstance(options, Mapping):
            raise ConfigurationTypeError(
                f"the cookie function must return a mapping of cookie options, not "
                f"{type(options).__name__}"
            )
        unknown = sorted(set(options) - COOKIE_OPTIONS)
        if unknown:
            raise ConfigurationTypeError(
                f"the cookie function returned {', '.join(map(repr, unknown))}: the cookie "
                f"options are {', '.join(sorted(COOKIE_OPTIONS))}"
            )
        resolved = copy.copy(self)
        for option, value in options.items():
            object.__setattr__(resolved, option, value)
        object.__setattr__(resolved, "cookie", None)
        resolved._check_cookie()
        return resolved

    def new_id(self, request: Any = None) -> str:
        """A new id from ``genid``: given ``request`` when it takes one, else nothing.

        Raises:
            ConfigurationError: ``genid`` needs the request and there is none.
        """
        genid: Any = self.genid  # its arity was read once, when the config was made
        if self.genid_takes_request and request is not None:
            sid: str = genid(request)
        elif self.genid_needs_request:
            raise ConfigurationError(
                "genid takes the request, but this adapter gives the session layer none"
            )
        else:
            sid = genid()
        return sid  # checked by the caller (mongosession._ids.check_sid), not converted


def _secrets(secret: Any) -> tuple[bytes, ...]:
    # The signing keys of the secret option, as bytes; refused clearly when unusable.
    if secret is None:
        raise ConfigurationError(
            "the secret option is required, and it is None: an unset environment "
            "variable is the usual cause (secret=os.environ.get(...)); pass a str or "
            "bytes, or a list of them (newest first)"
        )
    if isinstance(secret, (str, bytes, bytearray)):
        secrets: list[Any] = [secret]
    elif isinstance(secret, Sequence):
        secrets = list(secret)
        if not secrets:
            raise ConfigurationError(
                "the secret option array (a list) must contain one or more secrets: "
                "str or bytes, newest first"
            )
    else:
        secrets = []
    if not secrets or not all(isinstance(s, (str, bytes, bytearray)) and s for s in secrets):
        raise ConfigurationError(
            "secret must be a non-empty str or bytes, or a list of them (newest first)"
        )
    return tuple(s.encode() if isinstance(s, str) else bytes(s) for s in secrets)


def _genid_arity(genid: Any) -> tuple[bool, bool]:
    # (takes the request, needs it), decided once from the signature. It takes the
    # request when it has a required positional parameter or *args: an optional
    # parameter (secrets.token_urlsafe's nbytes) is left alone.
    if not callable(genid):
        raise ConfigurationTypeError("genid must be callable (it returns a new session id)")
    try:
        signature = inspect.signature(genid)
    except (TypeError, ValueError):  # some builtins have none: called as before, bare
        return False, False
    parameters = list(signature.parameters.values())
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    required = [
        p
        for p in parameters
        if p.default is inspect.Parameter.empty
        and p.kind in (*positional, inspect.Parameter.KEYWORD_ONLY)
    ]
    star = any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in parameters)
    if not required:
        return star, False
    if len(required) == 1 and required[0].kind in positional:
        return True, True
    raise ConfigurationTypeError(
        f"genid must take no argument or one (the request), not {signature}"
    )


class SessionCookie:
    """The session's cookie, stored inside the session as express-session stores it."""

    __slots__ = (
        "_expires",
        "domain",
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
        self._expires = expires  # as given: only an assignment changes original_max_age
        self.secure = secure
        self.http_only = http_only
        self.domain = domain
        self.path = path
        self.same_site = same_site
        self.partitioned = partitioned
        self.priority = priority

    @classmethod
    def new(
        cls, config: SessionConfig, now: datetime, *, secure_request: bool = False
    ) -> SessionCookie:
        """A fresh cookie from the options (``same_site="auto"`` follows ``secure_request``)."""
        cookie = cls(
            secure=True if config.secure is True else None,  # express stores it only when set
            http_only=config.http_only,
            domain=config.domain,
            path=config.path,
            same_site=auto_same_site(config.same_site, secure_request),
            partitioned=config.partitioned or None,
            priority=config.priority,
        )
        if config.max_age is not None:
            cookie.original_max_age = int(config.max_age * 1000)
            cookie._expires = _clock.after(now, config.max_age)
        elif config.expires is not None:
            cookie._expires = config.expires
        return cookie

    @classmethod
    def from_json(
        cls, data: Any, config: SessionConfig, now: datetime, *, secure_request: bool = False
    ) -> SessionCookie:
        """The cookie a stored session carries; the options fill what it lacks."""
        if not isinstance(data, Mapping):
            return cls.new(config, now, secure_request=secure_request)
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
        data["expires"] = _clock.to_js_iso(self._expires) if self._expires else None
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
    def expires(self) -> datetime | None:
        """When the cookie expires (None for a browser-session cookie).

        Assigning it works as express-session's ``cookie.expires = date``: the
        cookie's lifetime (``original_max_age``) becomes the time left until
        ``date`` (None: a browser-session cookie), so the end of the request,
        which restarts the lifetime from now, keeps the date, and later requests
        (``rolling``, a change) extend the cookie by that lifetime.

        Raises:
            TypeError: not a timezone-aware datetime, nor None.
        """
        return self._expires

    @expires.setter
    def expires(self, value: datetime | None) -> None:
        if value is None:
            self.original_max_age = None
        elif isinstance(value, datetime) and value.tzinfo is not None:
            self.original_max_age = (value - _clock.now()) // timedelta(milliseconds=1)
        else:
            raise TypeError("cookie.expires must be a timezone-aware datetime or None")
        self._expires = value

    @property
    def max_age(self) -> float | None:
        """Seconds until the cookie expires (None for a browser-session cookie).

        Setting it (seconds, or None) restarts the cookie's lifetime from now.
        """
        if self._expires is None:
            return None
        return (self._expires - _clock.now()).total_seconds()

    @max_age.setter
    def max_age(self, seconds: float | None) -> None:
        if seconds is None:
            self.original_max_age = None
            self._expires = None
        else:
            self.original_max_age = int(seconds * 1000)
            self._expires = _clock.after(_clock.now(), seconds)

    def reset_max_age(self, now: datetime) -> None:
        """express-session's ``touch``: the expiry restarts from now."""
        if self.original_max_age is not None:
            self._expires = now + timedelta(milliseconds=self.original_max_age)

    def header(self, name: str, sid: str, secret: str | bytes) -> str:
        """The ``Set-Cookie`` value carrying the signed ``sid``."""
        same_site = self.same_site
        if same_site is True:
            same_site = "strict"
        return set_cookie_header(
            name,
            sign(sid, secret),
            expires=self._expires,
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


def auto_same_site(same_site: Any, secure_request: bool) -> Any:
    """``same_site="auto"`` for one request: ``"none"`` when secure, else ``"lax"``."""
    if same_site == "auto":
        return "none" if secure_request else "lax"
    return same_site
