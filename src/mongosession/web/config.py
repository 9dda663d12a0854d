"""The session middleware's options and the session's cookie, as express-session has them."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal, TypedDict

from mongosession import _clock
from mongosession._errors import ConfigurationError, ConfigurationTypeError
from mongosession._ids import generate_sid
from mongosession.web.cookies import EPOCH, set_cookie_header, sign

SameSite = Literal["lax", "strict", "none"]
Priority = Literal["low", "medium", "high"]
Unset = Literal["keep", "destroy"]


class SessionOptions(TypedDict, total=False):
    """The session options every adapter takes as keywords, typed (see :class:`SessionConfig`).

    ``SessionMiddleware(app, store=store, secret=s, **options)``, Flask's
    ``MongoSessionInterface`` and ``MongoSession``, and aiohttp's ``setup`` take
    these keywords and nothing else, so a misspelt or mistyped option is a type
    error for mypy, and a :class:`~mongosession.ConfigurationError` at start-up.
    A dict of options can be typed with it::

        options: SessionOptions = {"max_age": 3600, "rolling": True}
        app.add_middleware(SessionMiddleware, store=store, secret=s, **options)
    """

    name: str
    max_age: float | None
    expires: datetime | None
    http_only: bool
    secure: bool | Literal["auto"]
    same_site: SameSite | None
    path: str
    domain: str | None
    partitioned: bool
    priority: Priority | None
    rolling: bool
    resave: bool
    save_uninitialized: bool
    unset: Unset
    proxy: bool
    genid: Callable[[], str]
    header: str | None


@dataclass(frozen=True)
class SessionConfig:
    """The session middleware's options, the same in every adapter.

    Names follow express-session; durations are seconds. Defaults differ from
    express-session's where its own documentation recommends it: ``resave`` and
    ``save_uninitialized`` are False, ``same_site`` is ``"lax"``. An option
    that cannot work raises :class:`~mongosession.ConfigurationError` here, when
    the middleware is made. Example::

        config = SessionConfig(secret=["new", "old"], max_age=3600, secure="auto")
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
    priority: Priority | None = None
    rolling: bool = False
    resave: bool = False
    save_uninitialized: bool = False
    unset: Unset = "keep"
    proxy: bool = False
    genid: Callable[[], str] = generate_sid
    header: str | None = None
    secrets: tuple[str, ...] = field(init=False)

    @classmethod
    def from_options(cls, secret: str | Sequence[str], options: Mapping[str, Any]) -> SessionConfig:
        """The config of an adapter's ``secret`` and ``**options`` (or a settings mapping).

        Raises:
            ConfigurationTypeError: a name that is no session option (a
                ``TypeError``, as for any unexpected keyword argument).
            ConfigurationError: an option that cannot work.
        """
        unknown = sorted(set(options) - SessionOptions.__optional_keys__)
        if unknown:
            raise ConfigurationTypeError(
                f"unknown session option {', '.join(map(repr, unknown))}; the options are "
                f"{', '.join(sorted(SessionOptions.__optional_keys__))}"
            )
        return cls(secret=secret, **options)

    def __post_init__(self) -> None:
        # Callers are often untyped (settings files): the types are checked too.
        secret = self.secret
        if isinstance(secret, str):
            secrets: tuple[str, ...] = (secret,)
        else:
            secrets = tuple(secret) if isinstance(secret, Sequence) else ()
        if not secrets or not all(isinstance(s, str) and s for s in secrets):
            raise ConfigurationError(
                "secret must be a non-empty str or a list of them (newest first)"
            )
        object.__setattr__(self, "secrets", secrets)
        for option in ("name", "path"):
            if not isinstance(getattr(self, option), str):
                raise ConfigurationTypeError(f"{option} must be a str")
        if self.header is not None and (not isinstance(self.header, str) or not self.header):
            raise ConfigurationError("header must be None or a header name")
        if not callable(self.genid):
            raise ConfigurationTypeError("genid must be callable (it returns a new session id)")
        if not self.name or any(c in self.name for c in ' ;,="\t\r\n'):
            raise ConfigurationError(f"invalid cookie name {self.name!r}")
        if self.max_age is not None:
            if not isinstance(self.max_age, (int, float)) or isinstance(self.max_age, bool):
                raise ConfigurationTypeError("max_age must be a number of seconds or None")
            if self.max_age < 0:
                raise ConfigurationError("max_age must be a positive number of seconds")
        if self.same_site is not None:
            same_site = self.same_site.lower() if isinstance(self.same_site, str) else None
            if same_site not in ("lax", "strict", "none"):
                raise ConfigurationError('same_site must be "lax", "strict", "none" or None')
            object.__setattr__(self, "same_site", same_site)
            if same_site == "none" and self.secure is False:
                raise ConfigurationError(
                    "same_site='none' requires secure=True or 'auto' (browsers refuse it)"
                )
        if self.secure not in (True, False, "auto"):
            raise ConfigurationError('secure must be True, False or "auto"')
        if self.partitioned and self.secure is False:
            raise ConfigurationError("partitioned cookies must be secure")
        if self.name.startswith("__Host-") and (
            self.secure is not True or self.path != "/" or self.domain
        ):
            raise ConfigurationError("a __Host- cookie needs secure=True, path='/' and no domain")
        if self.name.startswith("__Secure-") and self.secure is not True:
            raise ConfigurationError("a __Secure- cookie needs secure=True")
        if self.unset not in ("keep", "destroy"):
            raise ConfigurationError('unset must be "keep" or "destroy"')
        if self.priority is not None and self.priority not in ("low", "medium", "high"):
            raise ConfigurationError('priority must be "low", "medium", "high" or None')
        if not self.path.startswith("/"):
            raise ConfigurationError("path must start with /")


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
