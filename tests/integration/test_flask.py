"""The Flask adapter: what Flask users rely on, beyond the shared behaviour suite."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, session
from flask.sessions import SessionMixin
from pymongo import MongoClient

from mongosession import ConfigurationError, ConfigurationTypeError, MongoStore, _clock
from mongosession.flask import FlaskSession, MongoSession, MongoSessionInterface, get_session
from mongosession.testing.localdb import free_port
from mongosession.web.cookies import encode_component, sign
from mongosession.web.session import Session
from tests.support.adapter_apps import SECRET, flask_app
from tests.support.monitoring import CommandLog
from tests.support.servers import python, serving, tour_the_example
from tests.support.web import FlaskSite


@pytest.fixture
def store(test_uri: str, command_log: CommandLog) -> Iterator[MongoStore]:
    client: MongoClient[Any] = MongoClient(test_uri, event_listeners=[command_log])
    made = MongoStore(client=client, ttl=120)
    yield made
    client.close()


def test_the_session_is_ours_and_a_flask_session_mixin(store: MongoStore) -> None:
    app = flask_app(store)
    seen: dict[str, Any] = {}

    @app.get("/inspect")
    def inspect() -> str:
        seen["type"] = type(session._get_current_object())  # type: ignore[attr-defined]
        seen["new_before"] = session.new
        seen["modified_before"] = session.modified
        session["x"] = 1
        seen["modified_after"] = session.modified
        return "ok"

    client = app.test_client()
    client.get("/inspect")
    assert issubclass(seen["type"], Session)
    assert issubclass(seen["type"], SessionMixin)
    assert seen["type"] is FlaskSession
    assert (seen["new_before"], seen["modified_before"], seen["modified_after"]) == (
        True,
        False,
        True,
    )
    client.get("/inspect")  # the cookie came back: an existing, unmodified session
    assert seen["new_before"] is False
    assert seen["modified_before"] is False


def test_permanent_gives_the_cookie_and_the_document_flasks_lifetime(
    store: MongoStore, db: Any
) -> None:
    app = flask_app(store)
    app.permanent_session_lifetime = timedelta(hours=2)

    @app.post("/remember")
    def remember() -> str:
        session.permanent = True
        return "ok"

    client = app.test_client()
    client.get("/")
    plain = db.sessions.find_one()
    assert json.loads(plain["session"])["cookie"]["originalMaxAge"] is None  # browser session
    response = client.post("/remember")
    assert "Expires=" in response.headers["Set-Cookie"]
    doc = db.sessions.find_one()
    data = json.loads(doc["session"])
    assert data["cookie"]["originalMaxAge"] == 2 * 3600 * 1000
    assert data["_permanent"] is True
    left = (doc["expires"] - _clock.now()).total_seconds()
    assert 2 * 3600 - 10 < left <= 2 * 3600


def test_setting_modified_forces_a_save(store: MongoStore, command_log: CommandLog) -> None:
    app = flask_app(store)

    @app.get("/force")
    def force() -> str:
        session.modified = True
        return "ok"

    client = app.test_client()
    client.get("/")
    command_log.clear()
    client.get("/force")
    (update,) = command_log.commands("update")
    assert "session" in update["updates"][0]["u"]["$set"]  # rewritten, not just touched


def test_the_test_clients_session_transaction_works(store: MongoStore) -> None:
    app = flask_app(store)
    client = app.test_client()
    with client.session_transaction() as prepared:
        prepared["user"] = "carol"
    assert client.get("/whoami").text == "carol"


def test_the_extension_reads_app_config(test_uri: str, db: Any) -> None:
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY="new key",
        SECRET_KEY_FALLBACKS=["old key"],
        SESSION_COOKIE_NAME="connect.sid",
        SESSION_COOKIE_SAMESITE="Strict",
        MONGOSESSION_URI=test_uri,
        MONGOSESSION_STORE={"collection": "web_sessions", "ttl": 600},
        MONGOSESSION_OPTIONS={"rolling": True},
    )
    extension = MongoSession()
    interface = extension.init_app(app)
    assert app.session_interface is interface is app.extensions["mongosession"]

    @app.get("/")
    def count() -> str:
        session["n"] = session.get("n", 0) + 1
        return str(session["n"])

    client = app.test_client(use_cookies=False)
    first = client.get("/")
    header = first.headers["Set-Cookie"]
    assert header.startswith("connect.sid=s%3A")
    assert "SameSite=Strict" in header
    (doc,) = db.web_sessions.find()
    # A cookie signed with a fallback key is still accepted (key rotation).
    old = encode_component(sign(doc["_id"], "old key"))
    again = client.get("/", headers={"Cookie": f"connect.sid={old}"})
    assert again.text == "2"
    assert "Set-Cookie" in again.headers  # rolling, and re-signed with the new key
    assert encode_component(sign(doc["_id"], "new key")) in again.headers["Set-Cookie"]
    interface.store.close()


def test_the_extension_refuses_a_missing_uri_or_secret(test_uri: str) -> None:
    app = Flask(__name__)
    app.config["SECRET_KEY"] = SECRET
    with pytest.raises(ConfigurationError, match="MONGOSESSION_URI"):
        MongoSession(app)
    bare = Flask(__name__)
    bare.config["MONGOSESSION_URI"] = test_uri
    with pytest.raises(ConfigurationError, match="SECRET_KEY"):
        MongoSession(bare)


def test_an_unknown_or_bad_option_is_refused_at_start_up(store: MongoStore) -> None:
    app = Flask(__name__)
    app.config.update(SECRET_KEY=SECRET, MONGOSESSION_OPTIONS={"rolls": True})
    with pytest.raises(ConfigurationTypeError, match="unknown session option 'rolls'"):
        MongoSession(app, store=store)
    app.config["MONGOSESSION_OPTIONS"] = {"unset": "drop"}
    with pytest.raises(ConfigurationError, match="unset"):
        MongoSession(app, store=store)


def test_get_session_is_the_session_behind_flask_session(store: MongoStore) -> None:
    app = flask_app(store)
    seen: list[object] = []

    @app.get("/typed")
    def typed() -> str:
        current = get_session()
        seen.append(current)
        current["n"] = 41
        current.regenerate()  # typed: a blocking call returning None
        return str(session["n"])

    client = app.test_client()
    assert client.get("/typed").text == "41"
    assert type(seen[0]) is FlaskSession
    assert client.get("/").text == "42"
    flasks_own = Flask(__name__)
    flasks_own.secret_key = SECRET
    with flasks_own.test_request_context("/"), pytest.raises(RuntimeError, match="mongosession"):
        get_session()


def test_get_session_of_an_unloadable_session_is_a_503() -> None:
    site = FlaskSite(f"mongodb://127.0.0.1:{free_port()}/app", CommandLog(), timeout=0.3)
    try:

        @site.app.get("/typed")
        def typed() -> str:
            return str(get_session().get("n"))

        reply = site.request("GET", "/typed", f"session={site.signed('a1b2c3d4e5f6g7h8')}")
        assert reply.status == 503
        assert reply.all("cache-control") == ["no-store"]
    finally:
        site.close()


def test_the_interface_can_be_set_by_hand(store: MongoStore) -> None:
    app = Flask(__name__)
    app.session_interface = MongoSessionInterface(store, secret=SECRET, name="sid")

    @app.get("/")
    def count() -> str:
        session["n"] = session.get("n", 0) + 1
        return str(session["n"])

    client = app.test_client()
    assert [client.get("/").text for _ in range(2)] == ["1", "2"]
    assert client.get_cookie("sid") is not None
    with pytest.raises(TypeError, match="MongoStore") as refused:
        MongoSessionInterface(object(), secret=SECRET)  # type: ignore[arg-type]
    assert isinstance(refused.value, ConfigurationError)


def test_a_route_that_never_uses_an_unloadable_session_is_served() -> None:
    site = FlaskSite(f"mongodb://127.0.0.1:{free_port()}/app", CommandLog(), timeout=0.3)
    try:
        cookie = f"session={site.signed('a1b2c3d4e5f6g7h8')}"
        assert site.request("GET", "/static", cookie).status == 200
        assert site.request("GET", "/whoami", cookie).status == 503
    finally:
        site.close()


def test_the_example_under_waitress(test_uri: str, tmp_path: Path) -> None:
    command = python("examples/flask_app.py", "--port", "{port}")
    with serving(command, mongodb_uri=test_uri, log=tmp_path / "waitress.log") as url:
        tour_the_example(url, "session")


def test_a_secure_cookie_goes_out_over_https_or_a_trusted_proxy(store: MongoStore) -> None:
    app = Flask(__name__)
    app.config.update(SECRET_KEY=SECRET, SESSION_COOKIE_SECURE=True)
    MongoSession(app, store=store, proxy=True)

    @app.get("/")
    def count() -> str:
        session["n"] = 1
        return "ok"

    client = app.test_client(use_cookies=False)
    assert "Set-Cookie" not in client.get("/").headers  # plain http: never a Secure cookie
    proxied = client.get("/", headers={"X-Forwarded-Proto": "https"}).headers["Set-Cookie"]
    direct = client.get("/", base_url="https://localhost").headers["Set-Cookie"]
    assert "Secure" in proxied
    assert "Secure" in direct


def test_a_views_own_save_refused_by_the_store_answers_403_or_409(test_uri: str) -> None:
    # The store's refusal of an explicit session.save() answers as the final save
    # would (403 over the session limit, 409 for a same-key concurrent change),
    # not as an unhandled exception (500).
    client: MongoClient[Any] = MongoClient(test_uri)
    store = MongoStore(
        client=client, user_key="user", max_sessions_per_user=1, on_session_limit="refuse"
    )
    app = flask_app(store)

    @app.post("/login-now")
    def login_now() -> str:
        session["user"] = "alice"
        session.save()
        return "saved"

    sids: list[str] = []

    @app.post("/bump-racing")
    def bump_racing() -> str:
        # Another request changes the same key between this one's load and save.
        sid = get_session().id
        sids.append(sid)
        store.set(sid, {**(store.get(sid) or {}), "n": 100})
        session["n"] = 1
        session.save()
        return "saved"

    first, second = app.test_client(), app.test_client()
    assert first.post("/login-now").status_code == 200
    refused = second.post("/login-now")
    assert refused.status_code == 403
    assert "Set-Cookie" not in refused.headers

    with first.session_transaction() as current:
        current["n"] = 0
    conflict = first.post("/bump-racing")
    assert conflict.status_code == 409
    assert "Set-Cookie" not in conflict.headers
    assert (store.get(sids[0]) or {}).get("n") == 100  # the other writer's value stands
    client.close()
