"""Security guarantees end to end, through the ASGI middleware.

RELIABILITY.md requirements 1, 4, 6, 8, 10 and 19, catalog lines 5, 7, 8 and 9 (the
store-level tests of the same lines are in tests/integration/test_store*.py; docs/reliability.md
maps each line to its tests).
"""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import pickle
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

import pytest

from mongosession import AsyncMongoStore, _clock, _ids
from mongosession._ids import sid_digest
from tests.support.asgi import Browser, call, reliability_app, signed_cookie
from tests.support.monitoring import CommandLog

Body = Callable[[AsyncMongoStore, Any], Awaitable[None]]


def run(
    test_uri: str, body: Body, *, middleware: dict[str, Any] | None = None, **options: Any
) -> None:
    """``body(store, app)`` on a fresh event loop, the store on this test's database."""

    async def main() -> None:
        async with AsyncMongoStore(uri=test_uri, **options) as store:
            await body(store, reliability_app(store, **(middleware or {})))

    asyncio.run(main())


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[datetime]:
    """The library's clock, frozen; move it with ``clock[0] += timedelta(...)``."""
    moment = [_clock.now()]
    monkeypatch.setattr(_clock, "now", lambda: moment[0])
    return moment


# -- requirement 1: ids ------------------------------------------------------------------------


def test_session_ids_are_192_random_bits_from_secrets_with_no_user_data(
    test_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    drawn: list[str] = []
    token_urlsafe = _ids.secrets.token_urlsafe

    def spy(nbytes: int) -> str:
        token = token_urlsafe(nbytes)
        drawn.append(token)
        return token

    monkeypatch.setattr(_ids.secrets, "token_urlsafe", spy)

    async def body(store: AsyncMongoStore, app: Any) -> None:
        browser = Browser(app)
        await browser.login("alice@example.com")
        sid = browser.sid
        assert sid in drawn  # the id is exactly what the CSPRNG produced
        assert len(base64.urlsafe_b64decode(sid + "=" * (-len(sid) % 4))) == 24  # 192 bits
        assert "alice" not in sid

    run(test_uri, body)


# -- requirement 3: regenerate ----------------------------------------------------------------


@pytest.mark.parametrize("keep_data", [True, False])
def test_regenerate_issues_a_new_id_deletes_the_old_and_keeps_or_drops_the_data(
    test_uri: str, db: Any, keep_data: bool
) -> None:
    async def body(store: AsyncMongoStore, app: Any) -> None:
        browser = Browser(app)
        await browser.get("/cart")
        old_sid, old_cookie = browser.sid, browser.cookie
        await browser.post(f"/{'login' if keep_data else 'login-fresh'}?user=alice")
        assert browser.sid != old_sid
        assert db.sessions.count_documents({"_id": old_sid}) == 0
        data = (await browser.get("/peek")).json()
        assert data == ({"cart": [0], "user": "alice"} if keep_data else {"user": "alice"})
        assert (await Browser(app, old_cookie).get("/whoami")).text == "anonymous"

    run(test_uri, body)


# -- requirement 8: where the id comes from -----------------------------------------------------


def test_the_id_is_read_from_the_cookie_only_never_the_url_or_the_body(test_uri: str) -> None:
    async def body(store: AsyncMongoStore, app: Any) -> None:
        alice = Browser(app)
        await alice.login("alice")
        value = alice.cookie
        assert value is not None
        for target, payload in [
            (f"/form?connect.sid={value}", b""),
            (f"/form?sid={alice.sid}&session={alice.sid}", b""),
            ("/form", f"connect.sid={value}&sid={alice.sid}".encode()),
        ]:
            reply = await call(
                app,
                "POST",
                target,
                body=payload,
                headers=[(b"content-type", b"application/x-www-form-urlencoded")],
            )
            assert reply.text == "anonymous", target
        assert (await alice.post("/form")).text == "alice"  # the cookie itself works

    run(test_uri, body)


def test_in_header_mode_the_cookie_is_ignored(test_uri: str) -> None:
    async def body(store: AsyncMongoStore, app: Any) -> None:
        reply = await call(app, "POST", "/login?user=alice")
        token = reply.header("x-session-id")
        assert token is not None
        by_header = await call(app, "GET", "/whoami", headers=[(b"x-session-id", token.encode())])
        assert by_header.text == "alice"
        cookie = f"connect.sid={signed_cookie(token[2:].rsplit('.', 1)[0])}".encode()
        by_cookie = await call(app, "GET", "/whoami", headers=[(b"cookie", cookie)])
        assert by_cookie.text == "anonymous"

    run(test_uri, body, middleware={"header": "X-Session-Id"})


# -- requirement 10: logs ------------------------------------------------------------------------


def test_logs_name_a_session_only_by_a_hash_of_its_id(
    test_uri: str, db: Any, caplog: pytest.LogCaptureFixture
) -> None:
    failing: list[str] = []

    async def body(store: AsyncMongoStore, app: Any) -> None:
        store.on("set", lambda sid: failing.append(sid) or 1 / 0)  # a listener that raises
        alice = Browser(app)
        await alice.login("alice")
        sid = alice.sid
        db.sessions.update_one({"_id": sid}, {"$set": {"session": "corrupt {"}})
        assert (await alice.get("/whoami")).text == "anonymous"  # rejected, logged
        await store.flag_deletion(sid)
        await store.set(sid, {"cookie": {}})  # refuses to re-create a flagged session
        assert failing
        assert sid in failing

    with caplog.at_level(logging.DEBUG, logger="mongosession"):
        run(test_uri, body, delete_flags=True)
    sid = failing[0]
    messages = [r.getMessage() for r in caplog.records]
    assert any("rejected stored session" in m for m in messages)
    assert any(sid_digest(sid) in m for m in messages)
    assert not any(sid in m for m in messages)
    assert not any(sid in str(r.args) for r in caplog.records)


# -- catalog 5: stored payloads that are not ours ---------------------------------------------------


class Payload:
    """A pickle that would create a file if anything unpickled it."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("codec", ["json", "bson"])
def test_a_foreign_payload_behind_a_valid_cookie_runs_nothing_and_starts_afresh(
    test_uri: str, db: Any, tmp_path: Any, caplog: pytest.LogCaptureFixture, codec: str
) -> None:
    marker = tmp_path / "executed"
    sid = "planted-session-id-0000000000000"
    db.sessions.insert_one(
        {
            "_id": sid,
            "session": pickle.dumps(Payload(str(marker))),
            "expires": _clock.after(_clock.now(), 600),
        }
    )

    async def body(store: AsyncMongoStore, app: Any) -> None:
        browser = Browser(app, signed_cookie(sid))
        assert (await browser.get("/whoami")).text == "anonymous"
        assert (await browser.get("/")).text == "1"
        assert browser.sid != sid  # a new session, not a rewrite of the planted one

    with caplog.at_level(logging.WARNING, logger="mongosession"):
        run(test_uri, body, codec=codec)
    assert not marker.exists()
    assert "rejected stored session" in caplog.text
    assert db.sessions.find_one({"_id": sid})["session"] == pickle.dumps(Payload(str(marker)))


# -- requirement 4, catalog 7 and 8: timeouts on the server side --------------------------------


def test_an_idle_session_is_refused_before_the_ttl_monitor_removes_it(
    test_uri: str, db: Any, clock: list[datetime]
) -> None:
    async def body(store: AsyncMongoStore, app: Any) -> None:
        alice = Browser(app)
        await alice.login("alice")
        clock[0] += timedelta(seconds=599)
        assert (await alice.get("/whoami")).text == "alice"  # activity moves the deadline
        clock[0] += timedelta(seconds=599)
        assert (await alice.get("/whoami")).text == "alice"
        clock[0] += timedelta(seconds=601)  # idle past the deadline
        assert (await alice.get("/whoami")).text == "anonymous"
        assert db.sessions.count_documents({"_id": alice.sid}) == 1  # still in the database

    run(test_uri, body, ttl=600)


def test_touching_every_minute_never_outlives_the_absolute_lifetime(
    test_uri: str, clock: list[datetime]
) -> None:
    start = clock[0]

    async def body(store: AsyncMongoStore, app: Any) -> None:
        alice = Browser(app)
        await alice.login("alice")
        answers = {}
        for minute in range(1, 66):
            clock[0] = start + timedelta(minutes=minute)
            answers[minute] = (await alice.get("/whoami")).text
        assert {answers[m] for m in range(1, 60)} == {"alice"}
        assert {answers[m] for m in range(60, 66)} == {"anonymous"}  # ended on time

    run(test_uri, body, ttl=600, absolute_lifetime=3600)


# -- requirement 6 and catalog 9: revoking a user's sessions -------------------------------------------


def test_revoking_fifty_sessions_of_one_user_leaves_exact_counts_and_dead_cookies(
    test_uri: str,
) -> None:
    async def body(store: AsyncMongoStore, app: Any) -> None:
        browsers = [Browser(app) for _ in range(50)]
        await asyncio.gather(*(b.login("alice") for b in browsers))
        bob = Browser(app)
        await bob.login("bob")
        assert len(await store.sessions_of("alice")) == 50
        current, others = browsers[0], browsers[1:]

        assert await store.destroy_user("alice", keep=current.sid) == 49  # "log out others"
        assert list(await store.sessions_of("alice")) == [current.sid]
        replies = await asyncio.gather(*(b.get("/whoami") for b in others))
        assert {r.text for r in replies} == {"anonymous"}
        assert (await current.get("/whoami")).text == "alice"

        assert await store.destroy_user("alice") == 1  # "log out everywhere"
        assert await store.sessions_of("alice") == {}
        assert (await current.get("/whoami")).text == "anonymous"
        assert (await bob.get("/whoami")).text == "bob"  # another user untouched

    run(test_uri, body, user_key="user")


# -- requirement 19: indexes made beforehand -------------------------------------------------------------


def test_the_store_works_on_indexes_made_beforehand_without_making_any(
    test_uri: str, command_log: CommandLog
) -> None:
    from pymongo import AsyncMongoClient

    async def main() -> None:
        async with AsyncMongoStore(uri=test_uri, user_key="user") as admin:
            await admin.ensure_indexes()  # what `mongosession ensure-indexes` runs
        for create_indexes in (True, False):
            client: AsyncMongoClient[Any] = AsyncMongoClient(
                test_uri, event_listeners=[command_log]
            )
            store = AsyncMongoStore(client=client, user_key="user", create_indexes=create_indexes)
            try:
                command_log.clear()
                alice = Browser(reliability_app(store))
                await alice.login("alice")
                assert (await alice.get("/whoami")).text == "alice"
                assert command_log.count("createIndexes") == 0
            finally:
                await client.close()

    asyncio.run(main())
