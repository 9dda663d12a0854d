"""Quart sessions stored in MongoDB, with express-session's semantics.

The Flask adapter (:mod:`mongosession.flask`) on asyncio: Quart's ``session``
proxy works unchanged; the object behind it is a :class:`QuartSession` (a
:class:`~mongosession.Session` over the :class:`AsyncMongoStore`, so its
``.regenerate()``, ``.destroy()``... are awaitable, and Flask's ``SessionMixin``,
so ``permanent``, ``new`` and ``modified`` work)::

    from quart import Quart, request, session
    from mongosession.quart import MongoSession, get_session

    app = Quart(__name__)
    app.config["SECRET_KEY"] = "change me"
    app.config["MONGOSESSION_URI"] = "mongodb://localhost:27017/app"
    MongoSession(app)

    @app.post("/login")
    async def login():
        await get_session().regenerate()   # new id, old record deleted, data kept
        session["user"] = "alice"
        return "welcome"

Or set the interface yourself:
``app.session_interface = MongoSessionInterface(AsyncMongoStore(uri=...), secret=...)``.

``quart.session`` is a ``SessionMixin`` to mypy; :func:`get_session` gives the
same object typed, a :class:`QuartSession` whose methods are typed coroutines
(``await get_session().regenerate()``). Nothing is saved when the response is a
server error (5xx), which is also what Quart answers for a view that raised. A
websocket reads its session; it cannot set a cookie, so nothing is saved for it.
"""

from __future__ import annotations

# ruff: noqa: E402
from typing import cast

# The framework first: without it, say which extra installs it (the imports follow).
from mongosession._extras import require

require("quart", extra="quart", feature="mongosession.quart")

from flask.sessions import SessionMixin
from quart import Quart
from quart import session as quart_session
from quart.sessions import SessionInterface
from quart.wrappers import BaseRequestWebsocket
from quart.wrappers import Response as QuartResponse
from werkzeug.wrappers import Response as WerkzeugResponse

from mongosession._errors import StoreUnavailable
from mongosession.store.asynchronous.store import AsyncMongoStore
from mongosession.store.devices import DeviceSession
from mongosession.web import flasklike
from mongosession.web.asgi_support import prepare_store
from mongosession.web.asynchronous.exchange import AsyncExchange
from mongosession.web.config import SessionOptions
from mongosession.web.flasklike import SessionUnavailable, UnavailableSession

__all__ = [
    "MongoSession",
    "MongoSessionInterface",
    "QuartSession",
    "SessionOptions",
    "SessionUnavailable",
    "UnavailableSession",
    "get_session",
]

#: What Quart hands ``save_session``: its own response, or werkzeug's (an HTTPException's).
AnyResponse = QuartResponse | WerkzeugResponse


class QuartSession(flasklike.SessionBase[AsyncExchange]):
    """The session behind Quart's ``session`` proxy: :class:`~mongosession.flask.FlaskSession` on asyncio.

    ``permanent``, ``new`` and ``modified`` are as Flask's; the store calls
    (``regenerate()``, ``destroy()``, ``reload()``, ``save()``, ``touch()``) are
    coroutines.
    """

    # The session's own store calls, failing closed (503) like the load and the save.
    async def regenerate(self, *, keep_data: bool = True) -> None:
        """New id, old record deleted, data kept (``keep_data=False`` drops it)."""
        with flasklike.fails_closed(self.exchange):
            await self.exchange.regenerate(keep_data=keep_data)

    async def destroy(self) -> None:
        """Delete the record now; the cookie is cleared and the session starts empty."""
        with flasklike.fails_closed(self.exchange):
            await self.exchange.destroy()

    async def reload(self) -> bool:
        """Re-read from the store; False (and an empty session) when it is gone."""
        with flasklike.fails_closed(self.exchange):
            return await self.exchange.reload()

    async def save(self) -> bool:
        """Save now rather than at the end of the request."""
        with flasklike.fails_closed(self.exchange):
            return await self.exchange.save()

    async def touch(self) -> None:
        """Restart the cookie's lifetime (``max_age``) from now."""
        with flasklike.fails_closed(self.exchange):
            await self.exchange.touch()

    async def devices(self) -> list[DeviceSession]:
        """This user's sessions, most recently active first (:meth:`Session.devices`)."""
        with flasklike.fails_closed(self.exchange):
            return await self.exchange.devices()

    async def revoke_device(self, handle: str) -> bool:
        """End this user's session named by ``handle``; whether one ended."""
        with flasklike.fails_closed(self.exchange):
            return await self.exchange.revoke_device(handle)

    async def revoke_other_devices(self) -> int:
        """End every other session of this user ("sign out everywhere else"); how many."""
        with flasklike.fails_closed(self.exchange):
            return await self.exchange.revoke_other_devices()


def get_session() -> QuartSession:
    """The current request's session, typed: the object behind ``quart.session``.

    ``quart.session`` is a ``SessionMixin`` to mypy; this is the same session as
    a :class:`QuartSession`, whose methods are typed coroutines. Example::

        from mongosession.quart import get_session

        @app.post("/login")
        async def login() -> str:
            await get_session().regenerate()
            session["user"] = "alice"
            return "welcome"

    Raises the errors :func:`mongosession.flask.get_session` raises: 503 when the
    store could not load the session, RuntimeError without ``MongoSession(app)``.
    """
    return QuartSession._current(quart_session)


class MongoSessionInterface(flasklike.InterfaceBase[Quart, AsyncMongoStore], SessionInterface):
    """A Quart ``SessionInterface`` over an :class:`AsyncMongoStore` (Quart views run on the event loop).

    The arguments, the app config it reads and its answers are those of Flask's
    (:class:`mongosession.flask.MongoSessionInterface`); Quart's config keys are
    Flask's. A websocket reads its session and saves nothing.

    Raises:
        ConfigurationTypeError: ``store`` is not an :class:`AsyncMongoStore`.
    """

    _store_class = AsyncMongoStore
    _wrong_store = "the Quart MongoSessionInterface needs an AsyncMongoStore"

    async def open_session(
        self, app: Quart, request: BaseRequestWebsocket
    ) -> QuartSession | UnavailableSession:
        """Load the request's session (one query with a valid cookie, none without)."""
        exchange = AsyncExchange.for_request(
            self.store,
            self.config_for(app),
            flasklike.request_header(request.headers),
            https=request.scheme in ("https", "wss"),
            session_class=QuartSession,
            request=request,
            peer=lambda: request.remote_addr,
        )
        try:
            return cast(QuartSession, await exchange.load())
        except StoreUnavailable as exc:
            return self._unavailable(exchange, exc)

    async def save_session(
        self, app: Quart, session: SessionMixin, response: AnyResponse | None
    ) -> None:
        """Save, touch or destroy as the session's state requires; add the cookie headers.

        After a server error (5xx) nothing is saved and no cookie is sent
        (:func:`~mongosession.web.rules.saves_after`); after a websocket
        (``response`` None) neither.
        """
        if not isinstance(session, QuartSession) or response is None:
            return
        self._apply_permanent(app, session)
        self._finish(response, *await session.exchange.commit(session, response.status_code))


class MongoSession(flasklike.ExtensionBase[Quart, AsyncMongoStore, MongoSessionInterface]):
    """The Quart extension: ``MongoSession(app)`` or ``ext = MongoSession(); ext.init_app(app)``.

    It reads ``app.config`` and takes ``store=``, ``secret=`` and ``**options`` as
    the Flask extension does (:class:`mongosession.flask.MongoSession`), with an
    :class:`AsyncMongoStore`. A store you pass is yours to close. The store's
    indexes are made before the app serves; a store the extension made from the
    config is closed after it stops serving.
    """

    _interface_class = MongoSessionInterface

    def init_app(self, app: Quart) -> MongoSessionInterface:
        """Install the session interface on ``app``; checks the configuration now."""
        interface = self._interface_for(app)
        # Quart types the attribute as its own cookie interface's class.
        app.session_interface = interface  # type: ignore[assignment]
        store = interface.store

        async def prepare() -> None:  # the indexes before serving (a plain coroutine
            await prepare_store(store)  # function: Quart runs anything else in a thread)

        app.before_serving(prepare)
        if self.store is None:  # made from the config: ours to close
            app.after_serving(store.close)
        return interface
