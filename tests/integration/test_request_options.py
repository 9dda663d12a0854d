"""Flask and aiohttp give the session layer their request: the ``cookie`` function and
``genid`` get ``flask.Request`` and aiohttp's ``web.Request`` (the ASGI middleware's
scope is tested in test_asgi_express_options.py)."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from flask import Flask, session
from flask.wrappers import Request

from mongosession import AsyncMongoStore, MongoStore, generate_sid
from mongosession.aiohttp import get_session, setup
from mongosession.flask import MongoSession


def test_flask_gives_its_request_to_the_cookie_function_and_genid(test_uri: str) -> None:
    seen: list[Any] = []

    def genid(request: Any) -> str:
        seen.append(("genid", type(request)))
        return generate_sid()

    def cookie(request: Any) -> dict[str, Any]:
        seen.append(("cookie", type(request)))
        return {"path": "/shop"} if request.path.startswith("/shop") else {}

    app = Flask(__name__)
    app.config["SECRET_KEY"] = "test secret"
    store = MongoStore(uri=test_uri)
    MongoSession(app, store=store, genid=genid, cookie=cookie)

    @app.get("/shop/cart")
    def cart() -> str:
        session["n"] = 1
        return "ok"

    try:
        reply = app.test_client().get("/shop/cart")
        assert "Path=/shop" in reply.headers["set-cookie"]
    finally:
        store.close()
    assert ("genid", Request) in seen
    assert ("cookie", Request) in seen


def test_aiohttp_gives_its_request_to_the_cookie_function_and_genid(test_uri: str) -> None:
    seen: list[Any] = []

    def genid(request: Any) -> str:
        seen.append(("genid", type(request)))
        return generate_sid()

    def cookie(request: Any) -> dict[str, Any]:
        seen.append(("cookie", type(request)))
        return {"path": "/shop"} if request.path.startswith("/shop") else {}

    async def main() -> str:
        store = AsyncMongoStore(uri=test_uri)
        app = web.Application()
        setup(app, store, secret="test secret", genid=genid, cookie=cookie)

        async def cart(request: web.Request) -> web.Response:
            (await get_session(request))["n"] = 1
            return web.Response(text="ok")

        app.router.add_get("/shop/cart", cart)
        async with TestClient(TestServer(app)) as client:
            reply = await client.get("/shop/cart")
            header = reply.headers["Set-Cookie"]
        await store.close()
        return header

    assert "Path=/shop" in asyncio.run(main())
    assert ("genid", web.Request) in seen
    assert ("cookie", web.Request) in seen
