"""The ASGI middleware: express-session's decision table, option by option.

Each test drives a real Starlette app (tests/support/apps.py) through Starlette's test
client against the real server, and counts database commands with PyMongo's
command monitoring.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from fastapi import FastAPI, Request
from pymongo import AsyncMongoClient
from starlette.testclient import TestClient

from mongosession import AsyncMongoStore, ConfigurationError, ConfigurationTypeError, _clock
from mongosession.asgi import SessionMiddleware
from mongosession.web.cookies import sign
from tests.support.apps import starlette_app
from tests.support.monitoring import CommandLog

SECRET = "test secret"
Web = Callable[..., TestClient]


@pytest.fixture
def web(test_uri: str, command_log: CommandLog) -> Iterator[Web]:
    """``web(**middleware_options, store_options={...})`` -> an entered TestClient."""
    opened: list[tuple[TestClient, AsyncMongoClient[Any]]] = []

    def make(
        *,
        store_options: dict[str, Any] | None = None,
        base_url: str = "http://testserver",
        **options: Any,
    ) -> TestClient:
        client: AsyncMongoClient[Any] = AsyncMongoClient(test_uri, event_listeners=[command_log])
        store = AsyncMongoStore(client=client, **(store_options or {}))
        test_client = TestClient(starlette_app(store, **options), base_url=base_url)
        test_client.__enter__()
        opened.append((test_client, client))
        return test_client

    yield make
    for test_client, client in opened:
        test_client.portal.call(client.close)  # type: ignore[union-attr]
        test_client.__exit__(None, None, None)


def signed(sid: str, secret: str = SECRET) -> str:
    from mongosession.web.cookies import encode_component

    return encode_component(sign(sid, secret))


def stored(db: Any) -> list[dict[str, Any]]:
    return [{**d, "session": json.loads(d["session"])} for d in db.sessions.find()]


def login(client: TestClient, user: str = "alice") -> str:
    response = client.post(f"/login?user={user}")
    assert response.status_code == 200
    return client.cookies["connect.sid"]


def replayed(web: Web, cookie: str) -> str:
    """Who a fresh client presenting ``cookie`` is."""
    replay = web()
    replay.cookies.set("connect.sid", cookie)
    return replay.get("/whoami").text


# -- cookies -----------------------------------------------------------------------


def test_the_cookie_matches_express_sessions_test_vector() -> None:
    assert signed("DJW_JaSWR-41-zW3df0G0g7HB8t5bwK4", "keyboard cat") == (
        "s%3ADJW_JaSWR-41-zW3df0G0g7HB8t5bwK4.Mlxlz9E4Fec%2BzWdLz%2F1GwBnUpo9w1vQ2H2FDxz1GAOY"
    )


def test_unsign_tries_every_secret_and_rejects_tampering() -> None:
    from mongosession.web.cookies import unsign

    value = sign("abc", "old")
    assert unsign(value, ["new", "old"]) == "abc"
    assert unsign(value, ["new"]) is None
    assert unsign(value.replace("abc", "abd"), ["old"]) is None
    assert unsign(value[2:], ["old"]) is None  # no "s:" prefix
    assert unsign("s:abc", ["old"]) is None


def test_read_cookie_takes_the_first_occurrence_and_decodes() -> None:
    from mongosession.web.cookies import read_cookie

    header = 'a=1; connect.sid="s%3Axy"; connect.sid=second'
    assert read_cookie(header, "connect.sid") == "s:xy"
    assert read_cookie("x=%E0%A4%A", "x") == "%E0%A4%A"  # undecodable: kept as is
    assert read_cookie("other=1", "connect.sid") is None


# -- configuration --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"secret": ""}, "secret"),
        ({"secret": []}, "secret"),
        ({"secret": "s", "same_site": "none"}, "requires secure"),
        ({"secret": "s", "name": "__Host-id", "secure": True, "domain": "example.com"}, "__Host-"),
        ({"secret": "s", "name": "__Host-id"}, "__Host-"),
        ({"secret": "s", "name": "__Secure-id"}, "__Secure-"),
        ({"secret": "s", "partitioned": True}, "partitioned"),
        ({"secret": "s", "name": "bad name"}, "cookie name"),
        ({"secret": "s", "unset": "drop"}, "unset"),
    ],
)
def test_insecure_or_invalid_options_are_refused_at_start_up(
    options: dict[str, Any], message: str
) -> None:
    store = AsyncMongoStore(uri="mongodb://127.0.0.1:1/app")
    with pytest.raises(ConfigurationError, match=message) as refused:
        SessionMiddleware(lambda *a: None, store=store, **options)  # type: ignore[arg-type]
    assert isinstance(refused.value, ValueError)  # as before ConfigurationError existed


def test_the_middleware_needs_an_async_store() -> None:
    with pytest.raises(ConfigurationTypeError, match="AsyncMongoStore") as refused:
        SessionMiddleware(lambda *a: None, store=object(), secret="s")  # type: ignore[arg-type]
    assert isinstance(refused.value, TypeError)


# -- no cookie ---------------------------------------------------------------------


def test_no_cookie_and_no_session_use_costs_nothing(web: Web, command_log: CommandLog) -> None:
    client = web()
    command_log.clear()
    response = client.get("/static")
    assert response.text == "static"
    assert command_log.count() == 0
    assert "set-cookie" not in response.headers
    assert "vary" not in response.headers


def test_reading_an_empty_new_session_writes_nothing_but_varies(
    web: Web, command_log: CommandLog
) -> None:
    client = web()
    command_log.clear()
    response = client.get("/peek")
    assert response.json() == {}
    assert command_log.writes == 0
    assert "set-cookie" not in response.headers
    assert response.headers["vary"] == "Cookie"


def test_a_new_modified_session_is_inserted_and_sets_a_signed_cookie(
    web: Web, db: Any, command_log: CommandLog
) -> None:
    client = web()
    command_log.clear()
    response = client.get("/")
    assert command_log.names() == ["insert"]  # a new session is inserted, never upserted
    [doc] = stored(db)
    assert response.headers["set-cookie"] == (
        f"connect.sid={signed(doc['_id'])}; Path=/; HttpOnly; SameSite=Lax"
    )
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["vary"] == "Cookie"
    assert doc["session"] == {
        "cookie": {
            "originalMaxAge": None,
            "expires": None,
            "httpOnly": True,
            "path": "/",
            "sameSite": "lax",
        },
        "n": 1,
    }


def test_save_uninitialized_saves_an_untouched_new_session(web: Web, db: Any) -> None:
    client = web(save_uninitialized=True)
    response = client.get("/static")
    assert "set-cookie" in response.headers
    assert db.sessions.count_documents({}) == 1


# -- a presented session --------------------------------------------------------------


def test_the_session_persists_across_requests(web: Web) -> None:
    client = web()
    assert [client.get("/").text for _ in range(3)] == ["1", "2", "3"]


def test_an_unmodified_session_is_touched_not_rewritten(
    web: Web, db: Any, command_log: CommandLog
) -> None:
    client = web(store_options={"touch_after": 0})  # connect-mongo's default: every request
    client.get("/")
    before = db.sessions.find_one()
    command_log.clear()
    response = client.get("/peek")
    assert command_log.names() == ["find", "update"]
    [update] = command_log.commands("update")
    assert set(update["updates"][0]["u"]["$set"]) == {"expires"}  # a touch, not a save
    assert db.sessions.find_one()["session"] == before["session"]
    assert "set-cookie" not in response.headers


def test_touch_after_makes_an_unmodified_request_one_read(
    web: Web, command_log: CommandLog
) -> None:
    client = web(store_options={"touch_after": 3600})
    client.get("/")
    command_log.clear()
    client.get("/peek")
    assert command_log.names() == ["find"]


def test_a_modified_session_is_saved_in_place_without_a_new_cookie(
    web: Web, db: Any, command_log: CommandLog
) -> None:
    client = web()
    client.get("/")
    command_log.clear()
    response = client.get("/")
    assert command_log.names() == ["find", "update"]
    assert "set-cookie" not in response.headers  # a browser-session cookie needs no refresh
    assert stored(db)[0]["session"]["n"] == 2


def test_resave_rewrites_an_unmodified_session(web: Web, command_log: CommandLog) -> None:
    client = web(resave=True)
    client.get("/")
    command_log.clear()
    client.get("/peek")
    [update] = command_log.commands("update")
    assert "session" in update["updates"][0]["u"]["$set"]


def test_a_nested_change_is_a_change(web: Web, db: Any) -> None:
    client = web()
    client.get("/cart")
    client.get("/cart")
    assert client.get("/cart").json() == [0, 1, 2]
    assert stored(db)[0]["session"]["cart"] == [0, 1, 2]


# -- max_age, expires, rolling -----------------------------------------------------------


def test_max_age_sets_expires_on_cookie_and_document(web: Web, db: Any) -> None:
    client = web(max_age=3600)
    response = client.get("/")
    doc = stored(db)[0]
    assert doc["session"]["cookie"]["originalMaxAge"] == 3_600_000
    expires = _clock.parse_js_iso(doc["session"]["cookie"]["expires"])
    assert doc["expires"] == expires
    assert abs((expires - _clock.now()).total_seconds() - 3600) < 5
    assert "Expires=" in response.headers["set-cookie"]


def test_with_max_age_a_modified_session_refreshes_the_cookie(web: Web) -> None:
    client = web(max_age=3600)
    client.get("/")
    assert "set-cookie" in client.get("/").headers
    assert "set-cookie" not in client.get("/peek").headers  # unmodified: not rolling


def test_rolling_refreshes_the_cookie_on_every_response(web: Web) -> None:
    client = web(max_age=3600, rolling=True)
    client.get("/")
    assert "set-cookie" in client.get("/peek").headers


def test_expires_sets_a_fixed_expiry(web: Web, db: Any) -> None:
    when = datetime(2099, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    response = web(expires=when).get("/")
    assert "Expires=Fri, 02 Jan 2099 03:04:05 GMT" in response.headers["set-cookie"]
    assert db.sessions.find_one()["expires"] == when


def test_touch_moves_the_document_expiry_with_max_age(
    web: Web, db: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = web(max_age=600)
    client.get("/")
    first = db.sessions.find_one()["expires"]
    later = _clock.now() + timedelta(seconds=100)
    monkeypatch.setattr(_clock, "now", lambda: later)
    client.get("/peek")
    assert db.sessions.find_one()["expires"] == later + timedelta(seconds=600)
    assert db.sessions.find_one()["expires"] > first


# -- strict ids -------------------------------------------------------------------------


def test_an_unknown_id_is_never_adopted(web: Web, db: Any) -> None:
    client = web()
    client.cookies.set("connect.sid", signed("UnknownButWellFormedId0000000000"))
    response = client.get("/")
    new_cookie = response.headers["set-cookie"]
    assert "UnknownButWellFormedId" not in new_cookie
    assert db.sessions.count_documents({"_id": "UnknownButWellFormedId0000000000"}) == 0


def test_an_unknown_id_on_a_read_creates_nothing(web: Web, db: Any) -> None:
    client = web()
    client.cookies.set("connect.sid", signed("UnknownButWellFormedId0000000000"))
    response = client.get("/peek")
    assert "set-cookie" not in response.headers
    assert db.sessions.count_documents({}) == 0


@pytest.mark.parametrize(
    "value",
    [
        "",
        " ",
        "x",
        "s%3Aabc",
        "s%3Aabc.bad",
        "%0D%0Aset-cookie",
        "a%3Bb",
        "%00",
        "%C3%A9",
        "x" * 8192,
    ],
)
def test_a_hostile_cookie_is_no_session_and_costs_no_query(
    web: Web, command_log: CommandLog, value: str
) -> None:
    client = web()
    command_log.clear()
    response = client.get("/peek", headers={"cookie": f"connect.sid={value}"})
    assert response.status_code == 200
    assert response.json() == {}
    assert command_log.count() == 0
    assert "set-cookie" not in response.headers


def test_a_tampered_signature_is_no_session(web: Web) -> None:
    client = web()
    client.get("/")
    cookie = client.cookies["connect.sid"]
    tampered = cookie[:-2] + ("AA" if not cookie.endswith("AA") else "BB")
    assert client.get("/", headers={"cookie": f"connect.sid={tampered}"}).text == "1"
    assert client.get("/", headers={"cookie": f"connect.sid={cookie}"}).text == "2"


def test_a_cookie_signed_with_a_rotated_out_secret_still_works_while_listed(web: Web) -> None:
    old = web(secret="old")
    old.get("/")
    rotated = web(secret=["new", "old"])
    rotated.cookies.set("connect.sid", old.cookies["connect.sid"])
    assert rotated.get("/").text == "2"
    retired = web(secret=["new"])
    retired.cookies.set("connect.sid", old.cookies["connect.sid"])
    assert retired.get("/").text == "1"


# -- regenerate, destroy, clear, unset, save, reload ----------------------------------------


def test_login_regenerates_the_id_and_keeps_the_data(web: Web, db: Any) -> None:
    client = web()
    client.get("/cart")
    before = client.cookies["connect.sid"]
    after = login(client)
    assert after != before
    assert client.get("/whoami").text == "alice"
    assert client.get("/peek").json()["cart"] == [0]
    assert db.sessions.count_documents({}) == 1
    assert replayed(web, before) == "anonymous"


def test_logout_deletes_the_record_and_clears_the_cookie(web: Web, db: Any) -> None:
    client = web()
    cookie = login(client)
    response = client.post("/logout")
    assert response.headers["set-cookie"].startswith(
        "connect.sid=; Path=/; Expires=Thu, 01 Jan 1970"
    )
    assert db.sessions.count_documents({}) == 0
    assert replayed(web, cookie) == "anonymous"


def test_clear_empties_the_stored_session(web: Web, db: Any) -> None:
    client = web()
    login(client)
    client.post("/clear")
    assert client.get("/whoami").text == "anonymous"
    assert set(stored(db)[0]["session"]) == {"cookie"}


def test_unset_destroy_deletes_the_record(web: Web, db: Any) -> None:
    client = web(unset="destroy")
    login(client)
    response = client.post("/unset")
    assert db.sessions.count_documents({}) == 0
    assert "Expires=Thu, 01 Jan 1970" in response.headers["set-cookie"]


def test_unset_keep_leaves_the_record(web: Web, db: Any, command_log: CommandLog) -> None:
    client = web()
    login(client)
    command_log.clear()
    client.post("/unset")
    assert command_log.writes == 0
    assert db.sessions.count_documents({}) == 1


def test_save_during_the_request_is_the_only_write(
    web: Web, db: Any, command_log: CommandLog
) -> None:
    client = web()
    client.get("/")
    command_log.clear()
    client.post("/save-early")
    assert command_log.names() == ["find", "update"]
    assert stored(db)[0]["session"]["early"] is True


def test_reload_discards_unsaved_changes(web: Web) -> None:
    client = web()
    client.get("/")
    body = client.get("/reload").json()
    assert body == {"found": True, "session": {"n": 1}}


def test_a_session_destroyed_during_the_request_is_not_resurrected(web: Web, db: Any) -> None:
    client = web()
    client.get("/")
    sid = db.sessions.find_one()["_id"]

    async def logout_elsewhere(request: Any) -> Any:
        from starlette.responses import PlainTextResponse

        await request.app.state.store.destroy(sid)  # another request logs out meanwhile
        request.session["n"] = 100
        return PlainTextResponse("late write")

    app = client.app
    store = app.user_middleware[0].kwargs["store"]  # type: ignore[attr-defined]
    app.state.store = store  # type: ignore[attr-defined]
    app.router.add_route("/late", logout_elsewhere)  # type: ignore[attr-defined]
    response = client.get("/late")
    assert response.text == "late write"
    assert db.sessions.count_documents({}) == 0
    assert "Expires=Thu, 01 Jan 1970" in response.headers["set-cookie"]


# -- cookie attributes ----------------------------------------------------------------------


def test_secure_cookies_are_not_sent_over_http(web: Web, db: Any) -> None:
    response = web(secure=True).get("/")
    assert "set-cookie" not in response.headers
    assert db.sessions.count_documents({}) == 1


def test_secure_cookies_are_sent_over_https(web: Web) -> None:
    response = web(secure=True, base_url="https://testserver").get("/")
    assert "; Secure" in response.headers["set-cookie"]


def test_secure_auto_follows_a_trusted_proxy(web: Web) -> None:
    trusted = web(secure="auto", proxy=True)
    response = trusted.get("/", headers={"x-forwarded-proto": "https"})
    assert "; Secure" in response.headers["set-cookie"]
    untrusted = web(secure="auto")
    response = untrusted.get("/", headers={"x-forwarded-proto": "https"})
    assert "Secure" not in response.headers["set-cookie"]


def test_cookie_attributes_reach_the_header_and_the_stored_cookie(web: Web, db: Any) -> None:
    client = web(
        name="sid",
        domain="example.test",
        same_site="strict",
        http_only=False,
        priority="high",
        partitioned=True,
        secure=True,
        base_url="https://testserver",
    )
    header = client.get("/").headers["set-cookie"]
    assert header.startswith("sid=s%3A")
    for part in (
        "Domain=example.test",
        "SameSite=Strict",
        "Priority=High",
        "Partitioned",
        "Secure",
    ):
        assert part in header
    assert "HttpOnly" not in header
    cookie = stored(db)[0]["session"]["cookie"]
    assert cookie == {
        "originalMaxAge": None,
        "partitioned": True,
        "priority": "high",
        "expires": None,
        "secure": True,
        "httpOnly": False,
        "domain": "example.test",
        "path": "/",
        "sameSite": "strict",
    }


def test_requests_outside_the_cookie_path_get_no_session(web: Web, command_log: CommandLog) -> None:
    client = web(path="/app")
    command_log.clear()
    with pytest.raises(AssertionError, match="SessionMiddleware must be installed"):
        client.get("/")
    assert command_log.count() == 0


def test_genid_makes_the_ids(web: Web, db: Any) -> None:
    counter = iter(range(1000))
    web(genid=lambda: f"custom-{next(counter)}").get("/")
    assert db.sessions.find_one()["_id"] == "custom-0"


def test_a_colliding_genid_retries_with_a_new_id(web: Web, db: Any) -> None:
    ids = iter(["same", "same", "other"])
    client = web(genid=lambda: next(ids))
    client.get("/")
    second = web(genid=lambda: next(ids))
    second.get("/")
    assert sorted(d["_id"] for d in db.sessions.find()) == ["other", "same"]


def test_header_mode_reads_and_returns_the_id_in_a_header(web: Web) -> None:
    client = web(header="X-Session-Id")
    first = client.get("/")
    token = first.headers["x-session-id"]
    assert token.startswith("s:")
    assert "set-cookie" not in first.headers
    assert client.get("/", headers={"x-session-id": token}).text == "2"
    assert first.headers["vary"] == "X-Session-Id"


# -- failures ------------------------------------------------------------------------------


def test_an_unavailable_store_fails_closed_with_503(test_uri: str) -> None:
    store = AsyncMongoStore(uri="mongodb://127.0.0.1:9/app", timeout=0.3)
    with TestClient(starlette_app(store)) as client:
        client.cookies.set("connect.sid", signed("SomeSessionId"))
        response = client.get("/whoami")
        assert response.status_code == 503
        assert "alice" not in response.text
        client.cookies.clear()
        assert client.get("/").status_code == 503  # the write at the end fails closed too
        assert client.get("/static").status_code == 200  # no session needed, no database


def test_a_same_key_conflict_is_a_409(web: Web, db: Any) -> None:
    client = web()
    client.get("/")
    sid = db.sessions.find_one()["_id"]

    async def racing(request: Any) -> Any:
        from starlette.responses import PlainTextResponse

        request.session["n"] = 50
        doc = await request.app.state.raw.find_one({"_id": sid})
        data = json.loads(doc["session"])
        data["n"] = 99  # another request changed the same key meanwhile
        await request.app.state.raw.update_one(
            {"_id": sid}, {"$set": {"session": json.dumps(data)}}
        )
        return PlainTextResponse("ok")

    app = client.app
    store = app.user_middleware[0].kwargs["store"]  # type: ignore[attr-defined]
    app.state.raw = store._collection  # type: ignore[attr-defined]
    app.router.add_route("/race", racing)  # type: ignore[attr-defined]
    response = client.get("/race")
    assert response.status_code == 409
    assert stored(db)[0]["session"]["n"] == 99


# -- FastAPI -----------------------------------------------------------------------------


def test_fastapi_request_session_works_unchanged(test_uri: str) -> None:
    store = AsyncMongoStore(uri=test_uri)
    app = FastAPI()
    app.add_middleware(SessionMiddleware, store=store, secret=SECRET)

    @app.get("/visits")
    async def visits(request: Request) -> dict[str, int]:
        request.session["visits"] = request.session.get("visits", 0) + 1
        return {"visits": request.session["visits"]}

    with TestClient(app) as client:
        assert [client.get("/visits").json()["visits"] for _ in range(3)] == [1, 2, 3]
        client.portal.call(store.close)  # type: ignore[union-attr]


def test_an_untouched_session_is_not_marked_accessed_without_orjson(
    web: Web, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mongosession.web import session as _session

    monkeypatch.setattr(_session, "_orjson", None)
    client = web()
    client.get("/")
    response = client.get("/static", headers={"cookie": ""})
    assert "vary" not in response.headers


# -- issue 16, item 3: no work for requests that do not use the session ------------------------


def test_a_skipped_route_costs_no_database_command_even_with_a_cookie(
    web: Web, command_log: CommandLog
) -> None:
    client = web(skip=lambda scope: scope["path"] == "/static")
    assert client.get("/").text == "1"  # a session and its cookie
    command_log.clear()
    response = client.get("/static")
    assert response.text == "static"
    assert command_log.count() == 0  # the cookie was not even looked up
    assert "set-cookie" not in response.headers
    assert client.get("/").text == "2"  # other routes keep their session
    assert command_log.count() > 0


def test_skip_must_be_a_function() -> None:
    from mongosession import ConfigurationTypeError
    from mongosession.asgi import SessionMiddleware

    store = AsyncMongoStore(uri="mongodb://127.0.0.1:1/app")
    with pytest.raises(ConfigurationTypeError, match="skip"):
        SessionMiddleware(starlette_app(store), store=store, secret="s", skip="/static")  # type: ignore[arg-type]
