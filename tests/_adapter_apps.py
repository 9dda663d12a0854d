"""The behaviour suite's routes, once per framework adapter (tests/_apps.py has ASGI's).

Every app answers the same routes with the same meaning:

- ``GET /``: count visits in the session, answer the count;
- ``GET /static``: never touch the session;
- ``POST /login?user=NAME``: regenerate the session id, then store the user;
- ``POST /logout``: destroy the session;
- ``GET /whoami``: the stored user, or ``anonymous``.
"""

from __future__ import annotations

from typing import Any

import django
from aiohttp import web
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.urls import path
from django.views.decorators.http import require_GET, require_POST
from flask import Flask, request, session

from mongosession import AsyncMongoStore, MongoStore
from mongosession.aiohttp import get_session, setup
from mongosession.flask import MongoSession

SECRET = "test secret"


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


urlpatterns = [
    path("race", django_race),
    path("", django_count),
    path("static", django_static),
    path("login", django_login),
    path("logout", django_logout),
    path("whoami", django_whoami),
]
