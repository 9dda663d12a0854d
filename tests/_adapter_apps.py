"""The behaviour suite's routes, once per framework adapter (tests/_apps.py has ASGI's).

Every app answers the same routes with the same meaning:

- ``GET /``: count visits in the session, answer the count;
- ``GET /static``: never touch the session;
- ``POST /login?user=NAME``: regenerate the session id, then store the user;
- ``POST /logout``: destroy the session;
- ``GET /whoami``: the stored user, or ``anonymous``.

The Flask and Django apps also answer the reliability routes, whose handlers wait
at :data:`gate` (a :class:`ThreadGate`) so a test can overlap two requests on a
threaded server:

- ``GET /slow``: read the user, wait at the gate, then change the session;
- ``POST /slow-login?user=NAME``: load the session, wait, then log in (a new id);
- ``GET /set?key=K&value=V``: load the session, wait, then set one key;
- ``GET /peek``: the session's data as JSON.
"""

from __future__ import annotations

import threading
from typing import Any

import django
from aiohttp import web
from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import path
from django.views.decorators.http import require_GET, require_POST
from flask import Flask, jsonify, request, session

from mongosession import AsyncMongoStore, MongoStore
from mongosession.aiohttp import get_session, setup
from mongosession.flask import MongoSession

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

    @app.post("/login")
    def login() -> str:
        session.regenerate()  # type: ignore[attr-defined]
        session["user"] = request.args["user"]
        return "welcome"

    @app.post("/logout")
    def logout() -> str:
        session.destroy()  # type: ignore[attr-defined]
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
        session.regenerate()  # type: ignore[attr-defined]
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

    app.add_routes(routes)
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


@require_GET
def django_set(request: HttpRequest) -> HttpResponse:
    request.session.get("user")
    gate.hold()
    request.session[request.GET["key"]] = request.GET["value"]
    return HttpResponse("set")


@require_GET
def django_peek(request: HttpRequest) -> HttpResponse:
    return JsonResponse(dict(request.session))


urlpatterns = [
    path("race", django_race),
    path("slow", django_slow),
    path("slow-login", django_slow_login),
    path("set", django_set),
    path("peek", django_peek),
    path("", django_count),
    path("static", django_static),
    path("login", django_login),
    path("logout", django_logout),
    path("whoami", django_whoami),
]
