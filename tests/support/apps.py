"""Small applications used by the adapter tests: the ASGI (Starlette) app's routes.

:data:`ROUTES` are the behaviour suite's routes (tests/support/adapter_apps.py has the same
ones for Flask, Django and aiohttp). :data:`GATED_ROUTES` are the reliability routes
whose handlers wait at :data:`tests.support.adapter_apps.gate` (a thread gate) so that a test
can overlap requests on a real server (``tests.support.web.ServedASGI``); they are added
only with ``starlette_app(..., gated=True)``, because tests/reliability/_asgi.py's
in-process app adds its own ``/slow``, ``/slow-login`` and ``/set`` (waiting at an
asyncio gate, or not at all) and Starlette answers with the first route that matches.
"""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route

from mongosession import AsyncMongoStore
from mongosession.asgi import SessionMiddleware, get_session
from tests.support import adapter_apps as _adapter_apps


async def count(request: Request) -> PlainTextResponse:
    request.session["n"] = request.session.get("n", 0) + 1
    return PlainTextResponse(str(request.session["n"]))


async def peek(request: Request) -> JSONResponse:
    return JSONResponse(dict(request.session))


async def nothing(request: Request) -> PlainTextResponse:
    return PlainTextResponse("static")


async def fail(request: Request) -> PlainTextResponse:
    """Count a visit, then answer with the status the query names (``/fail?status=500``)."""
    request.session["n"] = request.session.get("n", 0) + 1
    return PlainTextResponse("failed", status_code=int(request.query_params["status"]))


async def crash(request: Request) -> PlainTextResponse:
    """Count a visit, then raise: an unhandled handler error."""
    request.session["n"] = request.session.get("n", 0) + 1
    raise _adapter_apps.Crash("the handler failed after changing the session")


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


async def put(request: Request) -> PlainTextResponse:
    """``/put?key=K&value=JSON&how=WAY``: see :func:`tests.support.adapter_apps.put`.

    ``how=replace`` replaces the whole session slot with a plain dict holding the
    key (``scope["session"] = {...}``), which only the ASGI middleware allows.
    """
    params = request.query_params
    if params.get("how") == "replace":
        session = get_session(request)
        request.scope["session"] = {**dict(session), params["key"]: _adapter_apps.value_of(params)}
        text = "replaced"
    else:
        text = _adapter_apps.put(request.session, params)
    response = PlainTextResponse(text)
    if "cache" in params:
        response.headers["Cache-Control"] = params["cache"]
    return response


ROUTES = [
    Route("/", count),
    Route("/peek", peek),
    Route("/static", nothing),
    Route("/fail", fail),
    Route("/crash", crash),
    Route("/login", login, methods=["POST"]),
    Route("/logout", logout, methods=["POST"]),
    Route("/whoami", whoami),
    Route("/cart", cart),
    Route("/sid", sid),
    Route("/clear", clear, methods=["POST"]),
    Route("/unset", unset, methods=["POST"]),
    Route("/save-early", save_early, methods=["POST"]),
    Route("/reload", reload),
    Route("/put", put),
]


# -- the reliability routes of a real server (tests.support.web.ServedASGI) ----------------------


async def _hold() -> None:
    # The gate is read now (new_gate() replaces it); waiting in a worker thread
    # leaves the event loop free for the other requests.
    await asyncio.to_thread(_adapter_apps.gate.hold)


async def gated_slow(request: Request) -> PlainTextResponse:
    session = get_session(request)
    user = str(session.get("user", "anonymous"))
    await _hold()
    session["late"] = True
    return PlainTextResponse(user)


async def gated_slow_login(request: Request) -> PlainTextResponse:
    session = get_session(request)
    session.get("user")
    await _hold()
    await session.regenerate()
    session["user"] = request.query_params["user"]
    return PlainTextResponse("welcome")


async def gated_login_then_wait(request: Request) -> PlainTextResponse:
    session = get_session(request)
    await session.regenerate()
    await _hold()
    session["user"] = request.query_params["user"]
    return PlainTextResponse("welcome")


async def gated_set(request: Request) -> PlainTextResponse:
    session = get_session(request)
    session.get("user")
    await _hold()
    session[request.query_params["key"]] = request.query_params["value"]
    return PlainTextResponse("set")


GATED_ROUTES = [
    Route("/slow", gated_slow),
    Route("/slow-login", gated_slow_login, methods=["POST"]),
    Route("/login-then-wait", gated_login_then_wait, methods=["POST"]),
    Route("/set", gated_set),
]


async def devices(request: Request) -> JSONResponse:
    return JSONResponse(_adapter_apps.devices_json(await get_session(request).devices()))


async def revoke(request: Request) -> PlainTextResponse:
    revoked = await get_session(request).revoke_device(request.query_params["handle"])
    return PlainTextResponse(_adapter_apps.revoked_text(revoked))


async def revoke_others(request: Request) -> PlainTextResponse:
    return PlainTextResponse(str(await get_session(request).revoke_other_devices()))


DEVICE_ROUTES = [
    Route("/devices", devices),
    Route("/revoke", revoke, methods=["POST"]),
    Route("/revoke-others", revoke_others, methods=["POST"]),
]


def starlette_app(store: AsyncMongoStore, *, gated: bool = False, **options: Any) -> Starlette:
    """The test routes behind SessionMiddleware (``gated``: with :data:`GATED_ROUTES`)."""
    routes = ROUTES + DEVICE_ROUTES
    app = Starlette(routes=routes + GATED_ROUTES if gated else routes)
    options.setdefault("secret", "test secret")
    app.add_middleware(SessionMiddleware, store=store, **options)
    return app
