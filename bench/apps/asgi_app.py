"""mongosession on Starlette (served by uvicorn): ``bench.apps.asgi_app:app``.

Two instances of ``SessionMiddleware`` on one store client: ``/touch`` goes to
the one whose store has ``touch_after=0`` (every read moves the expiry), every
other path to the one with ``touch_after = BENCH_TOUCH_AFTER`` (a read inside it
sends one query and no write; none at all from the near cache, when
``BENCH_NEAR_CACHE`` gives its ``max_staleness``).
"""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from mongosession import AsyncMongoStore, NearCache
from mongosession.asgi import Session, SessionMiddleware

from . import MAX_AGE, MIN_POOL, NEAR_CACHE, SECRET, TOUCH_AFTER, URI, profile


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


def _app(store: AsyncMongoStore) -> Starlette:
    app = Starlette(
        routes=[
            Route("/login", login, methods=["POST"]),
            Route("/read", read),
            Route("/touch", read),
            Route("/write", write, methods=["POST"]),
            Route("/health", health),
        ]
    )
    app.add_middleware(SessionMiddleware, store=store, secret=SECRET, max_age=MAX_AGE)
    return app


near = None if NEAR_CACHE is None else NearCache(max_staleness=NEAR_CACHE)
uri = URI + ("&" if "?" in URI else "?") + f"minPoolSize={MIN_POOL}" if MIN_POOL else URI
store = AsyncMongoStore(uri=uri, touch_after=TOUCH_AFTER, near_cache=near)
main = _app(store)
touching = _app(AsyncMongoStore(client=store.client, touch_after=0))


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """``/touch`` to the ``touch_after=0`` instance, everything else to the main one."""
    target = touching if scope.get("path") == "/touch" else main
    await target(scope, receive, send)
