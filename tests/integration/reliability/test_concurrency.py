"""Concurrent requests through the ASGI middleware, on one event loop and one store.

RELIABILITY.md requirements 14 and 15, catalog lines 10, 11 and 12: a slow request
never resurrects a logout or a revoke, parallel changes to different keys are all
kept, parallel increments are exact or surfaced as 409, colliding ids never hand one
client another's session, and concurrent logins (``regenerate``) stay apart.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from mongosession import AsyncMongoStore
from tests.support.asgi import Browser, Reply, reliability_app


def run(test_uri: str, body: Callable[[AsyncMongoStore], Awaitable[None]], **options: Any) -> None:
    """Run ``body(store)`` on a fresh event loop with a store on this test's database."""

    async def main() -> None:
        async with AsyncMongoStore(uri=test_uri, **options) as store:
            await body(store)

    asyncio.run(main())


def payload(doc: dict[str, Any]) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(doc["session"])
    return data


# -- catalog 10: the resurrection race ----------------------------------------------------------


@pytest.mark.parametrize("delete_flags", [False, True], ids=["delete", "delete_flags"])
@pytest.mark.parametrize("ended_by", ["logout", "revoke"])
def test_a_slow_request_saving_after_a_logout_never_resurrects_it(
    test_uri: str, db: Any, delete_flags: bool, ended_by: str
) -> None:
    async def body(store: AsyncMongoStore) -> None:
        app = reliability_app(store)
        alice = Browser(app)
        await alice.login("alice")
        sid, cookie = alice.sid, alice.cookie
        slow = asyncio.create_task(alice.get("/slow"))  # request A: loaded, still running
        await app.state.gate.entered.wait()
        if ended_by == "logout":
            assert (await Browser(app, cookie).post("/logout")).clears_cookie  # request B
        else:
            assert await store.destroy_user("alice") == 1  # "log out everywhere"
        app.state.gate.release.set()
        late: Reply = await slow
        assert late.status == 200
        assert late.text == "alice"
        assert late.clears_cookie  # ...and tells the browser its session is over
        docs = list(db.sessions.find())
        if delete_flags:
            [doc] = docs
            assert doc["deleted"] is True  # still flagged...
            assert "late" not in payload(doc)  # ...and A's change was not written
        else:
            assert docs == []  # not re-created
        replay = Browser(app, cookie)
        assert (await replay.get("/whoami")).text == "anonymous"
        assert (await store.get(sid)) is None

    run(test_uri, body, delete_flags=delete_flags, user_key="user")


# -- catalog 11: parallel changes ----------------------------------------------------------------


def test_parallel_requests_changing_different_keys_keep_every_change(test_uri: str) -> None:
    async def body(store: AsyncMongoStore) -> None:
        app = reliability_app(store)
        alice = Browser(app)
        await alice.login("alice")
        replies = await asyncio.gather(*(alice.get(f"/set?key=k{i}&value={i}") for i in range(25)))
        assert [r.status for r in replies] == [200] * 25  # merged, never a conflict
        data = (await alice.get("/peek")).json()
        assert data == {"user": "alice", **{f"k{i}": str(i) for i in range(25)}}

    run(test_uri, body)


def test_parallel_increments_of_one_key_are_exact_or_surfaced_as_409(test_uri: str) -> None:
    async def body(store: AsyncMongoStore) -> None:
        app = reliability_app(store)
        alice = Browser(app)
        assert (await alice.get("/")).text == "1"
        replies = await asyncio.gather(*(alice.get("/") for _ in range(100)))
        statuses = [r.status for r in replies]
        assert set(statuses) <= {200, 409}
        served = [int(r.text) for r in replies if r.status == 200]
        conflicts = statuses.count(409)
        assert conflicts > 0  # the requests really raced
        assert len(set(served)) == len(served)  # no two requests counted the same visit
        assert (await alice.get("/peek")).json()["n"] == 1 + len(served)  # none lost

    run(test_uri, body)


# -- catalog 12: id collisions --------------------------------------------------------------------


def test_colliding_ids_never_hand_one_client_anothers_session(test_uri: str, db: Any) -> None:
    ids = iter(["first-id", "first-id", "first-id", "second-id", "third-id", "fourth-id"])

    async def body(store: AsyncMongoStore) -> None:
        app = reliability_app(store, genid=lambda: next(ids))
        alice = Browser(app)
        await alice.login("alice")  # regenerate: "first-id" is taken by nobody yet
        assert alice.sid == "first-id"
        # Two new visitors at once, each handed "first-id" by the broken genid.
        visitors = [Browser(app), Browser(app)]
        replies = await asyncio.gather(*(v.get("/") for v in visitors))
        assert [r.text for r in replies] == ["1", "1"]
        assert sorted(v.sid for v in visitors) == ["second-id", "third-id"]
        assert (await alice.get("/whoami")).text == "alice"
        for visitor in visitors:
            assert (await visitor.get("/whoami")).text == "anonymous"
            assert (await visitor.get("/")).text == "2"
        assert db.sessions.count_documents({}) == 3

    run(test_uri, body)


# -- concurrent regenerate -----------------------------------------------------------------------


def test_concurrent_logins_from_one_session_one_wins_the_other_is_told_it_ended(
    test_uri: str, db: Any
) -> None:
    # Issue 11, finding 1: a regenerate() whose old record is no longer live
    # writes nothing. The second of two logins from one cookie finds the record
    # the first one ended: it answers 409 and clears its cookie, and the old
    # data never lives on under a second new id.
    async def body(store: AsyncMongoStore) -> None:
        app = reliability_app(store)
        browser = Browser(app)
        await browser.get("/cart")
        old_sid, old_cookie = browser.sid, browser.cookie
        # The same cookie logs in twice at once (two tabs): both have loaded the
        # session before either regenerates it.
        tabs = [Browser(app, old_cookie), Browser(app, old_cookie)]
        logins = [
            asyncio.create_task(tab.post(f"/slow-login?user={user}"))
            for tab, user in zip(tabs, ["alice", "bob"], strict=True)
        ]
        await app.state.gate.wait_for(2)
        app.state.gate.release.set()
        replies = [await login for login in logins]
        assert sorted(r.status for r in replies) == [200, 409]
        winner, loser = (0, 1) if replies[0].status == 200 else (1, 0)
        assert replies[loser].clears_cookie
        assert (await tabs[winner].get("/whoami")).text == ["alice", "bob"][winner]
        assert (await tabs[winner].get("/peek")).json()["cart"] == [0]
        assert (await Browser(app, old_cookie).get("/whoami")).text == "anonymous"
        assert [d["_id"] for d in db.sessions.find()] == [tabs[winner].sid]
        assert old_sid != tabs[winner].sid

    run(test_uri, body)
