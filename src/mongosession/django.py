"""Django's session engine, stored in MongoDB: ``SESSION_ENGINE = "mongosession.django"``.

``settings.py``::

    SESSION_ENGINE = "mongosession.django"
    MONGOSESSION = {"uri": "mongodb://localhost:27017/app", "touch_after": 60}
    MIDDLEWARE = [
        "mongosession.django.SessionMiddleware",  # Django's, plus 503 when MongoDB is down
        ...
    ]

Django keeps its own cookie (``SESSION_COOKIE_*``, the raw session key, its
``SessionMiddleware``); the stored documents are connect-mongo's, with a
``cookie`` object in ``session`` and Django's expiry
(:meth:`~SessionStore.get_expiry_date`) as the document's ``expires``, so the
admin command line and Node apps can read them. ``MONGOSESSION`` holds the
store's arguments (see the options page); ``client`` (your ``MongoClient``)
and ``async_client`` (your ``AsyncMongoClient``, for the ``a*`` methods)
take the place of ``uri`` for their store. ``ttl`` defaults to
``SESSION_COOKIE_AGE``.

``MONGOSESSION_RECORD_DEVICES = True`` records each session's user agent,
client IP and activity (docs/devices.md), the IP as ``MONGOSESSION_RECORD_IP``
says (``"full"``, ``"truncated"``, ``"none"``), from ``X-Forwarded-For`` with
``MONGOSESSION_PROXY = True``; ``request.session.devices()`` lists the user's
sessions (``user_key`` names the user: ``"_auth_user_id"`` with Django's auth).
"""

from __future__ import annotations

# ruff: noqa: E402
import functools
from collections.abc import Mapping
from datetime import datetime
from typing import Any

# The framework first: without it, say which extra installs it (the imports follow).
from mongosession._extras import require

require("django", extra="django", feature="mongosession.django")

from django.conf import settings
from django.contrib.sessions.backends.base import (
    VALID_KEY_CHARS,
    CreateError,
    SessionBase,
    UpdateError,
)
from django.contrib.sessions.middleware import SessionMiddleware as DjangoSessionMiddleware
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.cache import patch_cache_control, patch_vary_headers
from django.utils.crypto import get_random_string

from mongosession import _clock
from mongosession._django_stores import aclose_stores, close_stores, get_async_store, get_store
from mongosession._errors import MongoSessionError, SessionEnded, SessionIdCollision
from mongosession._ids import check_sid
from mongosession.store.devices import DeviceInfo, DeviceSession
from mongosession.store.documents import StoredSession, user_of
from mongosession.store.errors import RequestBudget
from mongosession.web.asynchronous.steps import run_steps as _arun
from mongosession.web.calls import Create, Destroy, Get, Regenerate, Save, Steps, T, Touch
from mongosession.web.config import RecordIp, SessionCookie
from mongosession.web.devices import client_ip
from mongosession.web.failures import Failure, failure_for
from mongosession.web.rules import saves_after
from mongosession.web.session import RESERVED_KEY, reserved_key_error, session_fingerprint
from mongosession.web.synchronous.steps import run_steps as _run

__all__ = [
    "SessionMiddleware",
    "SessionStore",
    "aclose_stores",
    "close_stores",
    "get_async_store",
    "get_store",
]


class SessionStore(SessionBase):  # type: ignore[misc]
    """Django's ``SessionBase`` over :class:`MongoStore` (``a*`` methods: :class:`AsyncMongoStore`).

    - ``save()`` updates only a session that exists: one destroyed meanwhile
      (logout in a concurrent request) raises Django's ``UpdateError``, so
      ``SessionMiddleware`` answers 400 instead of resurrecting it. Changes
      to other keys made concurrently are merged, not overwritten.
    - ``save()`` of an unchanged session (``SESSION_SAVE_EVERY_REQUEST``)
      only moves its expiry, and not at all within the store's ``touch_after``.
    - ``clear_expired()`` (``manage.py clearsessions``) deletes expired and
      flagged sessions; MongoDB's TTL index removes expired ones anyway.
    - Stored values must be JSON (or BSON, with ``codec="bson"``);
      ``SESSION_SERIALIZER`` is not used.
    - The key ``cookie`` is reserved (the stored document's express-session
      cookie object): assigning it (``[]=``, ``update``, ``setdefault`` and
      their ``a*`` twins) raises :class:`~mongosession.ReservedKey`.
    """

    _session_key: str | None  # Django's validating property

    def __init__(self, session_key: str | None = None) -> None:
        super().__init__(session_key)
        self._stored: StoredSession | None = None  # the document as last read or written
        self._stored_key: str | None = None
        self._stored_fingerprint = b""
        self._budget: RequestBudget | None = None  # this request's time for session work
        #: The request's device, recorded with each write (``MONGOSESSION_RECORD_DEVICES``);
        #: set by :class:`SessionMiddleware`.
        self.device: DeviceInfo | None = None
        self._signed_in: Any = None  # the user the stored session was last written with

    def _sync(self, steps: Steps[T]) -> T:
        store = get_store()
        if self._budget is None:
            self._budget = store.request_budget()
        with self._budget.charged():
            return _run(steps, store)

    async def _async(self, steps: Steps[T]) -> T:
        store = get_async_store()
        if self._budget is None:
            self._budget = store.request_budget()
        with self._budget.charged():
            return await _arun(steps, store)

    # -- the reserved key --------------------------------------------------------

    def __setitem__(self, key: str, value: Any) -> None:
        _refuse_reserved(key)
        super().__setitem__(key, value)

    async def aset(self, key: str, value: Any) -> None:
        """Django's ``aset``, refusing the reserved key ``cookie``."""
        _refuse_reserved(key)
        await super().aset(key, value)

    def update(self, dict_: Mapping[str, Any]) -> None:
        """Django's ``update``, refusing the reserved key ``cookie`` (nothing is changed then)."""
        data = dict(dict_)
        _refuse_reserved(*data)
        super().update(data)

    async def aupdate(self, dict_: Mapping[str, Any]) -> None:
        """Django's ``aupdate``, refusing the reserved key ``cookie`` (nothing is changed then)."""
        data = dict(dict_)
        _refuse_reserved(*data)
        await super().aupdate(data)

    # -- keys ------------------------------------------------------------------

    def _validate_session_key(self, key: Any) -> bool:
        # Django's rule (8+ characters) and ours: a malformed key never reaches a query.
        if not super()._validate_session_key(key):
            return False
        try:
            check_sid(key)
        except (TypeError, ValueError):
            return False
        return True

    def _get_new_session_key(self) -> str:
        # No exists() round trip: create() inserts, and a taken key is a CreateError.
        return str(get_random_string(32, VALID_KEY_CHARS))

    async def _aget_new_session_key(self) -> str:
        return self._get_new_session_key()

    # -- the steps: each Django method and its a* twin run the same generator -----

    def _load_steps(self) -> Steps[dict[str, Any]]:
        key = self.session_key
        stored = None if key is None else (yield from Get(key))
        if stored is None:
            self._session_key = None
            self._stored = None
            return {}
        data = dict(stored)
        data.pop("cookie", None)
        self._remember(stored, data)
        self._signed_in = _user_in(data)
        return data

    def _exists_steps(self, session_key: Any) -> Steps[bool]:
        if not self._validate_session_key(session_key):
            return False
        return (yield from Get(session_key)) is not None

    def _save_steps(self, must_create: bool) -> Steps[None]:
        key = self.session_key
        if key is None:
            raise UpdateError  # the session vanished when it was loaded for this save
        data = self._get_session(no_load=True)  # loaded (or created) by now
        same = self._stored is not None and self._stored_key == key
        unchanged = same and session_fingerprint(data) == self._stored_fingerprint
        payload = self._payload(data, self._stored.revision if same and self._stored else None)
        if must_create:
            try:
                yield from Create(key, payload)
            except SessionIdCollision:
                raise CreateError from None
        elif unchanged and self._stored is not None:
            payload.last_modified = self._stored.last_modified
            yield from Touch(key, payload)
            self._stored.last_modified = payload.last_modified
            return
        elif not (yield from Save(key, payload)):
            raise UpdateError  # destroyed or revoked meanwhile: it stays gone
        self._remember(payload, data)

    def _create_steps(self) -> Steps[None]:
        while True:
            self._session_key = self._get_new_session_key()
            try:
                yield from self._save_steps(must_create=True)
            except CreateError:
                continue
            self.modified = True
            return

    def _cycle_steps(self, data: dict[str, Any]) -> Steps[None]:
        # Django's cycle_key (login): the data under a new key, stored before the
        # old record ends, and only if that record was still live.
        old = self.session_key
        if old is None or self._stored_key != old:
            yield from self._create_steps()  # nothing stored yet: a plain create
            return
        while True:
            new = self._session_key = self._get_new_session_key()
            payload = self._payload(data, None)
            try:
                live = yield from Regenerate(old, new, payload)
            except SessionIdCollision:
                continue
            break
        if not live:
            self._session_key = None
            self._session_cache: dict[str, Any] = {}
            self._stored = self._stored_key = None
            raise SessionEnded("the session ended while this request ran")
        self._remember(payload, data)
        self.modified = True

    def _delete_steps(self, session_key: str | None) -> Steps[None]:
        key = self.session_key if session_key is None else session_key
        if key is None or not self._validate_session_key(key):
            return
        yield from Destroy(key)
        if key == self._stored_key:
            self._stored = None

    def _remember(self, stored: StoredSession, data: Mapping[str, Any]) -> None:
        self._stored = stored
        self._stored_key = self.session_key
        self._stored_fingerprint = session_fingerprint(data)

    def _payload(self, data: Mapping[str, Any], revision: Any) -> StoredSession:
        """The stored form: the data plus an express-session ``cookie`` carrying Django's expiry."""
        now = _clock.now()
        expiry = data.get("_session_expiry")
        expires: datetime = self.get_expiry_date(modification=now, expiry=expiry)
        if timezone.is_naive(expires):
            expires = timezone.make_aware(expires)
        at_browser_close = (
            settings.SESSION_EXPIRE_AT_BROWSER_CLOSE if expiry is None else expiry == 0
        )
        same_site = settings.SESSION_COOKIE_SAMESITE
        cookie = SessionCookie(
            original_max_age=None
            if at_browser_close
            else int((expires - now).total_seconds() * 1000),
            expires=expires,
            secure=True if settings.SESSION_COOKIE_SECURE else None,
            http_only=bool(settings.SESSION_COOKIE_HTTPONLY),
            domain=settings.SESSION_COOKIE_DOMAIN,
            path=settings.SESSION_COOKIE_PATH,
            same_site=same_site.lower() if isinstance(same_site, str) else None,
        )
        payload = StoredSession({**data, "cookie": cookie.to_json()}, revision=revision)
        device = self.device
        if device is not None:
            # Recorded whole with a new document, or when the session gets a new user.
            user = _user_in(data)
            if user is not None and user != self._signed_in:
                self._signed_in = user
                device = DeviceInfo(device.user_agent, device.ip, sign_in=True)
            payload.device = device
        return payload

    # -- where the user is signed in (docs/devices.md) ----------------------------

    def _user(self) -> Any:
        return get_store().user_of(self._get_session())

    def devices(self) -> list[DeviceSession]:
        """This user's live sessions, most recently active first, this one ``current``.

        Empty when the session has no user (its ``user_key`` value). See
        :meth:`MongoStore.devices_of`.
        """
        user = self._user()
        if user is None:
            return []
        return get_store().devices_of(user, current=self.session_key)

    async def adevices(self) -> list[DeviceSession]:
        """:meth:`devices`, on the async store."""
        store = get_async_store()
        user = store.user_of(await self._aget_session())
        if user is None:
            return []
        return await store.devices_of(user, current=self.session_key)

    def revoke_device(self, handle: str) -> bool:
        """End this user's session named by ``handle`` (from :meth:`devices`); whether one ended."""
        user = self._user()
        return user is not None and get_store().revoke_device(user, handle)

    async def arevoke_device(self, handle: str) -> bool:
        """:meth:`revoke_device`, on the async store."""
        store = get_async_store()
        user = store.user_of(await self._aget_session())
        return user is not None and await store.revoke_device(user, handle)

    def revoke_other_devices(self) -> int:
        """End every other session of this user ("sign out everywhere else"); how many."""
        user = self._user()
        if user is None:
            return 0
        return get_store().destroy_user(user, keep=self.session_key)

    async def arevoke_other_devices(self) -> int:
        """:meth:`revoke_other_devices`, on the async store."""
        store = get_async_store()
        user = store.user_of(await self._aget_session())
        if user is None:
            return 0
        return await store.destroy_user(user, keep=self.session_key)

    # -- Django's SessionBase contract --------------------------------------------

    def is_empty(self) -> bool:
        """Django's rule; with ``SESSION_SAVE_EVERY_REQUEST`` a session is loaded first.

        The save that setting makes would load it anyway; loading here lets an
        expired or revoked session count as empty (cookie deleted) rather than
        fail the save with ``UpdateError``.
        """
        if (
            settings.SESSION_SAVE_EVERY_REQUEST
            and self.session_key is not None
            and not hasattr(self, "_session_cache")
        ):
            self._get_session()
        return bool(super().is_empty())

    def load(self) -> dict[str, Any]:
        """The stored data (one query); ``{}`` and no key when it is gone or expired."""
        return self._sync(self._load_steps())

    async def aload(self) -> dict[str, Any]:
        """:meth:`load`, on the async store."""
        return await self._async(self._load_steps())

    def exists(self, session_key: str | None) -> bool:
        """Whether a live session has this key."""
        return self._sync(self._exists_steps(session_key))

    async def aexists(self, session_key: str | None) -> bool:
        """:meth:`exists`, on the async store."""
        return await self._async(self._exists_steps(session_key))

    def create(self) -> None:
        """Insert a new session under a new key (retrying on a taken key)."""
        self._sync(self._create_steps())

    async def acreate(self) -> None:
        """:meth:`create`, on the async store."""
        await self._async(self._create_steps())

    def save(self, must_create: bool = False) -> None:
        """Insert (``must_create``: ``CreateError`` if taken) or update only (``UpdateError``)."""
        if self.session_key is None:
            return self.create()
        self._get_session(no_load=must_create)
        self._sync(self._save_steps(must_create))
        return None

    async def asave(self, must_create: bool = False) -> None:
        """:meth:`save`, on the async store."""
        if self.session_key is None:
            return await self.acreate()
        await self._aget_session(no_load=must_create)
        await self._async(self._save_steps(must_create))
        return None

    def cycle_key(self) -> None:
        """A new key for the same data (Django's ``login()`` calls it).

        Raises:
            SessionEnded: the session was logged out or revoked while this
                request ran; nothing was written and the session is now empty
                (``SessionMiddleware`` answers 409 and deletes the cookie).
        """
        data = self._get_session()
        self._sync(self._cycle_steps(data))
        self._session_cache = data

    async def acycle_key(self) -> None:
        """:meth:`cycle_key`, on the async store."""
        data = await self._aget_session()
        await self._async(self._cycle_steps(data))
        self._session_cache = data

    def delete(self, session_key: str | None = None) -> None:
        """Delete the session (this one when ``session_key`` is None)."""
        self._sync(self._delete_steps(session_key))

    async def adelete(self, session_key: str | None = None) -> None:
        """:meth:`delete`, on the async store."""
        await self._async(self._delete_steps(session_key))

    @classmethod
    def clear_expired(cls) -> None:
        """Delete expired (and flagged) sessions: ``manage.py clearsessions``."""
        get_store().cleanup()

    @classmethod
    async def aclear_expired(cls) -> None:
        """:meth:`clear_expired`, on the async store."""
        await get_async_store().cleanup()


def _user_in(data: Mapping[str, Any]) -> Any:
    # The session's user (MONGOSESSION's user_key), for telling a login; None without one.
    configured = getattr(settings, "MONGOSESSION", None)
    key = configured.get("user_key") if isinstance(configured, Mapping) else None
    return user_of(data, tuple(key.split("."))) if isinstance(key, str) and key else None


@functools.lru_cache(maxsize=1)
def _device_settings() -> tuple[RecordIp, bool] | None:
    # (MONGOSESSION_RECORD_IP, MONGOSESSION_PROXY), or None unless recording: read
    # once, not per request (an unset setting costs Django's lazy settings an
    # AttributeError each time); override_settings clears it (setting_changed).
    if not getattr(settings, "MONGOSESSION_RECORD_DEVICES", False):
        return None
    record: RecordIp = getattr(settings, "MONGOSESSION_RECORD_IP", "full")
    if record not in ("full", "truncated", "none"):
        raise ImproperlyConfigured('MONGOSESSION_RECORD_IP must be "full", "truncated" or "none"')
    return record, bool(getattr(settings, "MONGOSESSION_PROXY", False))


def _forget_device_settings(*, setting: str, **kwargs: Any) -> None:
    if setting in _DEVICE_SETTINGS:
        _device_settings.cache_clear()


_DEVICE_SETTINGS = ("MONGOSESSION_RECORD_DEVICES", "MONGOSESSION_RECORD_IP", "MONGOSESSION_PROXY")
setting_changed.connect(_forget_device_settings)


def request_device(request: HttpRequest) -> DeviceInfo | None:
    """The request's device to record, or None unless ``MONGOSESSION_RECORD_DEVICES``.

    The user agent, and the client IP as ``MONGOSESSION_RECORD_IP`` says
    (``"full"``, ``"truncated"``, ``"none"``): ``REMOTE_ADDR``, or with
    ``MONGOSESSION_PROXY`` the last ``X-Forwarded-For`` entry (the one your
    reverse proxy added).

    Raises:
        ImproperlyConfigured: ``MONGOSESSION_RECORD_IP`` is none of those.
    """
    recording = _device_settings()
    if recording is None:
        return None
    record, proxy = recording
    meta = request.META
    forwarded = meta.get("HTTP_X_FORWARDED_FOR") if proxy else None
    ip = client_ip(meta.get("REMOTE_ADDR"), forwarded, proxy=proxy, record=record)
    return DeviceInfo(meta.get("HTTP_USER_AGENT") or None, ip)


def _refuse_reserved(*keys: Any) -> None:
    if RESERVED_KEY in keys:
        raise reserved_key_error(
            "Django's SESSION_COOKIE_* settings make the cookie; use another key for your data."
        )


class SessionMiddleware(DjangoSessionMiddleware):  # type: ignore[misc]
    """Django's ``SessionMiddleware``, failing closed with 503 when MongoDB cannot answer.

    Put it in ``MIDDLEWARE`` in place of
    ``django.contrib.sessions.middleware.SessionMiddleware`` (it is a
    subclass, so Django's checks accept it). With Django's own, a store
    failure is a 500: still never an anonymous session, only a worse answer.
    A session failure is answered as in every mongosession adapter
    (:class:`~mongosession.web.failures.Failure`): 503 when the store cannot
    answer, 409 for a same-key concurrent change or a session that ended while
    the request ran (its cookie deleted), 403 over the session limit.

    A failed request saves nothing, as in every adapter
    (:func:`~mongosession.web.rules.saves_after`): after a 5xx response (a view
    that raised is Django's 500) the session is neither saved nor its cookie
    set or deleted.

    A response that sets or clears the session cookie also gets
    ``Cache-Control: no-store`` (merged into the view's own ``Cache-Control``),
    as in every mongosession adapter: Django's own middleware adds only
    ``Vary: Cookie``, which a shared cache may not honour.
    """

    def process_request(self, request: HttpRequest) -> None:
        """Django's: the request's session; with it, the device to record (:func:`request_device`)."""
        super().process_request(request)
        session = request.session
        if isinstance(session, SessionStore):
            session.device = request_device(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        """A view whose session work failed (its load, ``cycle_key``...): the failure's answer."""
        failure = failure_for(exception)
        if failure is None:
            return None
        request._mongosession_failed = True  # no second attempt in process_response
        return _render(failure)

    def process_response(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        """Django's save-and-set-cookie, a store failure answered as 503, no-store with the cookie."""
        if getattr(request, "_mongosession_failed", False):
            return response
        if not saves_after(response.status_code):
            # The rule of a failed request: nothing saved, no cookie sent.
            if getattr(getattr(request, "session", None), "accessed", False):
                patch_vary_headers(response, ("Cookie",))
            return response
        try:
            response = super().process_response(request, response)
        except MongoSessionError as exc:
            failure = failure_for(exc)
            if failure is None:
                raise
            return _render(failure)
        if settings.SESSION_COOKIE_NAME in response.cookies:  # set or cleared
            patch_cache_control(response, no_store=True)
        return response


def _render(failure: Failure) -> HttpResponse:
    """The failure as Django's response; Django's own session cookie deleted when it ended."""
    response = HttpResponse(
        failure.text, status=failure.status, content_type="text/plain; charset=utf-8"
    )
    for name, value in failure.headers:
        response[name] = value
    if failure.ends_session:
        response.delete_cookie(
            settings.SESSION_COOKIE_NAME,
            path=settings.SESSION_COOKIE_PATH,
            domain=settings.SESSION_COOKIE_DOMAIN,
            samesite=settings.SESSION_COOKIE_SAMESITE,
        )
    return response
