"""Property-based tests (hypothesis) through the middleware and the store.

RELIABILITY.md catalog line 4 (fuzzed cookies through the middleware) and requirement
17 (any value through the store), and the per-request decision table carried out by the
real exchange over a real store, checked against express-session's rules
(tests/support/decisions.py). The same properties without I/O (cookies, codecs, the
table itself) are tests/unit's.

Example counts are kept modest so the suite stays fast; raise them with
``--hypothesis-profile=thorough`` (registered in tests/conftest.py) when hunting.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from bson import ObjectId
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pymongo import AsyncMongoClient

from mongosession import AsyncMongoStore, BsonCodec
from mongosession.web.asynchronous.exchange import AsyncExchange
from tests.support.asgi import COOKIE, call, reliability_app
from tests.support.decisions import (
    ACTIONS_WITH_IO,
    Case,
    Outcome,
    act,
    cases,
    config_of,
    cookie_header_of,
    every_case,
    expected,
    stored_session,
)
from tests.support.stores import StoreKit
from tests.support.strategies import bson_values, json_values, sessions_of

WITH_DB = settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@dataclass
class Site:
    app: Any
    loop: asyncio.AbstractEventLoop
    cookies: dict[str, str]  # user -> genuine cookie value


@pytest.fixture
def site(test_uri: str) -> Iterator[Site]:
    loop = asyncio.new_event_loop()
    client: AsyncMongoClient[Any] = AsyncMongoClient(test_uri)
    store = AsyncMongoStore(client=client)
    app = reliability_app(store)
    cookies = {}
    for user in ("alice", "bob"):
        reply = loop.run_until_complete(call(app, "POST", f"/login?user={user}"))
        cookies[user] = reply.cookie_value or ""
    try:
        yield Site(app, loop, cookies)
    finally:
        loop.run_until_complete(client.close())
        loop.close()


def mutations(genuine: str) -> st.SearchStrategy[str]:
    """A genuine cookie value with one character changed, dropped or added."""
    return st.tuples(
        st.integers(0, len(genuine)),
        st.sampled_from(["replace", "drop", "insert"]),
        st.characters(),
    ).map(
        lambda t: (
            genuine[: t[0]]
            + ("" if t[1] == "drop" else t[2])
            + genuine[t[0] + (0 if t[1] == "insert" else 1) :]
        )
    )


@WITH_DB
@given(data=st.data())
def test_fuzzed_cookies_never_fail_and_never_reach_a_session_they_do_not_name(
    site: Site, db: Any, data: st.DataObject
) -> None:
    genuine = site.cookies
    value = data.draw(
        st.one_of(
            st.text(max_size=100),
            st.binary(max_size=100).map(lambda b: b.decode("latin-1")),
            mutations(genuine["alice"]),
            st.sampled_from(list(genuine.values())),
        )
    )
    count = db.sessions.count_documents({})
    header = f"{COOKIE}={value}".encode("utf-8", "surrogatepass")
    reply = site.loop.run_until_complete(
        call(site.app, "GET", "/whoami", headers=[(b"cookie", header)])
    )
    assert reply.status == 200
    user = reply.text
    if user != "anonymous":
        assert value == genuine[user]  # only the exact cookie of that session
    assert db.sessions.count_documents({}) == count  # reading never creates a session


# -- requirement 17: any value through the store ---------------------------------------------


@pytest.fixture
def codec_store(kit: StoreKit, codec: str) -> Any:
    """One store per test (both flavours), shared by its examples."""
    # Keys with NUL fit only the escaping form of the bson codec (connect-mongo's raw
    # keys, the default: tests/integration/test_store_bson_keys.py).
    return kit.store(codec=BsonCodec(escape_keys=True) if codec == "bson-escaped" else codec)


@WITH_DB
@pytest.mark.parametrize("codec", ["json", "bson-escaped"])
@given(data=st.data())
def test_any_value_survives_insert_then_update_through_the_store(
    codec_store: Any, codec: str, data: st.DataObject
) -> None:
    values = json_values if codec == "json" else bson_values
    first = data.draw(sessions_of(values))
    second = data.draw(sessions_of(values))
    cookie = {"originalMaxAge": None, "expires": None, "httpOnly": True, "path": "/"}
    sid = f"prop-{ObjectId()}"
    codec_store.set(sid, {**first, "cookie": cookie})  # insert
    loaded = codec_store.get(sid)
    assert loaded == {**first, "cookie": cookie}
    loaded.clear()
    loaded.update({**second, "cookie": cookie})
    assert codec_store.save(sid, loaded)  # update
    assert codec_store.get(sid) == {**second, "cookie": cookie}


# -- the decision table, carried out by the exchange ----------------------------------------------


class RecordingStore(AsyncMongoStore):
    """A real store that also notes which of its methods the exchange called."""

    calls: list[str]

    async def create(self, sid: str, session: Any) -> None:
        self.calls.append("create")
        await super().create(sid, session)

    async def save(self, sid: str, session: Any, **kwargs: Any) -> bool:
        self.calls.append("update")
        return await super().save(sid, session, **kwargs)

    async def touch(self, sid: str, session: Any) -> None:
        self.calls.append("touch")
        await super().touch(sid, session)

    async def destroy(self, sid: str) -> bool:
        self.calls.append(f"destroy:{sid}")
        return await super().destroy(sid)

    async def regenerate(self, old_sid: str, new_sid: str, session: Any) -> bool:
        # regenerate() keeping the data: the new record first, then the old one ends.
        self.calls.extend(["create", f"destroy:{old_sid}"])
        return await super().regenerate(old_sid, new_sid, session)


@pytest.fixture
def recording(test_uri: str) -> Iterator[tuple[RecordingStore, asyncio.AbstractEventLoop]]:
    loop = asyncio.new_event_loop()
    store = RecordingStore(uri=test_uri)
    store.calls = []
    loop.run_until_complete(store.prepare())
    try:
        yield store, loop
    finally:
        loop.run_until_complete(store.close())
        loop.close()


def exchanged(store: RecordingStore, loop: asyncio.AbstractEventLoop, case: Case) -> Outcome:
    """What a real AsyncExchange over a real store does for ``case``."""
    config = config_of(case)
    sid = f"case-{ObjectId()}"

    async def request() -> Outcome:
        if case.presented == "stored":
            await AsyncMongoStore.set(store, sid, stored_session(config))
        store.calls = []
        exchange = AsyncExchange(
            store, config, cookie_header=cookie_header_of(case, sid), secure_request=case.https
        )
        session = await exchange.load()
        current: Any = session
        if case.action == "regenerate":
            await session.regenerate(keep_data=False)
        elif case.action == "regenerate_keep":
            await session.regenerate()
        elif case.action == "destroy":
            await session.destroy()
        else:
            current = act(case, session)
        headers, failure = await exchange.commit(current, 200)
        assert failure is None
        cookies = [v for k, v in headers if k == "set-cookie"]
        saves = [c for c in store.calls if c in ("create", "update")]
        assert len(saves) <= 1
        return Outcome(
            save=saves[0] if saves else None,
            touch="touch" in store.calls,
            ends_stored=f"destroy:{sid}" in store.calls and case.presented == "stored",
            set_cookie=any("Expires=Thu, 01 Jan 1970" not in c for c in cookies),
            clear_cookie=any("Expires=Thu, 01 Jan 1970" in c for c in cookies),
        )

    return loop.run_until_complete(request())


@WITH_DB
@given(case=cases(ACTIONS_WITH_IO))
def test_the_exchange_carries_out_express_sessions_decisions(
    recording: tuple[RecordingStore, asyncio.AbstractEventLoop], case: Case
) -> None:
    assert exchanged(*recording, case) == expected(case)


def test_regenerate_and_destroy_follow_express_session_in_every_case_that_matters(
    recording: tuple[RecordingStore, asyncio.AbstractEventLoop],
) -> None:
    # For these actions only save_uninitialized, secure and the request's scheme can
    # change the outcome (the session id changes, so rolling, max_age and resave do
    # not apply); every combination of those, for every presented cookie.
    space = list(
        every_case(
            ["regenerate", "regenerate_keep", "destroy"],
            resave=False,
            rolling=False,
            max_age=False,
            unset="keep",
        )
    )
    assert len(space) == 3 * 4 * 8
    wrong = [(c, exchanged(*recording, c), expected(c)) for c in space]
    wrong = [w for w in wrong if w[1] != w[2]]
    assert not wrong, f"{len(wrong)} of {len(space)} cases differ, first: {wrong[0]}"
