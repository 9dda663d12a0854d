"""Small applications used by the adapter tests."""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route

from mongosession import AsyncMongoStore
from mongosession.asgi import SessionMiddleware


async def count(request: Request) -> PlainTextResponse:
    request.session["n"] = request.session.get("n", 0) + 1
    return PlainTextResponse(str(request.session["n"]))


async def peek(request: Request) -> JSONResponse:
    return JSONResponse(dict(request.session))


async def nothing(request: Request) -> PlainTextResponse:
    return PlainTextResponse("static")


async def login(request: Request) -> PlainTextResponse:
    await request.session.regenerate()
    request.session["user"] = request.query_params["user"]
    return PlainTextResponse("welcome")


async def logout(request: Request) -> PlainTextResponse:
    await request.session.destroy()
    return PlainTextResponse("bye")


async def whoami(request: Request) -> PlainTextResponse:
    return PlainTextResponse(request.session.get("user", "anonymous"))


async def cart(request: Request) -> JSONResponse:
    request.session.setdefault("cart", []).append(len(request.session.get("cart", [])))
    return JSONResponse(request.session["cart"])


async def sid(request: Request) -> PlainTextResponse:
    return PlainTextResponse(request.session.id)


async def clear(request: Request) -> PlainTextResponse:
    request.session.clear()
    return PlainTextResponse("cleared")


async def unset(request: Request) -> PlainTextResponse:
    request.scope["session"] = None
    return PlainTextResponse("unset")


async def save_early(request: Request) -> PlainTextResponse:
    request.session["early"] = True
    await request.session.save()
    return PlainTextResponse("saved")


async def reload(request: Request) -> JSONResponse:
    request.session["scratch"] = 1
    found = await request.session.reload()
    return JSONResponse({"found": found, "session": dict(request.session)})


ROUTES = [
    Route("/", count),
    Route("/peek", peek),
    Route("/static", nothing),
    Route("/login", login, methods=["POST"]),
    Route("/logout", logout, methods=["POST"]),
    Route("/whoami", whoami),
    Route("/cart", cart),
    Route("/sid", sid),
    Route("/clear", clear, methods=["POST"]),
    Route("/unset", unset, methods=["POST"]),
    Route("/save-early", save_early, methods=["POST"]),
    Route("/reload", reload),
]


def starlette_app(store: AsyncMongoStore, **options: Any) -> Starlette:
    """The test routes behind SessionMiddleware."""
    app = Starlette(routes=ROUTES)
    options.setdefault("secret", "test secret")
    app.add_middleware(SessionMiddleware, store=store, **options)
    return app
