"""Where a user is signed in: their sessions with device and activity, revoked one by one.

This file is a source: its blocking twin under ``store/synchronous/`` is generated
by ``tools/unasync.py``; edit here and run ``python tools/unasync.py``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mongosession import _clock
from mongosession._errors import ConfigurationError
from mongosession.store.asynchronous.users import AsyncUserSessions
from mongosession.store.devices import (
    DEVICE_PROJECTION,
    DeviceInfo,
    DeviceSession,
    by_activity,
    device_handle,
    device_session,
    open_device,
)
from mongosession.store.documents import check_user, user_of
from mongosession.store.errors import guarded
from mongosession.useragents import parse_user_agent, require_parser

#: The longest handle :meth:`revoke_device` looks for (they are 22 characters).
_MAX_HANDLE = 64


class AsyncDeviceSessions(AsyncUserSessions):
    """A user's sessions as devices: list them, end one by its handle (docs/devices.md).

    "Sign out everywhere else" is :meth:`destroy_user` with ``keep=`` the current id.
    """

    @property
    def user_key(self) -> str | None:
        """The session key naming the user (``user_key``; dots for a nested key), or None."""
        path = self._rules.user_path
        return None if path is None else ".".join(path)

    def user_of(self, session: Mapping[str, Any]) -> Any:
        """The user ``session`` belongs to: its ``user_key`` value, or None.

        Raises:
            ConfigurationError: the store has no ``user_key``.
        """
        return user_of(session, self._user_path())

    def _user_path(self) -> tuple[str, ...]:
        path = self._rules.user_path
        if path is None:
            raise ConfigurationError(
                "listing and revoking a user's sessions needs the store's user_key "
                "(the session key naming the user)"
            )
        return path

    def _current_ids(self, current: str | None) -> tuple[str, ...]:
        # Every _id the current session may be stored under (a hash_ids rotation: one a key).
        if current is None:
            return ()
        try:
            return self._rules.storage_ids(current)
        except (TypeError, ValueError):
            return ()

    def device_info(self, doc: Mapping[str, Any]) -> DeviceInfo | None:
        """The user agent and IP a stored document recorded (``record_devices``), or None.

        ``doc`` is a stored document (or one from :meth:`list_sessions`); a sealed
        record is opened with the store's keys.

        Raises:
            CorruptSession: the record is sealed and no key of the store opens it.
        """
        device = doc.get("device")
        if not isinstance(device, Mapping):
            return None
        user_agent, ip = open_device(self._rules, device)
        return DeviceInfo(user_agent, ip)

    async def devices_of(self, user: Any, *, current: str | None = None) -> list[DeviceSession]:
        """The live sessions of ``user``, most recently active first.

        Each is a :class:`~mongosession.store.devices.DeviceSession`: an opaque
        ``handle`` (never the session id), browser, OS, device type and IP (as
        recorded with the session option ``record_devices``; None otherwise), when
        it signed in, was last active and expires. ``current`` is the asking
        request's session id: that one has ``current=True``. One query, on the
        per-user index; the payloads are not read. Example::

            for device in await store.devices_of("alice", current=session.id):
                print(device.browser, device.os, device.ip, device.current)

        Raises:
            ConfigurationError: the store has no ``user_key``.
            ModuleNotFoundError: ua-parser is not installed (the ``devices`` extra).
        """
        self._user_path()
        require_parser()
        rules = self._rules
        query = rules.user_filter(check_user(user), _clock.now())
        current_ids = self._current_ids(current)
        await self._prepare()
        with guarded(rules.timeout):  # through the per-user index, as sessions_of()
            docs = await self._user_indexed(
                lambda hint: self._collection.find(query, DEVICE_PROJECTION, hint=hint).to_list()
            )
        sessions = []
        for doc in docs:
            if rules.unreadable(doc):  # a date out of range: no session to get() either
                continue
            sessions.append(device_session(rules, doc, current_ids, parse_user_agent))
        return by_activity(sessions)

    async def revoke_device(self, user: Any, handle: str) -> bool:
        """End the session of ``user`` that ``handle`` names; whether one ended.

        ``handle`` is a :attr:`DeviceSession.handle` from :meth:`devices_of`. Only
        ``user``'s own live sessions are looked at, so a handle of someone else's
        session (or a made-up one) ends nothing and returns False. The session is
        deleted, or flagged with ``delete_flags``: a request holding it cannot
        write it back. With an unacknowledged write concern (w=0), whether it was
        live just before.

        Raises:
            ConfigurationError: the store has no ``user_key``.
            TypeError: ``handle`` is not a str.
        """
        self._user_path()
        if not isinstance(handle, str):
            raise TypeError(f"a device handle is a str, not {type(handle).__name__}")
        if not handle or len(handle) > _MAX_HANDLE:
            return False
        rules = self._rules
        now = _clock.now()
        query = rules.user_filter(check_user(user), now)
        await self._prepare()
        with guarded(rules.timeout):
            docs = await self._user_indexed(
                lambda hint: self._collection.find(query, {"_id": 1}, hint=hint).to_list()
            )
            found = [doc["_id"] for doc in docs if device_handle(str(doc["_id"])) == handle]
            if not found:
                return False
            # The same filter again, by _id: still this user's, still live.
            target = rules.user_filter(user, now)
            target["_id"] = found[0]
            if rules.delete_flags:
                ended = await self._update_many(target, rules.flag_update(now))
            else:
                ended = await self._delete_many(target)
        return ended > 0
