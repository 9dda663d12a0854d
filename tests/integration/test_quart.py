"""The Quart adapter: what Quart users rely on, beyond the shared behaviour suite.

The Flask adapter's tests (test_flask.py), on asyncio: each test drives a real
Quart app through Quart's own test client against the real server; the example
runs under hypercorn; a user's code using the public surface type-checks under
``mypy --strict``.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest
from flask.sessions import SessionMixin
from pymongo import AsyncMongoClient
from quart import Quart, session, websocket
from quart.testing import QuartClient

from mongosession import (
    AsyncMongoStore,
    ConfigurationError,
    ConfigurationTypeError,
    MongoStore,
    _clock,
)
from mongosession.quart import (
    MongoSession,
    MongoSessionInterface,
    QuartSession,
    SessionUnavailable,
    get_session,
)
from mongosession.testing.localdb import free_port
from mongosession.web.cookies import encode_component, sign
from mongosession.web.session import Session
from tests.integration.test_examples import gone, throwaway_folder
from tests.integration.test_typing import ERROR, REVEALED, expected_reveals, mypy, unqualified
from tests.support.adapter_apps import SECRET, quart_app
from tests.support.monitoring import CommandLog
from tests.support.servers import python, serving, tour_the_example

T = TypeVar("T")


def with_app(
    uri: str,
    script: Callable[[Quart, QuartClient], Awaitable[T]],
    *,
    build: Callable[[AsyncMongoStore], Quart] = quart_app,
    listener: CommandLog | None = None,
    **store: Any,
) -> T:
    """Run ``script(app, client)`` on a new loop, the app built over a new store."""

    async def main() -> T:
        listeners = [] if listener is None else [listener]
        mongo: AsyncMongoClient[Any] = AsyncMongoClient(uri, event_listeners=listeners)
        try:
            app = build(AsyncMongoStore(client=mongo, **store))
            return await script(app, app.test_client())
        finally:
            await mongo.close()

    return asyncio.run(main())


def test_the_session_is_ours_and_a_flask_session_mixin(test_uri: str) -> None:
    seen: dict[str, Any] = {}

    def build(store: AsyncMongoStore) -> Quart:
        app = quart_app(store)

        @app.get("/inspect")
        async def inspect() -> str:
            seen["type"] = type(session._get_current_object())  # type: ignore[attr-defined]
            seen["new_before"] = session.new
            seen["modified_before"] = session.modified
            session["x"] = 1
            seen["modified_after"] = session.modified
            return "ok"

        return app

    async def script(app: Quart, client: QuartClient) -> None:
        await client.get("/inspect")
        assert issubclass(seen["type"], Session)
        assert issubclass(seen["type"], SessionMixin)
        assert seen["type"] is QuartSession
        assert (seen["new_before"], seen["modified_before"], seen["modified_after"]) == (
            True,
            False,
            True,
        )
        await client.get("/inspect")  # the cookie came back: an existing, unmodified session
        assert seen["new_before"] is False
        assert seen["modified_before"] is False

    with_app(test_uri, script, build=build)


def test_permanent_gives_the_cookie_and_the_document_quarts_lifetime(
    test_uri: str, db: Any
) -> None:
    def build(store: AsyncMongoStore) -> Quart:
        app = quart_app(store)
        app.permanent_session_lifetime = timedelta(hours=2)

        @app.post("/remember")
        async def remember() -> str:
            session.permanent = True
            return "ok"

        return app

    async def script(app: Quart, client: QuartClient) -> None:
        await client.get("/")
        plain = db.sessions.find_one()
        assert json.loads(plain["session"])["cookie"]["originalMaxAge"] is None
        response = await client.post("/remember")
        assert "Expires=" in response.headers["Set-Cookie"]

    with_app(test_uri, script, build=build)
    doc = db.sessions.find_one()
    data = json.loads(doc["session"])
    assert data["cookie"]["originalMaxAge"] == 2 * 3600 * 1000
    assert data["_permanent"] is True
    left = (doc["expires"] - _clock.now()).total_seconds()
    assert 2 * 3600 - 10 < left <= 2 * 3600


def test_setting_modified_forces_a_save(test_uri: str, command_log: CommandLog) -> None:
    def build(store: AsyncMongoStore) -> Quart:
        app = quart_app(store)

        @app.get("/force")
        async def force() -> str:
            session.modified = True
            return "ok"

        return app

    async def script(app: Quart, client: QuartClient) -> None:
        await client.get("/")
        command_log.clear()
        await client.get("/force")

    with_app(test_uri, script, build=build, listener=command_log)
    (update,) = command_log.commands("update")
    assert "session" in update["updates"][0]["u"]["$set"]  # rewritten, not just touched


def test_the_test_clients_session_transaction_works(test_uri: str) -> None:
    async def script(app: Quart, client: QuartClient) -> str:
        async with client.session_transaction() as prepared:
            prepared["user"] = "carol"
        return await (await client.get("/whoami")).get_data(as_text=True)

    assert with_app(test_uri, script) == "carol"


def test_the_extension_reads_app_config_and_owns_the_store_it_made(test_uri: str, db: Any) -> None:
    app = Quart(__name__)
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
    async def count() -> str:
        session["n"] = session.get("n", 0) + 1
        return str(session["n"])

    async def main() -> None:
        async with app.test_app() as test_app:  # before_serving: the indexes
            indexes = [index["name"] for index in db.web_sessions.list_indexes()]
            assert "expires_1" in indexes
            client = test_app.test_client()
            client.cookie_jar = None
            first = await client.get("/")
            header = first.headers["Set-Cookie"]
            assert header.startswith("connect.sid=s%3A")
            assert "SameSite=Strict" in header
            (doc,) = db.web_sessions.find()
            # A cookie signed with a fallback key is still accepted (key rotation).
            old = encode_component(sign(doc["_id"], "old key"))
            again = await client.get("/", headers={"Cookie": f"connect.sid={old}"})
            assert await again.get_data(as_text=True) == "2"
            assert encode_component(sign(doc["_id"], "new key")) in again.headers["Set-Cookie"]
        # after_serving closed the store the extension made from the config
        with pytest.raises(Exception, match="close"):
            await interface.store.get("a1b2c3d4e5f6g7h8a1b2c3d4")

    asyncio.run(main())


def test_the_extension_refuses_a_missing_uri_or_secret(test_uri: str) -> None:
    app = Quart(__name__)
    app.config["SECRET_KEY"] = SECRET
    with pytest.raises(ConfigurationError, match="MONGOSESSION_URI"):
        MongoSession(app)
    bare = Quart(__name__)
    bare.config["MONGOSESSION_URI"] = test_uri
    with pytest.raises(ConfigurationError, match="SECRET_KEY"):
        MongoSession(bare)


def test_an_unknown_or_bad_option_or_a_blocking_store_is_refused(test_uri: str) -> None:
    store = AsyncMongoStore(uri=test_uri)
    app = Quart(__name__)
    app.config.update(SECRET_KEY=SECRET, MONGOSESSION_OPTIONS={"rolls": True})
    with pytest.raises(ConfigurationTypeError, match="unknown session option 'rolls'"):
        MongoSession(app, store=store)
    app.config["MONGOSESSION_OPTIONS"] = {"unset": "drop"}
    with pytest.raises(ConfigurationError, match="unset"):
        MongoSession(app, store=store)
    with pytest.raises(TypeError, match="AsyncMongoStore") as refused:
        MongoSessionInterface(MongoStore(uri=test_uri), secret=SECRET)  # type: ignore[arg-type]
    assert isinstance(refused.value, ConfigurationError)


def test_get_session_is_the_session_behind_quart_session(test_uri: str) -> None:
    seen: list[object] = []

    def build(store: AsyncMongoStore) -> Quart:
        app = quart_app(store)

        @app.get("/typed")
        async def typed() -> str:
            current = get_session()
            seen.append(current)
            current["n"] = 41
            await current.regenerate()  # typed: a coroutine returning None
            return str(session["n"])

        return app

    async def script(app: Quart, client: QuartClient) -> list[str]:
        texts = [await (await client.get(path)).get_data(as_text=True) for path in ("/typed", "/")]
        quarts_own = Quart(__name__)
        quarts_own.secret_key = SECRET
        async with quarts_own.test_request_context("/"):
            with pytest.raises(RuntimeError, match="mongosession"):
                get_session()
        return texts

    assert with_app(test_uri, script, build=build) == ["41", "42"]
    assert type(seen[0]) is QuartSession


def test_an_unloadable_session_is_a_503_on_first_use_only() -> None:
    dead = f"mongodb://127.0.0.1:{free_port()}/app"

    def build(store: AsyncMongoStore) -> Quart:
        app = quart_app(store)

        @app.get("/typed")
        async def typed() -> str:
            return str(get_session().get("n"))

        return app

    async def script(app: Quart, client: QuartClient) -> list[tuple[int, str | None]]:
        cookie = {"Cookie": f"session={encode_component(sign('a1b2c3d4e5f6g7h8', SECRET))}"}
        replies = []
        for path in ("/static", "/whoami", "/typed"):
            response = await client.get(path, headers=cookie)
            replies.append((response.status_code, response.headers.get("Cache-Control")))
        return replies

    replies = with_app(dead, script, build=build, timeout=0.3)
    assert replies == [(200, None), (503, "no-store"), (503, "no-store")]


def test_the_interface_can_be_set_by_hand(test_uri: str) -> None:
    def build(store: AsyncMongoStore) -> Quart:
        app = Quart(__name__)
        app.session_interface = MongoSessionInterface(store, secret=SECRET, name="sid")  # type: ignore[assignment]

        @app.get("/")
        async def count() -> str:
            session["n"] = session.get("n", 0) + 1
            return str(session["n"])

        return app

    async def script(app: Quart, client: QuartClient) -> list[str]:
        texts = [await (await client.get("/")).get_data(as_text=True) for _ in range(2)]
        assert any(cookie.name == "sid" for cookie in client.cookie_jar or ())
        return texts

    assert with_app(test_uri, script, build=build) == ["1", "2"]


def test_a_secure_cookie_goes_out_over_https_or_a_trusted_proxy(test_uri: str) -> None:
    def build(store: AsyncMongoStore) -> Quart:
        app = Quart(__name__)
        app.config.update(SECRET_KEY=SECRET, SESSION_COOKIE_SECURE=True)
        MongoSession(app, store=store, proxy=True)

        @app.get("/")
        async def count() -> str:
            session["n"] = 1
            return "ok"

        return app

    async def script(app: Quart, client: QuartClient) -> None:
        client.cookie_jar = None
        assert "Set-Cookie" not in (await client.get("/")).headers  # plain http
        proxied = await client.get("/", headers={"X-Forwarded-Proto": "https"})
        direct = await client.get("/", scheme="https")
        assert "Secure" in proxied.headers["Set-Cookie"]
        assert "Secure" in direct.headers["Set-Cookie"]

    with_app(test_uri, script, build=build)


def test_a_views_own_save_refused_by_the_store_answers_403_or_409(test_uri: str) -> None:
    # The store's refusal of an explicit session.save() answers as the final save
    # would (403 over the session limit, 409 for a same-key concurrent change),
    # not as an unhandled exception (500).
    other = MongoStore(uri=test_uri)
    sids: list[str] = []

    def build(store: AsyncMongoStore) -> Quart:
        app = quart_app(store)

        @app.post("/login-now")
        async def login_now() -> str:
            session["user"] = "alice"
            await get_session().save()
            return "saved"

        @app.post("/bump-racing")
        async def bump_racing() -> str:
            # Another request changes the same key between this one's load and save.
            sid = get_session().id
            sids.append(sid)
            await asyncio.to_thread(other.set, sid, {**(other.get(sid) or {}), "n": 100})
            session["n"] = 1
            await get_session().save()
            return "saved"

        return app

    async def script(app: Quart, client: QuartClient) -> None:
        second = app.test_client()
        assert (await client.post("/login-now")).status_code == 200
        refused = await second.post("/login-now")
        assert refused.status_code == 403
        assert "Set-Cookie" not in refused.headers
        async with client.session_transaction() as current:
            current["n"] = 0
        conflict = await client.post("/bump-racing")
        assert conflict.status_code == 409
        assert "Set-Cookie" not in conflict.headers

    with_app(
        test_uri,
        script,
        build=build,
        user_key="user",
        max_sessions_per_user=1,
        on_session_limit="refuse",
    )
    assert (other.get(sids[0]) or {}).get("n") == 100  # the other writer's value stands
    other.close()


def test_a_websocket_reads_the_session(test_uri: str) -> None:
    def build(store: AsyncMongoStore) -> Quart:
        app = quart_app(store)

        @app.websocket("/ws")
        async def socket() -> None:
            await websocket.send(str(session.get("user", "anonymous")))

        return app

    async def script(app: Quart, client: QuartClient) -> str:
        await client.post("/login?user=alice")
        async with client.websocket("/ws") as ws:
            return str(await ws.receive())

    assert with_app(test_uri, script, build=build) == "alice"


def test_unavailable_session_is_a_503_with_no_store() -> None:
    error = SessionUnavailable()
    assert error.code == 503
    assert ("Cache-Control", "no-store") in error.get_headers()


# -- the example ---------------------------------------------------------------------------


def test_the_example_under_hypercorn(test_uri: str, tmp_path: Path) -> None:
    command = python("examples/quart_app.py", "--port", "{port}")
    with serving(command, mongodb_uri=test_uri, log=tmp_path / "hypercorn.log") as url:
        tour_the_example(url, "session")


@pytest.mark.skipif(
    bool(os.environ.get("MONGODB_URI")),
    reason="the example's own MongoDB needs the local server (MONGODB_URI is set)",
)
def test_the_example_removes_its_throwaway_mongodb_at_exit(tmp_path: Path) -> None:
    log = tmp_path / "quart.log"
    command = python("examples/quart_app.py", "--port", "{port}")
    with serving(command, mongodb_uri=None, log=log, timeout=60) as url:
        folder = throwaway_folder(log)
        tour_the_example(url, "session")
    assert gone(folder), f"{folder} was left behind"


# -- types ---------------------------------------------------------------------------------

USER_CODE = """
from quart import Quart, session
from typing_extensions import reveal_type

from mongosession import AsyncMongoStore
from mongosession.quart import MongoSession, MongoSessionInterface, get_session

app = Quart(__name__)
MongoSession(app, store=AsyncMongoStore(uri="mongodb://localhost:27017/app"), rolling=True)


@app.post("/login")
async def login() -> str:
    current = get_session()
    reveal_type(current)  # QuartSession
    reveal_type(await current.regenerate())  # None
    reveal_type(await current.reload())  # bool
    reveal_type(await current.save())  # bool
    reveal_type(current.permanent)  # bool
    session["user"] = "alice"
    return "welcome"


MongoSession(app, rolls=True)  # error
MongoSessionInterface(AsyncMongoStore(uri="mongodb://localhost:27017/app"), max_age="1h")  # error
"""


def test_the_public_surface_type_checks_strictly(tmp_path: Path) -> None:
    path = tmp_path / "quart_user_code.py"
    path.write_text(USER_CODE)
    status, output = mypy(path)
    assert status == 1, output
    revealed = {int(m["line"]): unqualified(m["type"]) for o in output if (m := REVEALED.match(o))}
    assert revealed == expected_reveals(path), output
    failing = {int(m["line"]) for line in output if (m := ERROR.match(line))}
    marked = {n for n, line in enumerate(USER_CODE.splitlines(), 1) if line.endswith("# error")}
    assert failing == marked, output
