"""A user's code, type-checked by tests/test_typing.py (``mypy --strict``); never run.

Each ``reveal_type`` carries the type mypy must reveal in its trailing comment
(module paths left out); none may contain ``Any``, and no expression of this
file may be ``Any`` (the inline option below), so nothing of mongosession's
public surface degrades to ``Any`` where a user calls it.
"""

# mypy: disallow-any-expr

from __future__ import annotations

from aiohttp import web
from flask import Flask
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from typing_extensions import reveal_type

from mongosession import (
    AsyncMongoStore,
    AsyncSession,
    ConfigurationError,
    MongoStore,
    SessionOptions,
    SyncSession,
)
from mongosession.aiohttp import get_session as aiohttp_session
from mongosession.aiohttp import setup
from mongosession.asgi import SessionMiddleware, get_session
from mongosession.flask import FlaskSession, MongoSession
from mongosession.flask import get_session as flask_session

# -- ASGI (Starlette, FastAPI) --------------------------------------------------------------


async def login(request: Request) -> PlainTextResponse:
    session = get_session(request)
    reveal_type(session)  # Session[AsyncExchange]
    reveal_type(session.regenerate())  # Awaitable[None]
    reveal_type(await session.regenerate())  # None
    reveal_type(await session.regenerate(keep_data=False))  # None
    reveal_type(await session.destroy())  # None
    reveal_type(await session.reload())  # bool
    reveal_type(await session.save())  # bool
    reveal_type(await session.touch())  # None
    reveal_type(session.id)  # str
    reveal_type(session.cookie.max_age)  # float | None
    session["user"] = request.query_params["user"]
    return PlainTextResponse("welcome")


def annotated(session: AsyncSession) -> AsyncSession:
    return session


options: SessionOptions = {"max_age": 3600, "rolling": True, "same_site": "strict"}
store = AsyncMongoStore(uri="mongodb://localhost:27017/app")
app = Starlette()
app.add_middleware(SessionMiddleware, store=store, secret=["new", "old"], **options)
app.add_middleware(SessionMiddleware, store=store, secret="s", secure="auto", unset="destroy")

# -- Flask ---------------------------------------------------------------------------------------

flask_app = Flask(__name__)
MongoSession(flask_app, store=MongoStore(uri="mongodb://localhost:27017/app"), max_age=3600)


@flask_app.post("/login")
def flask_login() -> str:
    session = flask_session()
    reveal_type(session)  # FlaskSession
    reveal_type(session.regenerate())  # None
    reveal_type(session.regenerate(keep_data=False))  # None
    reveal_type(session.destroy())  # None
    reveal_type(session.reload())  # bool
    reveal_type(session.save())  # bool
    reveal_type(session.touch())  # None
    reveal_type(session.new)  # bool
    reveal_type(session.modified)  # bool
    return "welcome"


def flask_annotated(session: FlaskSession) -> SyncSession:
    return session


# -- aiohttp -----------------------------------------------------------------------------------


async def aiohttp_login(request: web.Request) -> web.Response:
    session = await aiohttp_session(request)
    reveal_type(session)  # Session[AsyncExchange]
    reveal_type(await session.regenerate())  # None
    reveal_type(await session.reload())  # bool
    return web.Response(text="welcome")


aiohttp_app = web.Application()
setup(aiohttp_app, store, secret="s", **options)

# -- errors ----------------------------------------------------------------------------------------


def start() -> None:
    try:
        setup(web.Application(), store, secret="")
    except ConfigurationError as exc:
        reveal_type(exc)  # ConfigurationError
