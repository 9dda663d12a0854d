"""Devices and activity per session, with no I/O: the ``device`` field and its readers.

With the session option ``record_devices``, the adapters give each write of a
session a :class:`DeviceInfo` (the request's user agent and client IP). The store
keeps it in the document, beside the payload, never in it::

    device: {
      ua: "Mozilla/5.0 ...",      # the User-Agent header (at most 512 characters)
      ip: "203.0.113.7",          # or truncated ("203.0.113.0"), or absent
      signedIn: ISODate(...),     # when ua and ip were recorded: creation or login
      lastActive: ISODate(...),   # moved by every save and touch the store makes
    }

With encryption (``encryption_keys``, or an encrypting codec) ``ua`` and ``ip``
are sealed together in ``sealed`` instead; the dates stay readable, so a user's
sessions sort by activity in the database. Node apps sharing the collection read
``session`` only and see nothing new there.

:func:`device_handle` names a session to its user without its id, and
:func:`device_session` turns a stored document into the :class:`DeviceSession`
that :meth:`AsyncMongoStore.devices_of` lists.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol

from mongosession._errors import CorruptSession

#: The kinds of device :func:`mongosession.useragents.parse_user_agent` tells apart.
DeviceType = Literal["desktop", "mobile", "tablet", "bot", "unknown"]

#: The longest user agent recorded; a longer header is cut (browsers send ~150).
MAX_USER_AGENT = 512

#: The fields of a stored document :meth:`devices_of` reads (never the payload).
DEVICE_PROJECTION = {
    "device": 1,
    "expires": 1,
    "createdAt": 1,
    "updatedAt": 1,
    "lastModified": 1,
}

#: Associated data of a sealed ``device``: it cannot be taken for a sealed payload.
_DEVICE_AAD = b"mongosession device"

#: Domain separation of :func:`device_handle`'s hash.
_HANDLE_LABEL = b"mongosession device handle\x00"


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    """What one request tells about the device it came from, for the store to record.

    ``sign_in`` asks a save to record ``user_agent`` and ``ip`` again, with a new
    ``signedIn`` time (a login without a new id); a new document (``create``,
    ``regenerate``) records them anyway, and any other write moves ``lastActive``
    only. The adapters make these; code calling the store directly may too::

        data = StoredSession(session, device=DeviceInfo("Mozilla/5.0 ...", "203.0.113.7"))
        await store.create(sid, data)
    """

    user_agent: str | None
    ip: str | None
    sign_in: bool = False


class _Sealing(Protocol):
    # What the store's rules give for sealing: its encryptor, or an encrypting codec.
    encryptor: Any
    codec: Any


def _encrypts(rules: _Sealing) -> bool:
    return rules.encryptor is not None or bool(getattr(rules.codec, "encrypts", False))


def device_record(rules: _Sealing, device: DeviceInfo, now: datetime) -> dict[str, Any]:
    """The ``device`` field recording ``device`` at ``now`` (sealed when the store encrypts)."""
    user_agent = device.user_agent[:MAX_USER_AGENT] if device.user_agent else None
    clear: dict[str, Any] = {k: v for k, v in (("ua", user_agent), ("ip", device.ip)) if v}
    record: dict[str, Any]
    if not _encrypts(rules):
        record = clear
    elif rules.encryptor is not None:
        plain = json.dumps(clear, separators=(",", ":")).encode()
        record = {"sealed": rules.encryptor.seal(plain, _DEVICE_AAD)}
    else:  # connect-mongo's encrypted formats (interop): the codec seals a mapping
        record = {"sealed": rules.codec.encode(clear)}
    record["signedIn"] = now
    record["lastActive"] = now
    return record


def device_fields(
    rules: _Sealing, session: Mapping[str, Any], now: datetime, *, new: bool
) -> dict[str, Any]:
    """The ``$set`` fields a write of ``session`` adds for its device (none without one).

    A new document, or a sign-in (:attr:`DeviceInfo.sign_in`), records the whole
    ``device``; any other write moves ``device.lastActive`` only.
    """
    device = getattr(session, "device", None)
    if not isinstance(device, DeviceInfo):
        return {}
    if new or device.sign_in:
        return {"device": device_record(rules, device, now)}
    return {"device.lastActive": now}


def open_device(rules: _Sealing, device: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """The user agent and IP of a stored ``device`` field, opened when sealed.

    Raises:
        CorruptSession: sealed, and the store has no key that opens it (a
            :class:`~mongosession.DecryptionError` for a wrong key).
    """
    sealed = device.get("sealed")
    if sealed is None:
        clear: Any = device
    elif rules.encryptor is not None:
        try:
            clear = json.loads(rules.encryptor.open(sealed, _DEVICE_AAD))
        except (ValueError, UnicodeDecodeError) as exc:
            if isinstance(exc, CorruptSession):
                raise
            raise CorruptSession("the device record does not decode") from None
    elif getattr(rules.codec, "encrypts", False):
        clear = rules.codec.decode(sealed)
    else:
        raise CorruptSession("the device record is encrypted and the store has no keys")
    if not isinstance(clear, Mapping):
        raise CorruptSession("the device record is not a document")
    user_agent, ip = clear.get("ua"), clear.get("ip")
    return (
        user_agent if isinstance(user_agent, str) else None,
        ip if isinstance(ip, str) else None,
    )


def device_handle(storage_id: str) -> str:
    """An opaque, stable name for the session stored under ``storage_id``.

    A one-way hash (SHA-256, 128 bits kept): the session id cannot be had from it,
    so it may go into a page, a form or a script; it only means something to
    :meth:`AsyncMongoStore.revoke_device`, together with the user it belongs to.
    With ``hash_ids`` the ``_id`` is itself a keyed hash of the id.
    """
    digest = hashlib.sha256(_HANDLE_LABEL + storage_id.encode()).digest()[:16]
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


@dataclass(frozen=True, slots=True)
class DeviceSession:
    """One of a user's sessions as a "where you're signed in" page shows it.

    - ``handle``: names the session to :meth:`~AsyncMongoStore.revoke_device`;
      not its id, and no way to it (:func:`device_handle`);
    - ``current``: the session of the request asking (``current=`` given);
    - ``browser``, ``os``: ``"Firefox 125"``, ``"Windows 10"`` (None when unknown
      or not recorded); ``device_type``: see :data:`DeviceType`;
    - ``ip``: as recorded (truncated with ``record_ip="truncated"``; None with
      ``"none"``); ``user_agent``: the raw header, for display or your own parsing;
    - ``signed_in``: when the session was created or last signed in (with
      ``record_devices``), else when the store created it (``createdAt``) if known;
    - ``last_active``: the last save or touch the store made (so within
      ``touch_after``); ``expires``: when it ends unless used again.

    Dates are timezone-aware, UTC; each may be None for a session written
    without ``record_devices``.
    """

    handle: str
    current: bool
    browser: str | None
    os: str | None
    device_type: DeviceType
    ip: str | None
    user_agent: str | None
    signed_in: datetime | None
    last_active: datetime | None
    expires: datetime | None


def _date(value: Any) -> datetime | None:
    return value if isinstance(value, datetime) else None


def last_active(doc: Mapping[str, Any]) -> datetime | None:
    """The last write the store made to ``doc``, as well as the document tells.

    ``device.lastActive`` when recorded, else ``lastModified`` (``touch_after``),
    else ``updatedAt`` (``timestamps``); None when the document keeps no such date.
    """
    device = doc.get("device")
    if isinstance(device, Mapping):
        active = _date(device.get("lastActive"))
        if active is not None:
            return active
    return _date(doc.get("lastModified")) or _date(doc.get("updatedAt"))


def device_session(
    rules: _Sealing,
    doc: Mapping[str, Any],
    current: Collection[str],
    parse: Any,
) -> DeviceSession:
    """The :class:`DeviceSession` of stored ``doc`` (projected by :data:`DEVICE_PROJECTION`).

    ``current`` holds the ``_id`` values of the asking request's session;
    ``parse`` is :func:`mongosession.useragents.parse_user_agent`. A device
    record no key opens reads as no record (logged by the caller, not raised:
    one unreadable session must not hide a user's others).
    """
    device = doc.get("device")
    user_agent = ip = None
    signed_in = None
    if isinstance(device, Mapping):
        try:
            user_agent, ip = open_device(rules, device)
        except CorruptSession:
            user_agent = ip = None
        signed_in = _date(device.get("signedIn"))
    agent = parse(user_agent)
    storage_id = str(doc["_id"])
    return DeviceSession(
        handle=device_handle(storage_id),
        current=storage_id in current,
        browser=agent.browser,
        os=agent.os,
        device_type=agent.device_type,
        ip=ip,
        user_agent=user_agent,
        signed_in=signed_in or _date(doc.get("createdAt")),
        last_active=last_active(doc),
        expires=_date(doc.get("expires")),
    )


def by_activity(sessions: list[DeviceSession]) -> list[DeviceSession]:
    """Most recently active first; unknown activity last, then by sign-in, latest first."""

    def key(session: DeviceSession) -> tuple[bool, float, float]:
        active = session.last_active or session.signed_in
        signed = session.signed_in
        return (
            active is None,
            -(active.timestamp() if active else 0.0),
            -(signed.timestamp() if signed else 0.0),
        )

    return sorted(sessions, key=key)
