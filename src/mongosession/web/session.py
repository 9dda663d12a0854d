"""The session a handler sees: a dict that knows whether it was read and changed."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, Generic, overload

from typing_extensions import TypeVar

from mongosession._errors import ReservedKey
from mongosession.web.config import SessionCookie

if TYPE_CHECKING:
    from mongosession.store.devices import DeviceSession
    from mongosession.web.asynchronous.exchange import AsyncExchange
    from mongosession.web.synchronous.exchange import Exchange

try:
    import orjson as _orjson
except ImportError:  # pragma: no cover - depends on the installed extras
    _orjson = None  # type: ignore[assignment]

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


def session_fingerprint(data: Mapping[str, Any]) -> bytes:
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


#: The exchange behind a session: :class:`AsyncExchange` (the async adapters) or
#: :class:`Exchange` (the blocking ones). It decides how the methods are typed; a
#: bare ``Session`` annotation means the async adapters' (PEP 696 default).
E = TypeVar("E", bound="AsyncExchange | Exchange", default="AsyncExchange")


class Session(dict[str, Any], Generic[E]):
    """The session a handler sees: a dict, plus ``id``, ``cookie`` and methods.

    It knows whether it was read (``accessed``) so responses that depend on it
    get ``Vary: Cookie``; changes are found by comparing content, so nested
    changes (``session["cart"].append(x)``) count. The methods
    ``regenerate()``, ``destroy()``, ``reload()``, ``save()`` and ``touch()``
    are awaitable in the async adapters (an :data:`AsyncSession`) and plain
    calls in the blocking ones (a :data:`SyncSession`); mypy knows which::

        session = get_session(request)  # mongosession.asgi: an AsyncSession
        await session.regenerate()

    The key ``"cookie"`` is reserved (the stored document's cookie object):
    assigning it raises :class:`~mongosession.ReservedKey`, whatever the way
    (``[]=``, ``update``, ``setdefault``, ``|=``); reading it is a ``KeyError``
    like any missing key. The cookie is :attr:`cookie`.
    """

    __slots__ = ("_exchange", "accessed", "cookie", "id")

    def __init__(
        self, data: Mapping[str, Any], *, sid: str, cookie: SessionCookie, exchange: E
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
    def __ior__(self, other: Any) -> Session[E]:  # type: ignore[override,misc]
        self.update(other)
        return self

    def clear(self) -> None:
        self.accessed = True
        dict.clear(self)

    # express-session's methods, carried out by the adapter's exchange: awaitable
    # when that is an AsyncExchange, blocking calls when it is an Exchange.

    @overload
    def regenerate(self: AsyncSession, *, keep_data: bool = True) -> Awaitable[None]: ...
    @overload
    def regenerate(self: SyncSession, *, keep_data: bool = True) -> None: ...
    def regenerate(self, *, keep_data: bool = True) -> Awaitable[None] | None:
        """New id, old record deleted, data kept (``keep_data=False`` drops it, as express does).

        Raises:
            SessionEnded: the old record was no longer live (logged out or revoked
                while this request ran); the session is new and empty. Uncaught, the
                adapter answers 409 and clears the cookie.
        """
        return self._exchange.regenerate(keep_data=keep_data)

    @overload
    def destroy(self: AsyncSession) -> Awaitable[None]: ...
    @overload
    def destroy(self: SyncSession) -> None: ...
    def destroy(self) -> Awaitable[None] | None:
        """Delete the record now; the cookie is cleared and the session starts empty."""
        return self._exchange.destroy()

    @overload
    def reload(self: AsyncSession) -> Awaitable[bool]: ...
    @overload
    def reload(self: SyncSession) -> bool: ...
    def reload(self) -> Awaitable[bool] | bool:
        """Re-read from the store; False (and an empty session) when it is gone."""
        return self._exchange.reload()

    @overload
    def save(self: AsyncSession) -> Awaitable[bool]: ...
    @overload
    def save(self: SyncSession) -> bool: ...
    def save(self) -> Awaitable[bool] | bool:
        """Save now rather than at the end of the request; False when it was destroyed meanwhile."""
        return self._exchange.save()

    @overload
    def touch(self: AsyncSession) -> Awaitable[None]: ...
    @overload
    def touch(self: SyncSession) -> None: ...
    def touch(self) -> Awaitable[None] | None:
        """Restart the cookie's lifetime (``max_age``) from now."""
        return self._exchange.touch()

    # "Where you're signed in": the sessions of this session's user (the store's
    # user_key), as devices (docs/devices.md).

    @overload
    def devices(self: AsyncSession) -> Awaitable[list[DeviceSession]]: ...
    @overload
    def devices(self: SyncSession) -> list[DeviceSession]: ...
    def devices(self) -> Awaitable[list[DeviceSession]] | list[DeviceSession]:
        """This user's live sessions, most recently active first, this one ``current``.

        Each a :class:`~mongosession.store.devices.DeviceSession` (an opaque
        ``handle``, browser, OS, IP, signed in, last active...); empty when the
        session has no user. Needs the store's ``user_key`` and the ``devices``
        extra; browser, OS and IP are known with ``record_devices``.
        """
        return self._exchange.devices()

    @overload
    def revoke_device(self: AsyncSession, handle: str) -> Awaitable[bool]: ...
    @overload
    def revoke_device(self: SyncSession, handle: str) -> bool: ...
    def revoke_device(self, handle: str) -> Awaitable[bool] | bool:
        """End this user's session named by ``handle`` (from :meth:`devices`); whether one ended.

        A handle of another user's session ends nothing (False). Use
        :meth:`destroy` for this session itself: its handle ends it in the store,
        but this request's cookie is only cleared by ``destroy()``.
        """
        return self._exchange.revoke_device(handle)

    @overload
    def revoke_other_devices(self: AsyncSession) -> Awaitable[int]: ...
    @overload
    def revoke_other_devices(self: SyncSession) -> int: ...
    def revoke_other_devices(self) -> Awaitable[int] | int:
        """End every other session of this user ("sign out everywhere else"); how many."""
        return self._exchange.revoke_other_devices()


#: The session of the async adapters (ASGI, aiohttp): its methods are awaitable.
AsyncSession = Session["AsyncExchange"]

#: The session of the blocking adapters (Flask): its methods are plain calls.
SyncSession = Session["Exchange"]


def check_keys(session: Session[Any]) -> None:
    # The session's own methods refuse the key; this catches a plain dict the
    # handler put in the request's session slot (adopted at the commit) or a
    # dict method called past the session's.
    if dict.__contains__(session, RESERVED_KEY):
        raise reserved_key_error()
