"""The aiohttp adapter: what aiohttp handlers do beyond the shared behaviour suite."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from mongosession import AsyncMongoStore
from mongosession.aiohttp import get_session, setup
from mongosession.testing.localdb import with_db
from tests.support.adapter_apps import SECRET
from tests.support.faultproxy import FaultProxy
from tests.support.monitoring import CommandLog
from tests.support.servers import python, serving, tour_the_example


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    running = asyncio.new_event_loop()
    yield running
    running.close()


def run_app(
    loop: asyncio.AbstractEventLoop, uri: str, routes: web.RouteTableDef, script: Any
) -> Any:
    """Serve ``routes`` behind setup() on a test server and run ``script(client)``."""

    async def main() -> Any:
        store = AsyncMongoStore(uri=uri)
        app = web.Application()
        setup(app, store, secret=SECRET)
        app.add_routes(routes)
        async with TestClient(TestServer(app)) as client:
            try:
                return await script(client)
            finally:
                await store.close()

    return loop.run_until_complete(main())


def test_a_raised_redirect_carries_the_new_session(
    loop: asyncio.AbstractEventLoop, test_uri: str, db: Any
) -> None:
    routes = web.RouteTableDef()

    @routes.post("/login")
    async def login(request: web.Request) -> web.Response:
        session = await get_session(request)
        await session.regenerate()
        session["user"] = "alice"
        raise web.HTTPFound("/home")

    async def script(client: TestClient[Any, Any]) -> None:
        response = await client.post("/login", allow_redirects=False)
        assert response.status == 302
        assert response.headers["Location"] == "/home"
        assert response.headers.getone("Set-Cookie").startswith("connect.sid=s%3A")

    run_app(loop, test_uri, routes, script)
    assert db.sessions.count_documents({}) == 1


def test_a_response_the_handler_prepares_itself_is_committed_first(
    loop: asyncio.AbstractEventLoop, test_uri: str, db: Any
) -> None:
    routes = web.RouteTableDef()

    @routes.get("/stream")
    async def stream(request: web.Request) -> web.StreamResponse:
        session = await get_session(request)
        session["streamed"] = True
        response = web.StreamResponse()
        await response.prepare(request)  # the headers go out here
        await response.write(b"chunk")
        await response.write_eof()
        return response

    async def script(client: TestClient[Any, Any]) -> None:
        response = await client.get("/stream")
        assert await response.read() == b"chunk"
        assert "Set-Cookie" in response.headers

    run_app(loop, test_uri, routes, script)
    assert db.sessions.count_documents({}) == 1


def test_a_crashing_handler_saves_nothing(
    loop: asyncio.AbstractEventLoop, test_uri: str, db: Any
) -> None:
    routes = web.RouteTableDef()

    @routes.get("/crash")
    async def crash(request: web.Request) -> web.Response:
        session = await get_session(request)
        session["half"] = "done"
        raise RuntimeError("boom")

    async def script(client: TestClient[Any, Any]) -> None:
        response = await client.get("/crash")
        assert response.status == 500
        assert "Set-Cookie" not in response.headers

    run_app(loop, test_uri, routes, script)
    assert db.sessions.count_documents({}) == 0


def test_a_handler_that_never_asks_costs_no_query(test_uri: str, command_log: CommandLog) -> None:
    from tests.support.web import AiohttpSite, Browser

    site = AiohttpSite(test_uri, command_log)
    try:
        browser = Browser(site)
        browser.get("/")  # a session exists now
        command_log.clear()
        assert browser.get("/static").text == "static"
        assert command_log.count() == 0
    finally:
        site.close()


def test_get_session_without_setup_says_so(loop: asyncio.AbstractEventLoop) -> None:
    async def handler(request: web.Request) -> web.Response:
        await get_session(request)
        return web.Response(text="unreachable")

    async def main() -> int:
        app = web.Application()
        app.router.add_get("/", handler)
        async with TestClient(TestServer(app)) as client:
            return (await client.get("/")).status

    assert loop.run_until_complete(main()) == 500


def test_setup_needs_an_async_store() -> None:
    with pytest.raises(TypeError, match="AsyncMongoStore"):
        setup(web.Application(), object(), secret=SECRET)  # type: ignore[arg-type]


def test_the_example_under_aiohttps_runner(test_uri: str, tmp_path: Path) -> None:
    command = python("examples/aiohttp_app.py", "--port", "{port}")
    with serving(command, mongodb_uri=test_uri, log=tmp_path / "aiohttp.log") as url:
        tour_the_example(url, "connect.sid")


def test_the_indexes_are_made_at_start_up(
    loop: asyncio.AbstractEventLoop, test_uri: str, db: Any
) -> None:
    async def script(client: TestClient[Any, Any]) -> list[str]:
        return [index["name"] for index in db.sessions.list_indexes()]  # before any request

    assert "expires_1" in run_app(loop, test_uri, web.RouteTableDef(), script)


def test_a_websocket_handler_reads_the_session(
    loop: asyncio.AbstractEventLoop, test_uri: str
) -> None:
    routes = web.RouteTableDef()

    @routes.post("/login")
    async def login(request: web.Request) -> web.Response:
        session = await get_session(request)
        session["user"] = "alice"
        return web.Response(text="welcome")

    @routes.get("/ws")
    async def socket(request: web.Request) -> web.WebSocketResponse:
        session = await get_session(request)
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await ws.send_str(session.get("user", "anonymous"))
        await ws.close()
        return ws

    async def script(client: TestClient[Any, Any]) -> str:
        cookie = (await client.post("/login")).headers["Set-Cookie"].split(";")[0]
        async with client.ws_connect("/ws", headers={"Cookie": cookie}) as ws:
            return str(await ws.receive_str())

    assert run_app(loop, test_uri, routes, script) == "alice"


STOP_DATABASE = web.AppKey("stop_database", Callable[[], Awaitable[None]])


def test_a_session_call_failing_in_the_handler_fails_closed(
    loop: asyncio.AbstractEventLoop, local_mongod: Any
) -> None:
    if local_mongod is None:
        pytest.skip("injects faults in front of the local server (MONGODB_URI is set)")
    routes = web.RouteTableDef()

    @routes.get("/count")
    async def count(request: web.Request) -> web.Response:
        session = await get_session(request)
        session["n"] = session.get("n", 0) + 1
        return web.Response(text=str(session["n"]))

    @routes.post("/login")
    async def login(request: web.Request) -> web.Response:
        session = await get_session(request)
        await request.app[STOP_DATABASE]()
        await session.regenerate()  # the store is gone by now
        return web.Response(text="never")

    async def script(client: TestClient[Any, Any]) -> None:
        assert (await (await client.get("/count")).text()) == "1"
        response = await client.post("/login")
        assert response.status == 503
        assert "session store unavailable" in await response.text()

    async def main(proxy: FaultProxy) -> None:
        store = AsyncMongoStore(uri=with_db(proxy.uri, "aiohttp_faults"), timeout=0.5)
        app = web.Application()
        setup(app, store, secret=SECRET)
        app.add_routes(routes)

        async def stop_database() -> None:
            proxy.blackhole()  # the network to MongoDB goes silent mid-request
            proxy.reset_connections()

        app[STOP_DATABASE] = stop_database
        async with TestClient(TestServer(app)) as client:
            try:
                await script(client)
            finally:
                await store.close()

    with FaultProxy(local_mongod.port) as proxy:
        loop.run_until_complete(main(proxy))
