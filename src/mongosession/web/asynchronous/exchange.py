"""One request's session I/O: load, the session methods, and the final commit.

This file is the source: ``web/synchronous/exchange.py`` is generated from it by
``tools/unasync.py`` for the blocking adapters. The decisions themselves are in
:mod:`mongosession.web.rules`; this only carries them out against the store.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from mongosession import _clock
from mongosession._errors import (
    ConfigurationError,
    MongoSessionError,
    SessionEnded,
    SessionIdCollision,
)
from mongosession.store.asynchronous.store import AsyncMongoStore
from mongosession.store.devices import DeviceInfo, DeviceSession
from mongosession.store.documents import StoredSession
from mongosession.web.config import SessionConfig
from mongosession.web.devices import request_device
from mongosession.web.failures import Failure, failure_for
from mongosession.web.rules import Plan, RequestState, is_secure
from mongosession.web.session import Session

#: New ids tried when ``create`` finds the id taken (only a broken genid collides).
ID_ATTEMPTS = 3

#: A request header by its lower-case name (None when absent), as a framework gives it.
HeaderGetter = Callable[[str], str | None]

#: Response headers: (lower-case name, value) pairs.
Headers = list[tuple[str, str]]


class AsyncExchange:
    """The session of one request against an :class:`AsyncMongoStore`.

    An adapter makes one with :meth:`for_request`, calls :meth:`load` before the
    handler and :meth:`commit` before the response headers go out; the handler's
    ``session.regenerate()`` and friends land here. A store failure becomes a
    :class:`~mongosession.web.failures.Failure` (:meth:`failure`), which the
    adapter only renders.
    """

    def __init__(
        self,
        store: AsyncMongoStore,
        config: SessionConfig,
        *,
        cookie_header: str | None,
        header_value: str | None = None,
        secure_request: bool = False,
        session_class: type[Session[AsyncExchange]] = Session,
        request: Any = None,
        device: DeviceInfo | None = None,
    ) -> None:
        self.store = store
        self.state = RequestState(
            config, secure_request=secure_request, session_class=session_class, request=request
        )
        self._cookie_header = cookie_header
        self._header_value = header_value
        self.session: Session[AsyncExchange] | None = None
        #: All of this request's store calls together wait at most the store's
        #: ``request_timeout``.
        self.budget = store.request_budget()
        #: The request's device, recorded with each write (``record_devices``), or None.
        self.device = device
        self._signed_in: Any = None  # the user the stored session was last written with

    @classmethod
    def for_request(
        cls,
        store: AsyncMongoStore,
        config: SessionConfig,
        header: HeaderGetter,
        *,
        https: bool,
        session_class: type[Session[AsyncExchange]] = Session,
        request: Any = None,
        peer: Callable[[], str | None] | None = None,
    ) -> AsyncExchange:
        """The exchange of one request, reading what it needs through ``header``.

        ``header(name)`` returns the request's header of that lower-case name,
        or None; for ``cookie``, every ``Cookie`` line joined with ``"; "``.
        Only the headers the options need are read: the cookie (or the
        configured ``header``), and ``x-forwarded-proto`` with ``proxy``.
        ``https`` is whether the request itself came over TLS. ``request`` is
        the adapter's request object (the ASGI middleware's: the scope), given
        to the ``cookie`` function and to a ``genid`` that takes it. ``peer()`` gives
        the address the connection comes from, called and recorded (with the
        ``User-Agent`` and, with ``proxy``, ``X-Forwarded-For``) only with
        ``record_devices`` (:func:`~mongosession.web.devices.request_device`).

        Raises:
            ConfigurationError: the ``cookie`` function failed its checks
                (:meth:`SessionConfig.resolve`), or it needs a request and the
                adapter gave none.
        """
        if config.cookie is not None:
            if request is None:
                raise ConfigurationError(
                    "the cookie option is a function of the request, but this adapter "
                    "gives the session layer none"
                )
            config = config.resolve(request)
        name = config.header
        forwarded = header("x-forwarded-proto") if config.proxy else None
        return cls(
            store,
            config,
            cookie_header=header("cookie") if name is None else None,
            header_value=header(name.lower()) if name is not None else None,
            secure_request=is_secure(config, https=https, forwarded_proto=forwarded),
            session_class=session_class,
            request=request,
            device=request_device(config, header, peer),
        )

    async def load(self) -> Session[AsyncExchange]:
        """Read the presented session (one query), or start a new one (none).

        Raises:
            StoreUnavailable: the store could not answer; fail closed.
        """
        state = self.state
        sid = state.presented_sid(
            cookie_header=self._cookie_header, header_value=self._header_value
        )
        with self.budget.charged():
            stored = None if sid is None else await self.store.get(sid)
        now = _clock.now()
        if sid is None or stored is None:
            self.session = state.new_session(self, now)
        else:
            self.session = state.loaded_session(sid, stored, self, now)
            if self.device is not None and self.store.user_key is not None:
                self._signed_in = self.store.user_of(stored)
        return self.session

    def _with_device(self, data: StoredSession) -> StoredSession:
        # The write carries the request's device (record_devices): recorded whole
        # when it makes a new document or gives the session a new user (a login
        # without regenerate()), else only its last activity.
        device = self.device
        if device is not None:
            user = self.store.user_of(data) if self.store.user_key is not None else None
            if user is not None and user != self._signed_in:
                self._signed_in = user
                device = DeviceInfo(device.user_agent, device.ip, sign_in=True)
            data.device = device
        return data

    def _current(self) -> Session[AsyncExchange]:
        if self.session is None:
            raise RuntimeError("the session is not loaded")
        return self.session

    def _renew(self, session: Session[AsyncExchange], *, keep_data: bool) -> None:
        # A new id for the same object, not yet stored; the presented cookie
        # has ended if this was its session.
        state = self.state
        if session.id == state.cookie_sid:
            state.ended_cookie = True
        session.id = state.new_id()
        state.in_store = False
        state.revision = None
        if not keep_data:
            dict.clear(session)
            session.cookie = state.new_cookie(_clock.now())

    async def regenerate(self, *, keep_data: bool = True) -> None:
        """New id, the old record ended now; the data is kept unless asked not to.

        Kept data is stored under the new id at once, before the old record
        ends (:meth:`AsyncMongoStore.regenerate`), so that no logout can miss both.

        Raises:
            SessionEnded: the old record was no longer live (logged out or
                revoked while this request ran): nothing was written, the session
                is new and empty, and the response clears the cookie.
        """
        session, state = self._current(), self.state
        if not state.in_store:
            self._renew(session, keep_data=keep_data)
            return
        old = session.id
        with self.budget.charged():
            if not keep_data:
                live = await self.store.destroy(old)
                self._renew(session, keep_data=False)
            else:
                self._renew(session, keep_data=True)
                data = self._with_device(state.stored_form(session))
                live = await self._create(
                    session, lambda: self.store.regenerate(old, session.id, data)
                )
                if live:
                    state.mark_saved(session, data)
        if not live:
            self._end(session)
            raise SessionEnded("the session ended while this request ran")

    async def destroy(self) -> None:
        """Delete the record now; the request goes on with a new empty session.

        The response clears the cookie and sets none, unless the handler
        writes to the session again (then that is a new session).
        """
        session = self._current()
        if self.state.in_store:
            with self.budget.charged():
                await self.store.destroy(session.id)
        self._end(session)

    def _end(self, session: Session[AsyncExchange]) -> None:
        # The presented session is over: a new, empty, unsaved one follows,
        # created only if the handler writes to it.
        self._renew(session, keep_data=False)
        self.state.adopt(session, in_store=False)
        self.state.ended = True

    async def reload(self) -> bool:
        """Replace the data with the stored data; False when the session is gone."""
        session, state = self._current(), self.state
        with self.budget.charged():
            stored = await self.store.get(session.id) if state.in_store else None
        if stored is None:
            self._renew(session, keep_data=False)
            state.adopt(session, in_store=False)
            return False
        # loaded_session() takes the stored state as the request's starting point.
        fresh = state.loaded_session(session.id, stored, self, _clock.now())
        dict.clear(session)
        dict.update(session, dict.items(fresh))
        session.cookie = fresh.cookie
        return True

    async def save(self) -> bool:
        """Write the session now; False when it was destroyed meanwhile."""
        session = self._current()
        with self.budget.charged():
            return await self._write(session, create=not self.state.in_store)

    async def touch(self) -> None:
        """Restart the cookie's lifetime from now (the store is touched at the end)."""
        self._current().cookie.reset_max_age(_clock.now())

    async def devices(self) -> list[DeviceSession]:
        """The sessions of this session's user, this one ``current`` (:meth:`AsyncMongoStore.devices_of`).

        Empty when the session has no user.
        """
        session = self._current()
        user = self.store.user_of(session)
        if user is None:
            return []
        with self.budget.charged():
            return await self.store.devices_of(user, current=session.id)

    async def revoke_device(self, handle: str) -> bool:
        """End the session ``handle`` names if it is this user's (:meth:`AsyncMongoStore.revoke_device`)."""
        user = self.store.user_of(self._current())
        if user is None:
            return False
        with self.budget.charged():
            return await self.store.revoke_device(user, handle)

    async def revoke_other_devices(self) -> int:
        """End every other session of this session's user; how many ended."""
        session = self._current()
        user = self.store.user_of(session)
        if user is None:
            return 0
        with self.budget.charged():
            return await self.store.destroy_user(user, keep=session.id)

    async def _create(self, session: Session[AsyncExchange], insert: Callable[[], Any]) -> Any:
        # ``insert()`` stores the session under ``session.id``; a taken id (only
        # a broken genid collides) gets a new one.
        for attempt in range(ID_ATTEMPTS):
            try:
                return await insert()
            except SessionIdCollision:
                if attempt == ID_ATTEMPTS - 1:
                    raise
                session.id = self.state.new_id()
        raise AssertionError("unreachable")

    async def _write(self, session: Session[AsyncExchange], *, create: bool) -> bool:
        state = self.state
        data = self._with_device(state.stored_form(session))
        if create:
            await self._create(session, lambda: self.store.create(session.id, data))
        elif not await self.store.save(session.id, data):
            return False
        state.mark_saved(session, data)
        return True

    async def commit(self, current: Any, status: int | None) -> tuple[Headers, Failure | None]:
        """Carry out the end of the request: the headers to add, or the failure to answer with.

        ``current`` is what the request's session slot holds now: the session,
        or None when the handler unset it. ``status`` is the response's (None:
        the handler raised); after a server error nothing is written and no
        cookie is sent (:func:`~mongosession.web.rules.saves_after`).

        Returns ``(headers, None)``, or ``([], failure)`` when the store refused
        the write (:meth:`failure`): the adapter then sends the failure instead
        of the handler's response.

        Raises:
            MongoSessionError: one that is no session failure (a
                :class:`~mongosession.ReservedKey` put in the session slot past its
                checks, say): the framework's 500.
        """
        session = self._current()
        if current is None:
            session_now = None
        else:
            if current is not session and isinstance(current, Mapping):
                dict.clear(session)  # the handler put a plain dict in the slot
                dict.update(session, current)
            session_now = session
        state = self.state
        plan = state.plan(session_now, _clock.now(), status=status)
        try:
            with self.budget.charged():
                if plan.destroy is not None:
                    await self.store.destroy(plan.destroy)
                elif plan.create or plan.update:
                    if not await self._write(session, create=plan.create):
                        # Destroyed or revoked while this request ran: stays gone.
                        plan.set_cookie = False
                        plan.clear_cookie = True
                elif plan.touch:
                    data = state.touch_form(session)
                    data.device = self.device  # its last activity, with the touch only
                    await self.store.touch(session.id, data)
        except MongoSessionError as exc:
            failure = self.failure(exc)
            if failure is None:
                raise
            return [], failure
        return state.cookie_headers(session_now, plan), None

    def failure(self, exc: BaseException) -> Failure | None:
        """The answer to ``exc``, logged (:func:`~mongosession.web.failures.failure_for`); None for others.

        A session that ended during the request (:class:`SessionEnded`) gets
        its cookie cleared; other failures leave the client's cookie alone, for
        when the database is back.
        """
        session = self.session
        if session is None:
            return failure_for(exc)
        return failure_for(
            exc,
            clearing_headers=lambda: self.state.cookie_headers(session, Plan(clear_cookie=True)),
        )
