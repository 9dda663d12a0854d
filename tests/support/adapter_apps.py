"""The behaviour suite's routes, once per framework adapter (tests/support/apps.py has ASGI's).

Flask, Django, aiohttp, Litestar and Quart here; the routes mean the same in each.

Every app answers the same routes with the same meaning:

- ``GET /``: count visits in the session, answer the count;
- ``GET /static``: never touch the session;
- ``POST /login?user=NAME``: regenerate the session id, then store the user;
- ``POST /logout``: destroy the session;
- ``GET /whoami``: the stored user, or ``anonymous``.

- ``GET /put?key=K&value=JSON&how=WAY``: put a key in the session one way (:func:`put`);
- ``GET /devices``: the user's sessions as devices, JSON (:func:`devices_json`);
- ``POST /revoke?handle=H``: revoke one by its handle (``revoked`` or ``unknown``);
- ``POST /revoke-others``: end the user's other sessions (how many);
- ``GET /fail?status=N``: count a visit as ``/`` does, then answer with status ``N``;
- ``GET /crash``: count a visit as ``/`` does, then raise :class:`Crash`.

The Flask, Django, aiohttp, Litestar and Quart apps also answer the reliability routes, whose handlers
wait at :data:`gate` (a :class:`ThreadGate`) so a test can overlap two requests on a
real server (tests/support/web.py's ``Served*``; the ASGI app's are tests/support/apps.py's
``GATED_ROUTES``); async handlers wait in a worker thread, leaving the loop free:

- ``GET /slow``: read the user, wait at the gate, then change the session;
- ``POST /slow-login?user=NAME``: load the session, wait, then log in (a new id);
- ``POST /login-then-wait?user=NAME``: a new id first, wait, then store the user;
- ``GET /set?key=K&value=V``: load the session, wait, then set one key;
- ``GET /peek``: the session's data as JSON.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import threading
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import django
from aiohttp import web
from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import path
from django.views.decorators.http import require_GET, require_POST
from flask import Flask, jsonify, request, session
from litestar import Litestar
from litestar import Request as LitestarRequest
from litestar import Response as LitestarResponse
from litestar import get as litestar_get
from litestar import post as litestar_post
from quart import Quart
from quart import request as quart_request
from quart import session as quart_session

from mongosession import AsyncMongoStore, MongoStore, ReservedKey
from mongosession.aiohttp import get_session, setup
from mongosession.flask import MongoSession
from mongosession.flask import get_session as flask_session
from mongosession.litestar import MongoSessionPlugin
from mongosession.litestar import get_session as litestar_session
from mongosession.quart import MongoSession as QuartMongoSession
from mongosession.quart import get_session as quart_get_session

SECRET = "test secret"
GATE_TIMEOUT = 30  # seconds a held request waits before failing the test


class ThreadGate:
    """Holds requests inside their handlers (server threads) until the test lets them go."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self.arrivals = 0
        self.released = False

    def hold(self) -> None:
        """Called by a handler: count the arrival, wait for :meth:`release`."""
        with self._condition:
            self.arrivals += 1
            self._condition.notify_all()
            if not self._condition.wait_for(lambda: self.released, GATE_TIMEOUT):
                raise TimeoutError("the test never released the gate")

    def wait_for(self, arrivals: int) -> None:
        """Called by the test: wait until ``arrivals`` requests are held."""
        with self._condition:
            if not self._condition.wait_for(lambda: self.arrivals >= arrivals, GATE_TIMEOUT):
                raise TimeoutError(f"{self.arrivals} of {arrivals} requests reached the gate")

    def release(self) -> None:
        """Let every held request, and every later one, through."""
        with self._condition:
            self.released = True
            self._condition.notify_all()


gate = ThreadGate()


def new_gate() -> ThreadGate:
    """A fresh, closed :data:`gate` for the next test (the handlers read it when called)."""
    global gate
    gate = ThreadGate()
    return gate


class Crash(RuntimeError):
    """What ``/crash`` raises after changing the session: an unhandled handler error."""


# -- /put: one key, one way of putting it there -----------------------------------------

#: The ways ``/put`` puts a key in the session (``how=``); the ASGI app also has
#: ``replace`` (the whole session slot replaced by a plain dict). Django's session
#: has no ``|=``, and its ``update`` takes one dict.
WAYS = ("item", "update-kw", "update-dict", "setdefault", "ior")


def value_of(params: Mapping[str, str]) -> Any:
    """The ``value`` parameter, JSON (``true`` when absent)."""
    return json.loads(params.get("value", "true"))


def assign(session: Any, how: str, key: str, value: Any) -> None:
    """Put ``value`` under ``key`` in ``session`` the way ``how`` names (see :data:`WAYS`)."""
    if how == "item":
        session[key] = value
    elif how == "update-kw":
        session.update(**{key: value})
    elif how == "update-dict":
        session.update({key: value})
    elif how == "setdefault":
        session.setdefault(key, value)
    elif how == "ior":
        session |= {key: value}
    else:
        raise ValueError(f"unknown way {how!r}")


def put(session: Any, params: Mapping[str, str]) -> str:
    """The ``/put`` route: ``key``, ``value`` (JSON), ``how`` (default ``item``).

    With ``catch=1`` a :class:`~mongosession.ReservedKey` is caught and answered
    (``refused: <message>; read: <what reading the key then gives>``); without it
    the error reaches the adapter, which answers as for any handler error.
    """
    key, value, how = params["key"], value_of(params), params.get("how", "item")
    if params.get("catch") != "1":
        assign(session, how, key, value)
        return "stored"
    try:
        assign(session, how, key, value)
    except ReservedKey as exc:
        try:
            session[key]
        except KeyError:
            read = "KeyError"
        else:
            read = "found"
        return f"refused: {exc}; read: {read}"
    return "stored"


def devices_json(devices: Any) -> list[dict[str, Any]]:
    """The ``/devices`` route's answer: each DeviceSession as JSON (dates as ISO text)."""
    return [
        {
            name: value.isoformat() if isinstance(value, datetime) else value
            for name, value in dataclasses.asdict(device).items()
        }
        for device in devices
    ]


def revoked_text(revoked: bool) -> str:
    """The ``/revoke`` route's answer."""
    return "revoked" if revoked else "unknown"


# -- Flask ---------------------------------------------------------------------------------


def flask_app(store: MongoStore, **options: Any) -> Flask:
    """The routes behind the Flask extension."""
    app = Flask(__name__)
    app.config["SECRET_KEY"] = SECRET
    MongoSession(app, store=store, **options)

    @app.get("/")
    def count() -> str:
        session["n"] = session.get("n", 0) + 1
        return str(session["n"])

    @app.get("/static")
    def static_page() -> str:
        return "static"

    @app.get("/fail")
    def fail() -> tuple[str, int]:
        session["n"] = session.get("n", 0) + 1
        return "failed", int(request.args["status"])

    @app.get("/crash")
    def crash() -> str:
        session["n"] = session.get("n", 0) + 1
        raise Crash("the handler failed after changing the session")

    @app.post("/login")
    def login() -> str:
        flask_session().regenerate()
        session["user"] = request.args["user"]
        return "welcome"

    @app.post("/logout")
    def logout() -> str:
        flask_session().destroy()
        return "bye"

    @app.get("/whoami")
    def whoami() -> str:
        return str(session.get("user", "anonymous"))

    @app.get("/slow")
    def slow() -> str:
        user = str(session.get("user", "anonymous"))
        gate.hold()
        session["late"] = True
        return user

    @app.post("/slow-login")
    def slow_login() -> str:
        session.get("user")
        gate.hold()
        flask_session().regenerate()
        session["user"] = request.args["user"]
        return "welcome"

    @app.post("/login-then-wait")
    def login_then_wait() -> str:
        flask_session().regenerate()
        gate.hold()
        session["user"] = request.args["user"]
        return "welcome"

    @app.get("/set")
    def set_key() -> str:
        session.get("user")
        gate.hold()
        session[request.args["key"]] = request.args["value"]
        return "set"

    @app.get("/peek")
    def peek() -> Any:
        return jsonify(dict(session))

    @app.get("/devices")
    def devices() -> Any:
        return jsonify(devices_json(flask_session().devices()))

    @app.post("/revoke")
    def revoke() -> str:
        return revoked_text(flask_session().revoke_device(request.args["handle"]))

    @app.post("/revoke-others")
    def revoke_others() -> str:
        return str(flask_session().revoke_other_devices())

    @app.get("/put")
    def put_key() -> Any:
        response = app.make_response(put(session, request.args))
        if "cache" in request.args:
            response.headers["Cache-Control"] = request.args["cache"]
        return response

    return app


# -- aiohttp -------------------------------------------------------------------------------


def aiohttp_app(store: AsyncMongoStore, **options: Any) -> web.Application:
    """The routes behind ``mongosession.aiohttp.setup``."""
    app = web.Application()
    setup(app, store, secret=SECRET, **options)
    routes = web.RouteTableDef()

    @routes.get("/")
    async def count(request: web.Request) -> web.Response:
        session = await get_session(request)
        session["n"] = session.get("n", 0) + 1
        return web.Response(text=str(session["n"]))

    @routes.get("/static")
    async def static_page(request: web.Request) -> web.Response:
        return web.Response(text="static")

    @routes.get("/fail")
    async def fail(request: web.Request) -> web.Response:
        session = await get_session(request)
        session["n"] = session.get("n", 0) + 1
        return web.Response(text="failed", status=int(request.query["status"]))

    @routes.get("/crash")
    async def crash(request: web.Request) -> web.Response:
        session = await get_session(request)
        session["n"] = session.get("n", 0) + 1
        raise Crash("the handler failed after changing the session")

    @routes.post("/login")
    async def login(request: web.Request) -> web.Response:
        session = await get_session(request)
        await session.regenerate()
        session["user"] = request.query["user"]
        return web.Response(text="welcome")

    @routes.post("/logout")
    async def logout(request: web.Request) -> web.Response:
        session = await get_session(request)
        await session.destroy()
        return web.Response(text="bye")

    @routes.get("/whoami")
    async def whoami(request: web.Request) -> web.Response:
        session = await get_session(request)
        return web.Response(text=session.get("user", "anonymous"))

    @routes.get("/slow")
    async def slow(request: web.Request) -> web.Response:
        session = await get_session(request)
        user = str(session.get("user", "anonymous"))
        await asyncio.to_thread(gate.hold)  # gate: read now
        session["late"] = True
        return web.Response(text=user)

    @routes.post("/slow-login")
    async def slow_login(request: web.Request) -> web.Response:
        session = await get_session(request)
        session.get("user")
        await asyncio.to_thread(gate.hold)  # gate: read now
        await session.regenerate()
        session["user"] = request.query["user"]
        return web.Response(text="welcome")

    @routes.post("/login-then-wait")
    async def login_then_wait(request: web.Request) -> web.Response:
        session = await get_session(request)
        await session.regenerate()
        await asyncio.to_thread(gate.hold)  # gate: read now
        session["user"] = request.query["user"]
        return web.Response(text="welcome")

    @routes.get("/set")
    async def set_key(request: web.Request) -> web.Response:
        session = await get_session(request)
        session.get("user")
        await asyncio.to_thread(gate.hold)  # gate: read now
        session[request.query["key"]] = request.query["value"]
        return web.Response(text="set")

    @routes.get("/peek")
    async def peek(request: web.Request) -> web.Response:
        return web.json_response(dict(await get_session(request)))

    @routes.get("/devices")
    async def devices(request: web.Request) -> web.Response:
        return web.json_response(devices_json(await (await get_session(request)).devices()))

    @routes.post("/revoke")
    async def revoke(request: web.Request) -> web.Response:
        session = await get_session(request)
        return web.Response(text=revoked_text(await session.revoke_device(request.query["handle"])))

    @routes.post("/revoke-others")
    async def revoke_others(request: web.Request) -> web.Response:
        session = await get_session(request)
        return web.Response(text=str(await session.revoke_other_devices()))

    @routes.get("/put")
    async def put_key(request: web.Request) -> web.Response:
        response = web.Response(text=put(await get_session(request), request.query))
        if "cache" in request.query:
            response.headers["Cache-Control"] = request.query["cache"]
        return response

    app.add_routes(routes)
    return app


# -- Litestar ------------------------------------------------------------------------------

#: A Litestar request, as the handlers below annotate it (Litestar reads the annotations).
LRequest = LitestarRequest[Any, Any, Any]


def _text(text: str, status: int = 200) -> LitestarResponse[str]:
    return LitestarResponse(text, status_code=status, media_type="text/plain")


def litestar_app(store: AsyncMongoStore, **options: Any) -> Litestar:
    """The routes behind ``MongoSessionPlugin``; POST routes answer 200 (Litestar's default is 201)."""

    @litestar_get("/")
    async def count(request: LRequest) -> LitestarResponse[str]:
        request.session["n"] = request.session.get("n", 0) + 1
        return _text(str(request.session["n"]))

    @litestar_get("/static")
    async def static_page() -> LitestarResponse[str]:
        return _text("static")

    @litestar_get("/fail")
    async def fail(request: LRequest) -> LitestarResponse[str]:
        request.session["n"] = request.session.get("n", 0) + 1
        return _text("failed", int(request.query_params["status"]))

    @litestar_get("/crash")
    async def crash(request: LRequest) -> LitestarResponse[str]:
        request.session["n"] = request.session.get("n", 0) + 1
        raise Crash("the handler failed after changing the session")

    @litestar_post("/login", status_code=200)
    async def login(request: LRequest) -> LitestarResponse[str]:
        await litestar_session(request).regenerate()
        request.session["user"] = request.query_params["user"]
        return _text("welcome")

    @litestar_post("/logout", status_code=200)
    async def logout(request: LRequest) -> LitestarResponse[str]:
        await litestar_session(request).destroy()
        return _text("bye")

    @litestar_get("/whoami")
    async def whoami(request: LRequest) -> LitestarResponse[str]:
        return _text(str(request.session.get("user", "anonymous")))

    @litestar_get("/slow")
    async def slow(request: LRequest) -> LitestarResponse[str]:
        session = litestar_session(request)
        user = str(session.get("user", "anonymous"))
        await asyncio.to_thread(gate.hold)  # gate: read now
        session["late"] = True
        return _text(user)

    @litestar_post("/slow-login", status_code=200)
    async def slow_login(request: LRequest) -> LitestarResponse[str]:
        session = litestar_session(request)
        session.get("user")
        await asyncio.to_thread(gate.hold)  # gate: read now
        await session.regenerate()
        session["user"] = request.query_params["user"]
        return _text("welcome")

    @litestar_post("/login-then-wait", status_code=200)
    async def login_then_wait(request: LRequest) -> LitestarResponse[str]:
        session = litestar_session(request)
        await session.regenerate()
        await asyncio.to_thread(gate.hold)  # gate: read now
        session["user"] = request.query_params["user"]
        return _text("welcome")

    @litestar_get("/set")
    async def set_key(request: LRequest) -> LitestarResponse[str]:
        session = litestar_session(request)
        session.get("user")
        await asyncio.to_thread(gate.hold)  # gate: read now
        session[request.query_params["key"]] = request.query_params["value"]
        return _text("set")

    @litestar_get("/peek")
    async def peek(request: LRequest) -> dict[str, Any]:
        return dict(request.session)

    @litestar_get("/devices")
    async def devices(request: LRequest) -> list[dict[str, Any]]:
        return devices_json(await litestar_session(request).devices())

    @litestar_post("/revoke", status_code=200)
    async def revoke(request: LRequest) -> LitestarResponse[str]:
        handle = request.query_params["handle"]
        return _text(revoked_text(await litestar_session(request).revoke_device(handle)))

    @litestar_post("/revoke-others", status_code=200)
    async def revoke_others(request: LRequest) -> LitestarResponse[str]:
        return _text(str(await litestar_session(request).revoke_other_devices()))

    @litestar_get("/put")
    async def put_key(request: LRequest) -> LitestarResponse[str]:
        response = _text(put(request.session, request.query_params))
        if "cache" in request.query_params:
            response.headers["Cache-Control"] = request.query_params["cache"]
        return response

    handlers = [count, static_page, fail, crash, login, logout, whoami]
    handlers += [slow, slow_login, login_then_wait, set_key, peek, put_key]
    handlers += [devices, revoke, revoke_others]
    return Litestar(
        handlers,
        plugins=[MongoSessionPlugin(store, secret=SECRET, **options)],
        # The test process's logging stays pytest's (Litestar's default config
        # would install its own handlers on the root logger)...
        logging_config=None,
        # ...and a handler's error is logged, as LoggingConfig(log_exceptions="always") does.
        after_exception=[_log_handler_error],
    )


async def _log_handler_error(exc: Exception, scope: Any) -> None:
    logging.getLogger("litestar").error("Uncaught exception in a handler", exc_info=exc)


# -- Quart ---------------------------------------------------------------------------------


def quart_app(store: AsyncMongoStore, **options: Any) -> Quart:
    """The routes behind the Quart extension (``session`` is Quart's proxy)."""
    app = Quart(__name__)
    app.config["SECRET_KEY"] = SECRET
    QuartMongoSession(app, store=store, **options)

    @app.get("/")
    async def count() -> str:
        quart_session["n"] = quart_session.get("n", 0) + 1
        return str(quart_session["n"])

    @app.get("/static")
    async def static_page() -> str:
        return "static"

    @app.get("/fail")
    async def fail() -> tuple[str, int]:
        quart_session["n"] = quart_session.get("n", 0) + 1
        return "failed", int(quart_request.args["status"])

    @app.get("/crash")
    async def crash() -> str:
        quart_session["n"] = quart_session.get("n", 0) + 1
        raise Crash("the handler failed after changing the session")

    @app.post("/login")
    async def login() -> str:
        await quart_get_session().regenerate()
        quart_session["user"] = quart_request.args["user"]
        return "welcome"

    @app.post("/logout")
    async def logout() -> str:
        await quart_get_session().destroy()
        return "bye"

    @app.get("/whoami")
    async def whoami() -> str:
        return str(quart_session.get("user", "anonymous"))

    @app.get("/slow")
    async def slow() -> str:
        user = str(quart_session.get("user", "anonymous"))
        await asyncio.to_thread(gate.hold)  # gate: read now
        quart_session["late"] = True
        return user

    @app.post("/slow-login")
    async def slow_login() -> str:
        quart_session.get("user")
        await asyncio.to_thread(gate.hold)  # gate: read now
        await quart_get_session().regenerate()
        quart_session["user"] = quart_request.args["user"]
        return "welcome"

    @app.post("/login-then-wait")
    async def login_then_wait() -> str:
        await quart_get_session().regenerate()
        await asyncio.to_thread(gate.hold)  # gate: read now
        quart_session["user"] = quart_request.args["user"]
        return "welcome"

    @app.get("/set")
    async def set_key() -> str:
        quart_session.get("user")
        await asyncio.to_thread(gate.hold)  # gate: read now
        quart_session[quart_request.args["key"]] = quart_request.args["value"]
        return "set"

    @app.get("/peek")
    async def peek() -> dict[str, Any]:
        return dict(quart_session)

    @app.get("/devices")
    async def devices() -> Any:
        return devices_json(await quart_get_session().devices())

    @app.post("/revoke")
    async def revoke() -> str:
        handle = quart_request.args["handle"]
        return revoked_text(await quart_get_session().revoke_device(handle))

    @app.post("/revoke-others")
    async def revoke_others() -> str:
        return str(await quart_get_session().revoke_other_devices())

    @app.get("/put")
    async def put_key() -> Any:
        response = await app.make_response(put(quart_session, quart_request.args))
        if "cache" in quart_request.args:
            response.headers["Cache-Control"] = quart_request.args["cache"]
        return response

    return app


# -- Django --------------------------------------------------------------------------------


def configure_django() -> None:
    """Settings for the Django tests (once per process); MONGOSESSION comes per test."""
    if settings.configured:
        return
    settings.configure(
        DEBUG=False,
        SECRET_KEY=SECRET,
        ALLOWED_HOSTS=["*"],
        ROOT_URLCONF=__name__,
        INSTALLED_APPS=["django.contrib.sessions"],
        MIDDLEWARE=["mongosession.django.SessionMiddleware"],
        SESSION_ENGINE="mongosession.django",
        # An unmodified session is then saved on every request: with mongosession
        # that is a touch (moving the expiry), skipped within touch_after.
        SESSION_SAVE_EVERY_REQUEST=True,
        DATABASES={},
        USE_TZ=True,
        LOGGING_CONFIG=None,
    )
    django.setup()


@require_GET
def django_count(request: HttpRequest) -> HttpResponse:
    request.session["n"] = request.session.get("n", 0) + 1
    return HttpResponse(str(request.session["n"]))


@require_GET
def django_static(request: HttpRequest) -> HttpResponse:
    return HttpResponse("static")


@require_GET
def django_fail(request: HttpRequest) -> HttpResponse:
    request.session["n"] = request.session.get("n", 0) + 1
    return HttpResponse("failed", status=int(request.GET["status"]))


@require_GET
def django_crash(request: HttpRequest) -> HttpResponse:
    request.session["n"] = request.session.get("n", 0) + 1
    raise Crash("the handler failed after changing the session")


@require_POST
def django_login(request: HttpRequest) -> HttpResponse:
    request.session.cycle_key()  # what django.contrib.auth.login does
    request.session["user"] = request.GET["user"]
    return HttpResponse("welcome")


@require_POST
def django_logout(request: HttpRequest) -> HttpResponse:
    request.session.flush()  # what django.contrib.auth.logout does
    return HttpResponse("bye")


@require_GET
def django_whoami(request: HttpRequest) -> HttpResponse:
    return HttpResponse(request.session.get("user", "anonymous"))


def django_race(request: HttpRequest) -> HttpResponse:
    """Loads the session, sees it logged out by a concurrent request, then changes it."""
    request.session.get("n")
    type(request.session)(request.session.session_key).delete()
    request.session["late"] = True
    return HttpResponse("too late")


def django_slow(request: HttpRequest) -> HttpResponse:
    user = request.session.get("user", "anonymous")
    gate.hold()
    request.session["late"] = True
    return HttpResponse(user)


@require_POST
def django_slow_login(request: HttpRequest) -> HttpResponse:
    request.session.get("user")
    gate.hold()
    request.session.cycle_key()
    request.session["user"] = request.GET["user"]
    return HttpResponse("welcome")


@require_POST
def django_login_then_wait(request: HttpRequest) -> HttpResponse:
    request.session.cycle_key()
    gate.hold()
    request.session["user"] = request.GET["user"]
    return HttpResponse("welcome")


@require_GET
def django_set(request: HttpRequest) -> HttpResponse:
    request.session.get("user")
    gate.hold()
    request.session[request.GET["key"]] = request.GET["value"]
    return HttpResponse("set")


@require_GET
def django_peek(request: HttpRequest) -> HttpResponse:
    return JsonResponse(dict(request.session))


@require_GET
def django_put(request: HttpRequest) -> HttpResponse:
    response = HttpResponse(put(request.session, request.GET))
    if "cache" in request.GET:
        response["Cache-Control"] = request.GET["cache"]
    return response


@require_GET
def django_devices(request: HttpRequest) -> HttpResponse:
    return JsonResponse(devices_json(request.session.devices()), safe=False)


@require_POST
def django_revoke(request: HttpRequest) -> HttpResponse:
    return HttpResponse(revoked_text(request.session.revoke_device(request.GET["handle"])))


@require_POST
def django_revoke_others(request: HttpRequest) -> HttpResponse:
    return HttpResponse(str(request.session.revoke_other_devices()))


urlpatterns = [
    path("devices", django_devices),
    path("revoke", django_revoke),
    path("revoke-others", django_revoke_others),
    path("race", django_race),
    path("slow", django_slow),
    path("slow-login", django_slow_login),
    path("login-then-wait", django_login_then_wait),
    path("set", django_set),
    path("peek", django_peek),
    path("put", django_put),
    path("", django_count),
    path("static", django_static),
    path("fail", django_fail),
    path("crash", django_crash),
    path("login", django_login),
    path("logout", django_logout),
    path("whoami", django_whoami),
]
