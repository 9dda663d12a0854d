"""mongosession on Starlette (served by uvicorn): ``bench.apps.asgi_app:app``."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from mongosession import AsyncMongoStore
from mongosession.asgi import Session, SessionMiddleware

from . import MAX_AGE, SECRET, TOUCH_AFTER, URI, profile


async def login(request: Request) -> PlainTextResponse:
    session: Session = request.session  # type: ignore[assignment]
    await session.regenerate()
    user = request.query_params["user"]
    session["user"] = user
    session["profile"] = profile(user)
    session["n"] = 0
    return PlainTextResponse("ok")


async def read(request: Request) -> PlainTextResponse:
    return PlainTextResponse(request.session.get("user", "anonymous"))


async def write(request: Request) -> PlainTextResponse:
    session = request.session
    session["n"] = session.get("n", 0) + 1
    return PlainTextResponse(str(session["n"]))


async def health(request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok")


app = Starlette(
    routes=[
        Route("/login", login, methods=["POST"]),
        Route("/read", read),
        Route("/write", write, methods=["POST"]),
        Route("/health", health),
    ]
)
app.add_middleware(
    SessionMiddleware,
    store=AsyncMongoStore(uri=URI, touch_after=TOUCH_AFTER),
    secret=SECRET,
    max_age=MAX_AGE,
)
