"""express-session's options mongosession lacked (issue 13, item 3), through a real app and store.

A FastAPI/Starlette app with the ASGI middleware on the test's real MongoDB: what
reaches the stored document and the browser when a handler assigns
``session.cookie.expires``, when the cookie options are a function of the request,
with ``same_site="auto"``, with a bytes secret, and under a ``Mount``. The decisions
themselves are unit-tested without I/O in tests/unit/web/.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.testclient import TestClient

from mongosession import AsyncMongoStore, ConfigurationError, _clock
from mongosession.asgi import SessionMiddleware, get_session
from mongosession.web.cookies import encode_component, sign

Web = Callable[..., TestClient]


def make_app(store: AsyncMongoStore, **options: Any) -> FastAPI:
    app = FastAPI()

    @app.get("/count")
    @app.get("/api/count")
    @app.get("/remember/count")
    async def count(request: Request) -> PlainTextResponse:
        request.session["n"] = request.session.get("n", 0) + 1
        return PlainTextResponse(str(request.session["n"]))

    @app.get("/static")
    async def static() -> PlainTextResponse:
        return PlainTextResponse("static")

    @app.get("/until")
    async def until(request: Request) -> PlainTextResponse:
        when = request.query_params.get("when")
        get_session(request).cookie.expires = datetime.fromisoformat(when) if when else None
        request.session["n"] = request.session.get("n", 0) + 1
        return PlainTextResponse(str(request.session["n"]))

    app.add_middleware(SessionMiddleware, store=store, **options)
    return app


@pytest.fixture
def web(test_uri: str) -> Iterator[Web]:
    """``web(secret=..., mount=None, base_url=..., **options)`` -> an entered TestClient."""
    opened: list[TestClient] = []

    def make(
        *, mount: str | None = None, base_url: str = "http://testserver", **options: Any
    ) -> TestClient:
        options.setdefault("secret", "test secret")
        app: Any = make_app(AsyncMongoStore(uri=test_uri), **options)
        if mount is not None:
            app = Starlette(routes=[Mount(mount, app=app)])
        client = TestClient(app, base_url=base_url)
        client.__enter__()
        opened.append(client)
        return client

    yield make
    for client in opened:
        client.__exit__(None, None, None)


def stored(db: Any) -> list[dict[str, Any]]:
    return [{**d, "session": json.loads(d["session"])} for d in db.sessions.find()]


def set_cookie(response: Any) -> str:
    headers = response.headers.get_list("set-cookie")
    assert len(headers) == 1, headers
    return str(headers[0])


def utc(document_date: datetime) -> datetime:
    return document_date.replace(tzinfo=timezone.utc)


# -- session.cookie.expires ---------------------------------------------------------------


def test_an_assigned_expiry_is_the_cookies_and_the_documents(web: Web, db: Any) -> None:
    client = web(max_age=60)
    when = (_clock.now() + timedelta(days=3)).replace(microsecond=0)
    before = _clock.now()
    response = client.get("/until", params={"when": when.isoformat()})
    after = _clock.now()
    assert f"Expires={when.strftime('%a, %d %b %Y %H:%M:%S GMT')}" in set_cookie(response)
    (document,) = stored(db)
    assert abs(utc(document["expires"]) - when) < timedelta(seconds=1)
    # originalMaxAge: from the moment the request assigned the expiry (between the two
    # clock reads) to that expiry, in milliseconds.
    longest = (when - before) // timedelta(milliseconds=1)
    shortest = (when - after) // timedelta(milliseconds=1)
    assert shortest - 1 <= document["session"]["cookie"]["originalMaxAge"] <= longest + 1


def test_an_expiry_assigned_none_is_a_browser_session_cookie_kept_for_the_stores_ttl(
    web: Web, db: Any
) -> None:
    client = web(max_age=60)
    response = client.get("/until")
    assert "Expires" not in set_cookie(response)
    (document,) = stored(db)
    assert document["session"]["cookie"]["expires"] is None
    assert document["session"]["cookie"]["originalMaxAge"] is None
    # The record lives the store's ttl (14 days by default), not the 60 s of max_age.
    assert utc(document["expires"]) - _clock.now() > timedelta(days=13)
    # A later change sends no cookie: there is no expiry to refresh.
    response = client.get("/count")
    assert response.text == "2"
    assert "set-cookie" not in response.headers


# -- cookie: a function of the request --------------------------------------------------------


def remember_me(scope: Any) -> dict[str, Any]:
    if scope["path"].startswith("/remember"):
        return {"max_age": 30 * 86400}
    return {}


def test_the_cookie_function_gives_each_new_session_its_options(web: Web, db: Any) -> None:
    client = web(cookie=remember_me, max_age=3600)
    short = client.get("/count")
    long = web(cookie=remember_me, max_age=3600).get("/remember/count")
    lifetimes = sorted(d["session"]["cookie"]["originalMaxAge"] for d in stored(db))
    assert lifetimes == [3600 * 1000, 30 * 86400 * 1000]
    assert "Expires" in set_cookie(short)
    assert "Expires" in set_cookie(long)


def test_the_cookie_functions_path_decides_which_requests_get_a_session(web: Web, db: Any) -> None:
    client = web(cookie=lambda scope: {"path": "/api"}, save_uninitialized=True)
    outside = client.get("/static")
    assert outside.text == "static"
    assert "set-cookie" not in outside.headers
    assert "Path=/api" in set_cookie(client.get("/api/count"))
    assert len(stored(db)) == 1


def test_a_cookie_function_returning_a_bad_option_fails_the_request(web: Web, db: Any) -> None:
    # Raised out of the middleware: the server's (or ServerErrorMiddleware's) 500.
    client = web(cookie=lambda scope: {"same_site": "none"})
    with pytest.raises(ConfigurationError, match="requires secure"):
        client.get("/count")
    assert stored(db) == []


# -- same_site="auto" ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("base_url", "attributes"),
    [("https://testserver", ["Secure", "SameSite=None"]), ("http://testserver", ["SameSite=Lax"])],
)
def test_same_site_auto_follows_the_scheme(
    web: Web, db: Any, base_url: str, attributes: list[str]
) -> None:
    client = web(same_site="auto", secure="auto", base_url=base_url)
    header = set_cookie(client.get("/count"))
    wanted = [a for a in header.split("; ") if a == "Secure" or a.startswith("SameSite")]
    assert wanted == attributes
    (document,) = stored(db)
    assert document["session"]["cookie"]["sameSite"] == attributes[-1].split("=")[1].lower()


# -- bytes secrets, mounts, genid -----------------------------------------------------------------


def test_a_bytes_secret_signs_and_reads_the_cookie(web: Web, db: Any) -> None:
    key = bytes(range(200, 232))  # not UTF-8
    client = web(secret=[key, "old"])
    assert client.get("/count").text == "1"
    assert client.get("/count").text == "2"
    (document,) = stored(db)
    assert client.cookies["connect.sid"] == encode_component(sign(document["_id"], key))


def test_under_a_mount_the_cookie_path_is_the_full_path(web: Web, db: Any) -> None:
    client = web(mount="/foo", path="/foo/remember")
    response = client.get("/foo/remember/count")
    assert "Path=/foo/remember" in set_cookie(response)
    assert client.get("/foo/remember/count").text == "2"
    outside = client.get("/foo/static")
    assert outside.text == "static"
    assert "set-cookie" not in outside.headers


def test_genid_gets_the_scope(web: Web, db: Any) -> None:
    client = web(genid=lambda scope: "id-" + scope["path"].strip("/").replace("/", "-"))
    client.get("/api/count")
    assert [d["_id"] for d in stored(db)] == ["id-api-count"]
