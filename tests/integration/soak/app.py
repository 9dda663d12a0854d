"""The application the soak run serves: the demo's shape, answering JSON.

Login (a new id by ``regenerate``), a visit counter per session, "who am I", the
user's session count and logout, over ``AsyncMongoStore`` with ``user_key``. Each
answer names the session id and the user, so a client can tell its own session from
anyone else's. Run by uvicorn as a factory::

    MONGODB_URI=mongodb://127.0.0.1:PORT/soak \\
        python -m uvicorn tests.integration.soak.app:create_app --factory --port 8000
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from mongosession import AsyncMongoStore
from mongosession.asgi import SessionMiddleware, get_session

SECRET = "soak secret"


def _state(request: Request, **extra: object) -> JSONResponse:
    session = get_session(request)
    return JSONResponse(
        {"sid": session.id, "user": session.get("user"), "n": session.get("n", 0), **extra}
    )


async def login(request: Request) -> Response:
    session = get_session(request)
    await session.regenerate()
    session["user"] = request.query_params["user"]
    session["n"] = 0
    return _state(request)


async def visit(request: Request) -> Response:
    session = get_session(request)
    session["n"] = session.get("n", 0) + 1
    return _state(request)


async def whoami(request: Request) -> Response:
    return _state(request)


async def sessions(request: Request) -> Response:
    user = get_session(request).get("user")
    store: AsyncMongoStore = request.app.state.store
    count = 0 if user is None else len(await store.sessions_of(user))
    return _state(request, sessions=count)


async def logout(request: Request) -> Response:
    await get_session(request).destroy()
    return JSONResponse({"bye": True})


def create_app() -> Starlette:
    """The app, on the database named by ``MONGODB_URI``."""
    store = AsyncMongoStore(uri=os.environ["MONGODB_URI"], user_key="user")

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await store.close()

    app = Starlette(
        routes=[
            Route("/login", login, methods=["POST"]),
            Route("/visit", visit, methods=["POST"]),
            Route("/whoami", whoami),
            Route("/sessions", sessions),
            Route("/logout", logout, methods=["POST"]),
        ],
        lifespan=lifespan,
    )
    app.state.store = store
    app.add_middleware(SessionMiddleware, store=store, secret=SECRET)
    return app
