"""The floor: the ASGI app with no session library (served by uvicorn): ``bench.apps.floor_app:app``.

The same Starlette on the same uvicorn as ``asgi_app``, whose handlers do by hand
exactly the database work any server-side session needs, and nothing else:

- ``/read``: one ``find_one`` by ``_id`` (the id is the cookie's value, unsigned);
- ``/touch``: that ``find_one``, then one ``update_one`` of ``expires``;
- ``/write``: that ``find_one``, then one ``update_one`` of the session and ``expires``.

The session is a sub-document (no codec); an expired record counts as none.
There is no cookie signature, no timeout around the operations, no change
detection and no Set-Cookie after log-in: every stack is reported as a ratio to
this one. The PyMongo client has the settings ``AsyncMongoStore`` gives its own
(``tz_aware``, UTC, 5 s server selection and connect timeouts, ``connect=False``),
and the collection is pre-seeded by the harness like every stack's.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta, timezone
from typing import Any

from bson.codec_options import CodecOptions, DatetimeConversion
from pymongo import AsyncMongoClient
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from . import MAX_AGE, URI, profile

COOKIE = "sid"
CODEC_OPTIONS: CodecOptions[dict[str, Any]] = CodecOptions(
    tz_aware=True, tzinfo=timezone.utc, datetime_conversion=DatetimeConversion.DATETIME_AUTO
)

client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
    URI,
    connect=False,
    tz_aware=True,
    appname="mongosession-bench-floor",
    serverSelectionTimeoutMS=5000,
    connectTimeoutMS=5000,
)
sessions = client.get_default_database().get_collection("sessions", codec_options=CODEC_OPTIONS)


def _expiry() -> datetime:
    return datetime.now(timezone.utc) + timedelta(seconds=MAX_AGE)


async def _load(request: Request) -> tuple[str | None, dict[str, Any] | None]:
    sid = request.cookies.get(COOKIE)
    if not sid:
        return None, None
    doc = await sessions.find_one({"_id": sid})
    if doc is None or doc["expires"] <= datetime.now(timezone.utc):
        return sid, None
    return sid, doc


async def login(request: Request) -> PlainTextResponse:
    sid = secrets.token_urlsafe(24)
    user = request.query_params["user"]
    session = {"user": user, "profile": profile(user), "n": 0}
    await sessions.insert_one({"_id": sid, "session": session, "expires": _expiry()})
    response = PlainTextResponse("ok")
    response.set_cookie(COOKIE, sid, max_age=int(MAX_AGE), httponly=True, samesite="lax")
    return response


async def read(request: Request) -> PlainTextResponse:
    _sid, doc = await _load(request)
    return PlainTextResponse(doc["session"].get("user", "anonymous") if doc else "anonymous")


async def touch(request: Request) -> PlainTextResponse:
    sid, doc = await _load(request)
    if doc is None:
        return PlainTextResponse("anonymous")
    await sessions.update_one({"_id": sid}, {"$set": {"expires": _expiry()}})
    return PlainTextResponse(doc["session"].get("user", "anonymous"))


async def write(request: Request) -> PlainTextResponse:
    sid, doc = await _load(request)
    if doc is None:
        return PlainTextResponse("no session", status_code=401)
    session = doc["session"]
    session["n"] = session.get("n", 0) + 1
    await sessions.update_one({"_id": sid}, {"$set": {"session": session, "expires": _expiry()}})
    return PlainTextResponse(str(session["n"]))


async def health(request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok")


app = Starlette(
    routes=[
        Route("/login", login, methods=["POST"]),
        Route("/read", read),
        Route("/touch", touch),
        Route("/write", write, methods=["POST"]),
        Route("/health", health),
    ]
)
