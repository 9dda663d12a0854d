"""A minimal aiohttp app with sessions in MongoDB.

    python examples/aiohttp_app.py          # http://127.0.0.1:8000/

Uses ``MONGODB_URI`` when set, else a throwaway local MongoDB. The routes are
those of flask_app.py: ``/``, ``POST /login?user=NAME``, ``/whoami``, ``POST /logout``.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

from _mongodb import database_uri, port_argument
from aiohttp import web

from mongosession import AsyncMongoStore
from mongosession.aiohttp import get_session, setup

routes = web.RouteTableDef()


@routes.get("/")
async def visits(request: web.Request) -> web.Response:
    session = await get_session(request)
    session["visits"] = session.get("visits", 0) + 1
    return web.Response(text=f"{session['visits']}\n")


@routes.post("/login")
async def login(request: web.Request) -> web.Response:
    session = await get_session(request)
    await session.regenerate()  # new id on login: the old cookie is worthless now
    session["user"] = request.query["user"]
    return web.Response(text="welcome\n")


@routes.get("/whoami")
async def whoami(request: web.Request) -> web.Response:
    session = await get_session(request)
    return web.Response(text=f"{session.get('user', 'anonymous')}\n")


@routes.post("/logout")
async def logout(request: web.Request) -> web.Response:
    session = await get_session(request)
    await session.destroy()
    return web.Response(text="bye\n")


def create_app() -> web.Application:
    app = web.Application()
    store = AsyncMongoStore(uri=database_uri("aiohttp_example"), touch_after=60)
    setup(app, store, secret=os.environ.get("SESSION_SECRET", "dev secret: change me"))
    app.add_routes(routes)

    async def close_store(app: web.Application) -> AsyncIterator[None]:
        yield
        await store.close()

    app.cleanup_ctx.append(close_store)
    return app


if __name__ == "__main__":
    web.run_app(create_app(), host="127.0.0.1", port=port_argument())
