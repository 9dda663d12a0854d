"""A minimal Litestar app with sessions in MongoDB.

    python examples/litestar_app.py         # http://127.0.0.1:8000/ (uvicorn)

Uses ``MONGODB_URI`` when set, else a throwaway local MongoDB. The routes are
those of flask_app.py: ``/``, ``POST /login?user=NAME``, ``/whoami``, ``POST /logout``.
"""

from __future__ import annotations

import os

from _mongodb import database_uri, port_argument
from litestar import Litestar, Request, get, post

from mongosession import AsyncMongoStore
from mongosession.litestar import MongoSessionPlugin, get_session


@get("/")
async def visits(request: Request) -> str:
    request.session["visits"] = request.session.get("visits", 0) + 1
    return f"{request.session['visits']}\n"


@post("/login", status_code=200)
async def login(request: Request, user: str) -> str:
    await get_session(request).regenerate()  # new id on login: the old cookie is worthless now
    request.session["user"] = user
    return "welcome\n"


@get("/whoami")
async def whoami(request: Request) -> str:
    return f"{request.session.get('user', 'anonymous')}\n"


@post("/logout", status_code=200)
async def logout(request: Request) -> str:
    await get_session(request).destroy()
    return "bye\n"


store = AsyncMongoStore(uri=database_uri("litestar_example"), touch_after=60)
app = Litestar(
    [visits, login, whoami, logout],
    plugins=[
        MongoSessionPlugin(store, secret=os.environ.get("SESSION_SECRET", "dev secret: change me"))
    ],
    on_shutdown=[store.close],
)


if __name__ == "__main__":
    import uvicorn

    uvicorn.run(app, host="127.0.0.1", port=port_argument())
