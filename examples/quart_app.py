"""A minimal Quart app with sessions in MongoDB.

    python examples/quart_app.py            # http://127.0.0.1:8000/ (hypercorn)

Uses ``MONGODB_URI`` when set, else a throwaway local MongoDB. The routes are
those of flask_app.py: ``/``, ``POST /login?user=NAME``, ``/whoami``, ``POST /logout``.
"""

from __future__ import annotations

import os

from _mongodb import database_uri, port_argument
from quart import Quart, request, session

from mongosession.quart import MongoSession, get_session

app = Quart(__name__)
app.config.update(
    SECRET_KEY=os.environ.get("SESSION_SECRET", "dev secret: change me"),
    MONGOSESSION_URI=database_uri("quart_example"),
    MONGOSESSION_STORE={"ttl": 14 * 24 * 3600, "touch_after": 60},
)
MongoSession(app)


@app.get("/")
async def visits() -> str:
    session["visits"] = session.get("visits", 0) + 1
    return f"{session['visits']}\n"


@app.post("/login")
async def login() -> str:
    await get_session().regenerate()  # new id on login: the old cookie is worthless now
    session["user"] = request.args["user"]
    return "welcome\n"


@app.get("/whoami")
async def whoami() -> str:
    return f"{session.get('user', 'anonymous')}\n"


@app.post("/logout")
async def logout() -> str:
    await get_session().destroy()
    return "bye\n"


if __name__ == "__main__":
    import asyncio

    from hypercorn.asyncio import serve
    from hypercorn.config import Config

    config = Config()
    config.bind = [f"127.0.0.1:{port_argument()}"]
    asyncio.run(serve(app, config))
