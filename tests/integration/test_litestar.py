"""The Litestar plugin: what Litestar users rely on, beyond the shared behaviour suite.

Each test drives a real Litestar app through Litestar's own TestClient (which runs
the app's lifespan) against the real server; the example runs under uvicorn; a user's
code using the public surface type-checks under ``mypy --strict``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar, Request, Response, WebSocket, get, post, websocket
from litestar.exceptions import NotAuthorizedException
from litestar.response import Redirect
from litestar.testing import TestClient
from pymongo import AsyncMongoClient

from mongosession import (
    AsyncMongoStore,
    ConfigurationError,
    ConfigurationTypeError,
    MongoStore,
    StoreUnavailable,
)
from mongosession.litestar import MongoSessionPlugin, get_session
from mongosession.web.session import Session
from tests.integration.test_examples import gone, throwaway_folder
from tests.integration.test_typing import ERROR, REVEALED, expected_reveals, mypy, unqualified
from tests.support.adapter_apps import SECRET
from tests.support.monitoring import CommandLog
from tests.support.servers import python, serving, tour_the_example

Handlers = list[Any]
Client = TestClient[Litestar]
Serve = Callable[..., Client]


@pytest.fixture
def serve(test_uri: str, command_log: CommandLog) -> Iterator[Serve]:
    """``serve(handlers, store_options={...}, root_path=..., **session_options)`` -> an entered TestClient."""
    opened: list[tuple[Client, AsyncMongoClient[Any]]] = []

    def make(
        handlers: Handlers,
        *,
        store_options: dict[str, Any] | None = None,
        uri: str = test_uri,
        app_options: dict[str, Any] | None = None,
        root_path: str = "",
        **options: Any,
    ) -> Client:
        mongo: AsyncMongoClient[Any] = AsyncMongoClient(uri, event_listeners=[command_log])
        store = AsyncMongoStore(client=mongo, **(store_options or {}))
        app = Litestar(
            handlers,
            plugins=[MongoSessionPlugin(store, secret=SECRET, **options)],
            logging_config=None,
            **(app_options or {}),
        )
        client: Client = TestClient(app, raise_server_exceptions=False, root_path=root_path)
        client.__enter__()
        opened.append((client, mongo))
        return client

    yield make
    for client, mongo in opened:
        client.blocking_portal.call(mongo.close)
        client.__exit__(None, None, None)


@get("/")
async def count(request: Request[Any, Any, Any]) -> str:
    request.session["n"] = request.session.get("n", 0) + 1
    return str(request.session["n"])


@get("/whoami")
async def whoami(request: Request[Any, Any, Any]) -> str:
    return str(request.session.get("user", "anonymous"))


@post("/login", status_code=200)
async def login(request: Request[Any, Any, Any]) -> str:
    await get_session(request).regenerate()
    request.session["user"] = "alice"
    return "welcome"


def sessions(db: Any) -> list[dict[str, Any]]:
    return [json.loads(doc["session"]) for doc in db.sessions.find()]


# -- the plugin ---------------------------------------------------------------------------


def test_request_session_is_a_mongosession_session_and_get_session_types_it(
    serve: Serve,
) -> None:
    seen: list[Any] = []

    @get("/inspect")
    async def inspect(request: Request[Any, Any, Any]) -> str:
        seen.append((request.session, get_session(request)))
        return "ok"

    client = serve([inspect])
    assert client.get("/inspect").text == "ok"
    [(plain, typed)] = seen
    assert plain is typed
    assert isinstance(typed, Session)


def test_get_session_without_the_plugin_says_so() -> None:
    @get("/")
    async def bare(request: Request[Any, Any, Any]) -> str:
        try:
            get_session(request)
        except RuntimeError as exc:
            return str(exc)
        return "found"

    with TestClient(Litestar([bare], logging_config=None)) as client:
        assert "MongoSessionPlugin" in client.get("/").text


def test_the_plugin_needs_an_async_store_and_known_options(test_uri: str) -> None:
    with pytest.raises(TypeError, match="AsyncMongoStore") as refused:
        MongoSessionPlugin(MongoStore(uri=test_uri), secret=SECRET)  # type: ignore[arg-type]
    assert isinstance(refused.value, ConfigurationError)
    store = AsyncMongoStore(uri=test_uri)
    with pytest.raises(ConfigurationTypeError, match="unknown session option 'rolls'"):
        MongoSessionPlugin(store, secret=SECRET, rolls=True)  # type: ignore[call-arg]
    with pytest.raises(ConfigurationError, match="same_site='none'"):
        MongoSessionPlugin(store, secret=SECRET, same_site="none")


def test_the_indexes_are_made_at_start_up(serve: Serve, db: Any) -> None:
    serve([count])  # the TestClient ran the app's start-up; no request yet
    assert "expires_1" in [index["name"] for index in db.sessions.list_indexes()]


def test_the_session_middleware_comes_first(serve: Serve, test_uri: str) -> None:
    # An application's own middleware (authentication, say) sees the session.
    def remember(app: Any) -> Any:
        async def middleware(scope: Any, receive: Any, send: Any) -> None:
            scope["session"]["seen_by_middleware"] = True
            await app(scope, receive, send)

        return middleware

    @get("/peek")
    async def peek(request: Request[Any, Any, Any]) -> dict[str, Any]:
        return dict(request.session)

    client = serve([peek], app_options={"middleware": [remember]})
    assert client.get("/peek").json() == {"seen_by_middleware": True}


# -- what a request does ---------------------------------------------------------------------


def test_a_path_no_route_matches_costs_no_query(serve: Serve, command_log: CommandLog) -> None:
    client = serve([count])
    client.get("/")
    command_log.clear()
    assert client.get("/nowhere").status_code == 404
    assert command_log.count("find") == 0
    assert command_log.writes == 0


@get(["/area/count", "/app/count", "/other"])
async def count_if_any(request: Request[Any, Any, Any]) -> str:
    # "none" where the request is outside the cookie's path (no session in the scope).
    if "session" not in request.scope:
        return "none"
    request.session["n"] = request.session.get("n", 0) + 1
    return str(request.session["n"])


def test_under_a_root_path_a_cookie_path_below_it_gets_its_session(serve: Serve) -> None:
    # Mounted (a Starlette Mount) or behind ``--root-path``: the cookie path is the
    # full one, /app/area. The server may give the path with the prefix (current
    # ASGI: uvicorn, Starlette 0.33+) or without (older servers); Litestar's router
    # takes the prefix off before any middleware runs, either way.
    client = serve([count_if_any], root_path="/app", path="/app/area")
    first = client.get("/app/area/count")  # the prefix in the path
    assert first.text == "1"
    assert "Path=/app/area;" in first.headers["set-cookie"]
    assert client.get("/app/area/count").text == "2"
    cookie = {"cookie": f"connect.sid={client.cookies['connect.sid']}"}
    assert client.get("/area/count", headers=cookie).text == "3"  # the prefix left out
    assert client.get("/app/other", headers=cookie).text == "none"  # outside /app/area
    assert client.get("/other", headers=cookie).text == "none"


def test_under_a_root_path_a_route_that_repeats_the_prefix_is_matched_in_full(
    serve: Serve,
) -> None:
    # The route /app/count under the root path /app is /app/app/count in full: the
    # cookie path /app/app covers it. (Joining only the paths that lack the prefix,
    # as the plain ASGI middleware must, would read it as /app/count and miss it.)
    client = serve([count_if_any], root_path="/app", path="/app/app")
    assert client.get("/app/app/count").text == "1"
    assert client.get("/app/app/count").text == "2"
    assert client.get("/app/area/count").text == "none"


def test_a_redirect_after_login_carries_the_new_cookie(serve: Serve, db: Any) -> None:
    @post("/login-redirect")
    async def login_redirect(request: Request[Any, Any, Any]) -> Redirect:
        await get_session(request).regenerate()
        request.session["user"] = "alice"
        return Redirect("/whoami")

    client = serve([login_redirect, whoami, count])
    client.get("/")
    before = client.cookies["connect.sid"]
    response = client.post("/login-redirect", follow_redirects=False)
    assert response.status_code == 302
    assert "connect.sid=s%3A" in response.headers["set-cookie"]
    assert client.cookies["connect.sid"] != before
    assert client.get("/whoami").text == "alice"
    assert sessions(db) == [{"n": 1, "user": "alice", "cookie": sessions(db)[0]["cookie"]}]


def test_a_raised_client_error_still_saves_and_a_crash_saves_nothing(serve: Serve, db: Any) -> None:
    @get("/refuse")
    async def refuse(request: Request[Any, Any, Any]) -> str:
        request.session["refused"] = True
        raise NotAuthorizedException("no")

    @get("/crash")
    async def crash(request: Request[Any, Any, Any]) -> str:
        request.session["crashed"] = True
        raise RuntimeError("the handler failed")

    client = serve([refuse, crash, count])
    assert client.get("/").text == "1"
    assert client.get("/refuse").status_code == 401
    assert client.get("/crash").status_code == 500
    [data] = sessions(db)
    assert data["refused"] is True
    assert "crashed" not in data


def test_set_session_replaces_the_data_and_takes_a_dataclass(serve: Serve, db: Any) -> None:
    @dataclass
    class Profile:
        user: str
        roles: list[str]

    @post("/replace", status_code=200)
    async def replace(request: Request[Any, Any, Any]) -> str:
        request.set_session({"user": "bob"})
        return "replaced"

    @post("/profile", status_code=200)
    async def profile(request: Request[Any, Any, Any]) -> str:
        request.set_session(Profile("carol", ["admin"]))
        return "set"

    client = serve([replace, profile, whoami, count])
    client.get("/")
    cookie = client.cookies["connect.sid"]
    assert client.post("/replace").text == "replaced"
    assert client.cookies["connect.sid"] == cookie  # the same session, new data
    assert client.get("/whoami").text == "bob"
    assert [{k: v for k, v in s.items() if k != "cookie"} for s in sessions(db)] == [
        {"user": "bob"}
    ]
    client.post("/profile")
    assert [{k: v for k, v in s.items() if k != "cookie"} for s in sessions(db)] == [
        {"user": "carol", "roles": ["admin"]}
    ]


def test_clear_session_destroys_the_session(serve: Serve, db: Any) -> None:
    @post("/logout", status_code=200)
    async def logout(request: Request[Any, Any, Any]) -> str:
        request.clear_session()
        return "bye"

    client = serve([login, logout, whoami])
    client.post("/login")
    cookie = client.cookies["connect.sid"]
    response = client.post("/logout")
    assert response.status_code == 200
    assert response.headers["set-cookie"].startswith("connect.sid=; ")  # cleared
    assert "no-store" in response.headers["cache-control"]
    assert db.sessions.count_documents({}) == 0
    client.cookies.set("connect.sid", cookie)
    assert client.get("/whoami").text == "anonymous"


def test_a_websocket_reads_the_session(serve: Serve) -> None:
    @websocket("/ws")
    async def socket(socket: WebSocket[Any, Any, Any]) -> None:
        await socket.accept()
        await socket.send_text(str(get_session(socket).get("user", "anonymous")))
        await socket.close()

    client = serve([login, socket])
    client.post("/login")
    with client.websocket_connect("/ws") as ws:
        assert ws.receive_text() == "alice"


# -- failures ------------------------------------------------------------------------------


def test_a_handlers_own_save_refused_by_the_store_answers_403_or_409(
    serve: Serve, test_uri: str
) -> None:
    # The store's refusal of an explicit session.save() answers as the final save
    # would: 403 over the session limit, 409 for a same-key concurrent change.
    other = MongoStore(uri=test_uri)
    sids: list[str] = []

    @post("/login-now", status_code=200)
    async def login_now(request: Request[Any, Any, Any]) -> str:
        session = get_session(request)
        session["user"] = "alice"
        await session.save()
        return "saved"

    @post("/bump-racing", status_code=200)
    async def bump_racing(request: Request[Any, Any, Any]) -> str:
        session = get_session(request)
        sids.append(session.id)
        # Another request changes the same key between this one's load and save.
        other.set(session.id, {**(other.get(session.id) or {}), "n": 100})
        session["n"] += 1
        await session.save()
        return "saved"

    limited = {"user_key": "user", "max_sessions_per_user": 1, "on_session_limit": "refuse"}
    first = serve([login_now, bump_racing, count], store_options=limited)
    second = serve([login_now], store_options=limited)
    assert first.post("/login-now").status_code == 200
    refused = second.post("/login-now")
    assert (refused.status_code, refused.text) == (
        403,
        "Forbidden: too many sessions for this user",
    )
    assert refused.headers["cache-control"] == "no-store"
    assert "set-cookie" not in refused.headers

    first.get("/")
    conflict = first.post("/bump-racing")
    assert conflict.status_code == 409
    assert "set-cookie" not in conflict.headers
    assert (other.get(sids[0]) or {}).get("n") == 100  # the other writer's value stands
    other.close()


def test_an_applications_own_handler_for_a_session_failure_wins(serve: Serve) -> None:
    def unavailable(request: Request[Any, Any, Any], exc: Exception) -> Response[str]:
        return Response("try later", status_code=503, media_type="text/plain")

    @post("/save", status_code=200)
    async def save(request: Request[Any, Any, Any]) -> str:
        raise StoreUnavailable("the handler's own store call failed")

    client = serve([save], app_options={"exception_handlers": {StoreUnavailable: unavailable}})
    response = client.post("/save")
    assert (response.status_code, response.text) == (503, "try later")
    assert "set-cookie" not in response.headers


# -- the example ---------------------------------------------------------------------------


def test_the_example_under_uvicorn(test_uri: str, tmp_path: Path) -> None:
    command = python("examples/litestar_app.py", "--port", "{port}")
    with serving(command, mongodb_uri=test_uri, log=tmp_path / "uvicorn.log") as url:
        tour_the_example(url, "connect.sid")


@pytest.mark.skipif(
    bool(os.environ.get("MONGODB_URI")),
    reason="the example's own MongoDB needs the local server (MONGODB_URI is set)",
)
def test_the_example_removes_its_throwaway_mongodb_at_exit(tmp_path: Path) -> None:
    log = tmp_path / "litestar.log"
    command = python("examples/litestar_app.py", "--port", "{port}")
    with serving(command, mongodb_uri=None, log=log, timeout=60) as url:
        folder = throwaway_folder(log)
        tour_the_example(url, "connect.sid")
    assert gone(folder), f"{folder} was left behind"


# -- types ---------------------------------------------------------------------------------

USER_CODE = """
from typing import Any

from litestar import Litestar, Request, post
from typing_extensions import reveal_type

from mongosession import AsyncMongoStore
from mongosession.litestar import MongoSessionPlugin, get_session


@post("/login", status_code=200)
async def login(request: Request[Any, Any, Any]) -> str:
    session = get_session(request)
    reveal_type(session)  # Session[AsyncExchange]
    reveal_type(await session.regenerate(keep_data=False))  # None
    reveal_type(await session.reload())  # bool
    reveal_type(await session.save())  # bool
    return "welcome"


store = AsyncMongoStore(uri="mongodb://localhost:27017/app")
plugin = MongoSessionPlugin(store, secret=["new", "old"], max_age=3600, rolling=True)
app = Litestar([login], plugins=[plugin])
MongoSessionPlugin(store, secret="s", rolls=True)  # error
MongoSessionPlugin(store, secret="s", max_age="1h")  # error
MongoSessionPlugin(store, "s")  # error
"""


def test_the_public_surface_type_checks_strictly(tmp_path: Path) -> None:
    path = tmp_path / "litestar_user_code.py"
    path.write_text(USER_CODE)
    status, output = mypy(path)
    assert status == 1, output
    revealed = {int(m["line"]): unqualified(m["type"]) for o in output if (m := REVEALED.match(o))}
    assert revealed == expected_reveals(path), output
    failing = {int(m["line"]) for line in output if (m := ERROR.match(line))}
    marked = {n for n, line in enumerate(USER_CODE.splitlines(), 1) if line.endswith("# error")}
    assert failing == marked, output
