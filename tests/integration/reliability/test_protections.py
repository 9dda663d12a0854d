"""Two protections: session ids hashed at rest, and a limit on sessions per user.

``hash_ids=<key>`` stores HMAC-SHA256(key, id) as ``_id``, so a copy of the database
holds no id a cookie could carry. ``max_sessions_per_user`` caps a user's concurrent
sessions (OWASP ASVS 7.1.2 / v5 7.3), evicting the oldest login or refusing the new
one. Both through the store (both flavours) and through the ASGI middleware.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

import pytest

from mongosession import AsyncMongoStore, SessionLimitReached, _clock
from mongosession._ids import hashed_sid
from tests.support.asgi import Browser, reliability_app, signed_cookie
from tests.support.sessions import OTHER, SID, session
from tests.support.stores import StoreKit

KEY = b"k" * 32
ENCRYPTION_KEY = bytes(range(32))

Body = Callable[[AsyncMongoStore, Any], Awaitable[None]]


def run(test_uri: str, body: Body, **options: Any) -> None:
    """``body(store, app)`` on a fresh event loop, the store on this test's database."""

    async def main() -> None:
        async with AsyncMongoStore(uri=test_uri, **options) as store:
            await body(store, reliability_app(store))

    asyncio.run(main())


# -- hash_ids ---------------------------------------------------------------------------------


def test_hash_ids_stores_a_keyed_hash_of_the_id_and_never_the_id(kit: StoreKit, db: Any) -> None:
    store = kit.store(hash_ids=KEY)
    store.set(SID, session(n=1))
    [doc] = db.sessions.find()
    assert doc["_id"] == hashed_sid(KEY, SID) != SID
    assert SID not in repr(doc)
    assert store.get(SID)["n"] == 1
    assert kit.store(hash_ids=b"another key, 16+ bytes").get(SID) is None  # the key matters
    assert kit.store().get(SID) is None
    assert store.get(doc["_id"]) is None  # the stored _id is no session id


@pytest.mark.parametrize("codec", ["json", "bson"])
def test_hash_ids_works_with_every_other_option(kit: StoreKit, db: Any, codec: str) -> None:
    store = kit.store(
        hash_ids="a passphrase of some length",
        transform_id=lambda hashed: f"app1:{hashed}",
        codec=codec,
        encryption_keys=[ENCRYPTION_KEY],
        user_key="user",
        delete_flags=True,
        touch_after=60,
        absolute_lifetime=3600,
        timestamps=True,
        max_sessions_per_user=5,
    )
    key = b"a passphrase of some length"
    store.set(SID, session(user="alice", n=1))
    store.set(OTHER, session(user="alice", n=1))
    stored_id = f"app1:{hashed_sid(key, SID)}"  # transform_id receives the hash
    assert db.sessions.find_one({"_id": stored_id}) is not None
    loaded = store.get(SID)
    loaded["n"] = 2
    assert store.save(SID, loaded)
    store.touch(SID, loaded)
    assert store.get(SID)["n"] == 2
    assert sorted(store.sessions_of("alice")) == sorted(
        [stored_id, f"app1:{hashed_sid(key, OTHER)}"]
    )
    assert store.destroy_user("alice", keep=SID) == 1  # keep= takes the session id
    assert store.get(OTHER) is None
    assert store.get(SID) is not None
    store.destroy(SID)
    assert store.get(SID) is None
    assert db.sessions.count_documents({"deleted": True}) == 2
    assert store.cleanup() == 2
    assert SID not in repr(list(db.sessions.find()))
    assert OTHER not in repr(list(db.sessions.find()))


def test_a_leaked_database_and_secret_yield_no_usable_cookie(test_uri: str, db: Any) -> None:
    async def body(store: AsyncMongoStore, app: Any) -> None:
        alice = Browser(app)
        await alice.login("alice")
        assert (await alice.get("/")).text == "1"
        leaked = list(db.sessions.find())
        assert len(leaked) == 1
        assert alice.sid not in repr(leaked)
        # The attacker has the database and even the signing secret: each stored _id,
        # signed, is still no session.
        for doc in leaked:
            forged = Browser(app, signed_cookie(doc["_id"]))
            assert (await forged.get("/whoami")).text == "anonymous"
        assert (await alice.get("/whoami")).text == "alice"
        await alice.post("/logout")
        assert db.sessions.count_documents({}) == 0

    run(test_uri, body, hash_ids=KEY, user_key="user")


# -- max_sessions_per_user ----------------------------------------------------------------------


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[datetime]:
    """The library's clock, frozen; logins a second apart have a clear order."""
    moment = [_clock.now()]
    monkeypatch.setattr(_clock, "now", lambda: moment[0])
    return moment


@pytest.mark.parametrize("delete_flags", [False, True], ids=["delete", "delete_flags"])
def test_evict_oldest_keeps_the_newest_logins_of_a_user(
    test_uri: str, db: Any, clock: list[datetime], delete_flags: bool
) -> None:
    async def body(store: AsyncMongoStore, app: Any) -> None:
        bob = Browser(app)
        await bob.login("bob")
        devices = [Browser(app) for _ in range(5)]
        for device in devices:
            clock[0] += timedelta(seconds=1)
            await device.login("alice")
        whoami = [(await d.get("/whoami")).text for d in devices]
        assert whoami == ["anonymous", "anonymous", "alice", "alice", "alice"]
        assert sorted(await store.sessions_of("alice")) == sorted(d.sid for d in devices[2:])
        assert (await bob.get("/whoami")).text == "bob"
        # Requests of a logged-in session do not count as logins, nor evict anything.
        for _ in range(3):
            assert (await devices[2].get("/")).status == 200
        assert len(await store.sessions_of("alice")) == 3
        if delete_flags:
            assert db.sessions.count_documents({"deleted": True}) == 2

    run(
        test_uri,
        body,
        user_key="user",
        max_sessions_per_user=3,
        delete_flags=delete_flags,
    )


def test_refuse_answers_403_to_a_login_over_the_limit(test_uri: str, db: Any) -> None:
    async def body(store: AsyncMongoStore, app: Any) -> None:
        first, second, third = Browser(app), Browser(app), Browser(app)
        await first.login("alice")
        await second.login("alice")
        await third.get("/")  # an anonymous session, with a cart
        anonymous_cookie = third.cookie
        reply = await third.post("/login?user=alice")
        assert reply.status == 403
        assert reply.set_cookie is None
        assert db.sessions.count_documents({"user": "alice"}) == 2
        assert [(await b.get("/whoami")).text for b in (first, second)] == ["alice", "alice"]
        assert third.cookie == anonymous_cookie
        assert (await third.get("/whoami")).text == "anonymous"
        await first.post("/logout")
        await third.login("alice")  # room again
        assert (await third.get("/whoami")).text == "alice"

    run(test_uri, body, user_key="user", max_sessions_per_user=2, on_session_limit="refuse")


def test_a_login_without_regenerate_is_limited_too(kit: StoreKit) -> None:
    # The store enforces the limit whenever a write gives a session its user.
    store = kit.store(user_key="user", max_sessions_per_user=1, on_session_limit="refuse")
    store.set(SID, session(user="alice"))
    store.set(OTHER, session(n=1))
    loaded = store.get(OTHER)
    loaded["user"] = "alice"
    with pytest.raises(SessionLimitReached):
        store.save(OTHER, loaded)
    assert "user" not in store.get(OTHER)
    resaved = store.get(SID)
    resaved["n"] = 2
    assert store.save(SID, resaved)  # alice's own session saves normally


@pytest.mark.parametrize("action", ["evict_oldest", "refuse"])
def test_concurrent_logins_never_leave_more_than_the_limit(
    test_uri: str, db: Any, action: str
) -> None:
    async def body(store: AsyncMongoStore, app: Any) -> None:
        devices = [Browser(app) for _ in range(12)]
        replies = await asyncio.gather(*(d.post("/login?user=alice") for d in devices))
        statuses = [r.status for r in replies]
        live = await store.sessions_of("alice")
        assert len(live) <= 3
        if action == "refuse":
            # Over the limit, racing logins refuse themselves: possibly all of them,
            # never one too few.
            assert set(statuses) <= {200, 403}
            accepted = [d for d, r in zip(devices, replies, strict=True) if r.status == 200]
            assert sorted(d.sid for d in accepted) == sorted(live)  # no 200 without a session
            retry = [d for d, r in zip(devices, replies, strict=True) if r.status == 403]
            for device in retry[: 3 - len(live)]:  # one at a time, there is room again
                assert (await device.post("/login?user=alice")).status == 200
            assert len(await store.sessions_of("alice")) == 3
            assert (await retry[-1].post("/login?user=alice")).status == 403
        else:
            assert statuses == [200] * 12
            assert len(live) == 3  # exactly the newest three survive
            newest = sorted(db.sessions.find({"user": "alice"}), key=lambda d: d["userSince"])
            assert {d["_id"] for d in newest[-3:]} == set(live)

    run(test_uri, body, user_key="user", max_sessions_per_user=3, on_session_limit=action)


def test_the_login_time_is_recorded_only_when_a_user_arrives(test_uri: str, db: Any) -> None:
    async def body(store: AsyncMongoStore, app: Any) -> None:
        alice = Browser(app)
        await alice.get("/")
        assert "userSince" not in db.sessions.find_one()
        await alice.login("alice")
        since = db.sessions.find_one()["userSince"]
        await alice.get("/")
        doc = db.sessions.find_one()
        assert doc["userSince"] == since
        assert json.loads(doc["session"])["n"] == 2

    run(test_uri, body, user_key="user", max_sessions_per_user=2)
