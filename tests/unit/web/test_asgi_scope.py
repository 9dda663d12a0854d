"""Which requests the ASGI middleware serves, and what it gives the options, without I/O.

A request with no cookie whose session stays untouched costs no store call, so the
middleware runs here on a store that could reach no server: a session already in
the scope is left alone (express-session's "do nothing if req.session exists"), the
cookie path is matched against the full path under both ``root_path`` conventions
and an empty path is ``/``, and the ``cookie`` function and a ``genid`` that takes
an argument are given the scope. Over a real server: tests/integration/test_asgi_express_options.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import MutableMapping
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.routing import Mount

from mongosession import AsyncMongoStore, ConfigurationError, Session
from mongosession.asgi import SessionMiddleware, request_path

NOWHERE = "mongodb://127.0.0.1:1/app"  # never contacted: nothing here needs the store

Scope = MutableMapping[str, Any]


class Seen:
    """The app behind the middleware: records the scope it got, answers 200."""

    def __init__(self) -> None:
        self.scopes: list[Scope] = []

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        self.scopes.append(scope)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    @property
    def session(self) -> Any:
        return self.scopes[-1].get("session")


def middleware(app: Any, **options: Any) -> SessionMiddleware:
    return SessionMiddleware(app, store=AsyncMongoStore(uri=NOWHERE), secret="s", **options)


def call(app: Any, path: str = "/", **scope: Any) -> list[dict[str, Any]]:
    """One http request through ``app``: the messages it sent."""
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    full = {"type": "http", "method": "GET", "path": path, "headers": [], **scope}
    asyncio.run(app(full, receive, send))
    return sent


@pytest.mark.parametrize(
    ("path", "root_path", "full"),
    [
        ("/foo/bar", "/foo", "/foo/bar"),  # current ASGI: path is full, root_path a prefix
        ("/bar", "/foo", "/foo/bar"),  # older servers: path is the rest
        ("/foo/foo/bar", "/foo", "/foo/foo/bar"),
        ("/x", "", "/x"),
        ("", "", "/"),  # an empty path is "/"
        ("", "/foo", "/foo"),
    ],
)
def test_the_full_path_under_both_root_path_conventions(
    path: str, root_path: str, full: str
) -> None:
    assert request_path({"path": path, "root_path": root_path}) == full
    if not root_path:
        assert request_path({"path": path}) == full


def test_a_session_already_in_the_scope_is_left_alone() -> None:
    app = Seen()
    other: dict[str, Any] = {}  # another session layer's, outside this one
    messages = call(middleware(app), session=other)
    assert app.session is other
    assert messages[0]["headers"] == []


def test_an_empty_path_gets_a_session() -> None:
    app = Seen()
    call(middleware(app), path="")
    assert isinstance(app.session, Session)


@pytest.mark.parametrize(
    ("path", "root_path", "served"),
    [
        ("/foo/bar", "/foo", True),
        ("/foo/bar/baz", "/foo", True),
        ("/bar", "/foo", True),  # the older convention
        ("/foo/foo/bar", "/foo", False),
        ("/foo", "/foo", False),
    ],
)
def test_the_cookie_path_is_matched_against_the_full_path(
    path: str, root_path: str, served: bool
) -> None:
    app = Seen()
    call(middleware(app, path="/foo/bar"), path=path, root_path=root_path)
    assert isinstance(app.session, Session) is served


@pytest.mark.parametrize(("path", "served"), [("/foo/bar", True), ("/foo/foo/bar", False)])
def test_under_a_starlette_mount_the_cookie_path_is_the_full_path(path: str, served: bool) -> None:
    app = Seen()
    mounted = Starlette(routes=[Mount("/foo", app=middleware(app, path="/foo/bar"))])
    call(mounted, path=path, root_path="")
    assert isinstance(app.session, Session) is served


def test_the_cookie_function_gets_the_scope_and_its_path_decides() -> None:
    seen: list[Any] = []

    def cookie(scope: Any) -> dict[str, Any]:
        seen.append(scope)
        return {"path": "/api" if scope["path"].startswith("/api") else "/nowhere"}

    app = Seen()
    mw = middleware(app, cookie=cookie)
    call(mw, path="/api/x")
    assert isinstance(app.session, Session)
    assert app.session.cookie.path == "/api"
    assert seen[-1] is app.scopes[-1]
    call(mw, path="/elsewhere")
    assert app.session is None


def test_a_bad_cookie_function_result_fails_the_request() -> None:
    app = Seen()
    mw = middleware(app, cookie=lambda scope: {"same_site": "none"})
    with pytest.raises(ConfigurationError, match="requires secure"):
        call(mw)
    assert app.scopes == []


def test_genid_gets_the_scope() -> None:
    app = Seen()
    call(middleware(app, genid=lambda scope: "id-" + scope["path"].strip("/")), path="/abc")
    assert app.session.id == "id-abc"


def test_a_session_layer_inside_another_does_nothing() -> None:
    app = Seen()
    inner = middleware(app, genid=lambda: "inner")
    outer = middleware(inner, genid=lambda: "outer")
    call(outer)
    assert app.session.id == "outer"
