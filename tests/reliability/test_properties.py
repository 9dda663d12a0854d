"""Property-based tests (hypothesis): cookies, codecs and the decision table.

RELIABILITY.md catalog line 4 and requirement 17, and the per-request decision table
checked against an independent statement of express-session's rules (its
``index.js``: ``shouldSave``, ``shouldTouch``, ``shouldSetCookie``, ``shouldDestroy``,
``isModified``, ``isSaved``), plus mongosession's documented departures from it.

Example counts are kept modest so the suite stays fast; raise them with
``--hypothesis-profile=thorough`` (registered below) when hunting.
"""

from __future__ import annotations

import asyncio
import itertools
import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import bson
import pytest
from bson import ObjectId
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pymongo import AsyncMongoClient

from mongosession import AsyncMongoStore, BsonCodec, JsonCodec, StoredSession, _clock
from mongosession._ids import check_sid
from mongosession.web.asynchronous.exchange import AsyncExchange
from mongosession.web.config import SessionConfig, SessionCookie
from mongosession.web.cookies import (
    decode_component,
    encode_component,
    read_cookie,
    set_cookie_header,
    sign,
    signature,
    unsign,
)
from mongosession.web.rules import Plan, RequestState
from tests._stores import StoreKit
from tests.reliability._asgi import COOKIE, SECRET, call, reliability_app, signed_cookie

settings.register_profile("thorough", max_examples=2000, deadline=None)
FAST = settings(max_examples=100, deadline=None)
WITH_DB = settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

ID_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-.~+/=:@!"
ids = st.text(ID_ALPHABET, min_size=1, max_size=64)
secrets_ = st.lists(st.text(min_size=1, max_size=20), min_size=1, max_size=3)
no_surrogates = st.characters(blacklist_categories=("Cs",))
any_text = st.text(no_surrogates, max_size=40)


# -- cookies: parsing and signing --------------------------------------------------------------


@FAST
@given(sid=ids, secrets=secrets_, signer=st.integers(0, 2))
def test_a_value_signed_with_any_listed_secret_unsigns_to_its_id(
    sid: str, secrets: list[str], signer: int
) -> None:
    secret = secrets[signer % len(secrets)]
    assert unsign(sign(sid, secret), secrets) == sid


@FAST
@given(value=st.text(max_size=200), secrets=secrets_)
def test_unsign_accepts_only_values_some_secret_signed(value: str, secrets: list[str]) -> None:
    sid = unsign(value, secrets)
    if sid is not None:
        assert any(value == f"s:{sid}.{signature(sid, s)}" for s in secrets)


@FAST
@given(sid=ids, data=st.data())
def test_a_tampered_signed_value_never_unsigns(sid: str, data: st.DataObject) -> None:
    value = sign(sid, SECRET)
    index = data.draw(st.integers(0, len(value) - 1))
    replacement = data.draw(st.characters(codec="ascii").filter(lambda c: c != value[index]))
    tampered = value[:index] + replacement + value[index + 1 :]
    found = unsign(tampered, [SECRET])
    # Changing a character of the id part can only yield another correctly signed
    # value by forging HMAC-SHA256: the result is None, whatever changed.
    assert found is None


cookie_names = st.text(st.sampled_from("abcdefghijklmnopqrstuvwxyz._-"), min_size=1, max_size=8)


@FAST
@given(
    sid=ids,
    before=st.lists(st.tuples(cookie_names, st.text(max_size=20)), max_size=3),
    after=st.lists(st.tuples(cookie_names, st.text(max_size=20)), max_size=3),
)
def test_the_set_cookie_value_read_back_from_a_cookie_header_is_the_id(
    sid: str, before: list[tuple[str, str]], after: list[tuple[str, str]]
) -> None:
    header = set_cookie_header(COOKIE, sign(sid, SECRET))
    pair = header.split(";", 1)[0]
    others = [f"{n}={encode_component(v)}" for n, v in before if n != COOKIE]
    later = [f"{n}={encode_component(v)}" for n, v in after]
    cookie_header = "; ".join([*others, pair, *later])
    assert read_cookie(cookie_header, COOKIE) == sign(sid, SECRET)
    state = RequestState(SessionConfig(secret=SECRET), secure_request=False)
    assert state.presented_sid(cookie_header=cookie_header, header_value=None) == sid


@FAST
@given(header=st.text(max_size=300))
def test_any_cookie_header_yields_no_id_or_a_verified_well_formed_one(header: str) -> None:
    state = RequestState(SessionConfig(secret=SECRET), secure_request=False)
    sid = state.presented_sid(cookie_header=header, header_value=None)
    if sid is not None:
        assert check_sid(sid) == sid
        raw = read_cookie(header, COOKIE)
        assert raw is not None
        assert unsign(raw, [SECRET]) == sid


@FAST
@given(value=st.text(max_size=100))
def test_decode_component_inverts_encode_component(value: str) -> None:
    assert decode_component(encode_component(value)) == value


# -- catalog 4: fuzzed cookies through the middleware -----------------------------------------------


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


# -- requirement 17: codecs round-trip any value ----------------------------------------------------

HOSTILE_KEYS = st.sampled_from(["$where", "a.b", "_id", "expires", "session", "user", "%2E", "\0"])
keys = st.one_of(HOSTILE_KEYS, any_text)
json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**53), 2**53),
    st.floats(allow_nan=False, allow_infinity=False),
    any_text,
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4),
    max_leaves=12,
)
bson_scalars = st.one_of(
    json_scalars,
    st.integers(-(2**63), 2**63 - 1),
    st.binary(max_size=16),
    st.datetimes(
        min_value=datetime(1900, 1, 1),
        max_value=datetime(2200, 1, 1),
        timezones=st.just(timezone.utc),
    ).map(lambda t: t.replace(microsecond=t.microsecond // 1000 * 1000)),
    st.builds(ObjectId),
)
bson_values = st.recursive(
    bson_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4),
    max_leaves=12,
)


def sessions_of(values: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    """Session dicts: hostile top-level keys, never ``cookie`` (the store's own)."""
    return st.dictionaries(keys.filter(lambda k: k != "cookie"), values, max_size=6)


def through_mongodb(value: Any) -> Any:
    """What MongoDB hands back for a stored value (a BSON round trip)."""
    return bson.decode(bson.encode({"v": value}), bson.CodecOptions(tz_aware=True))["v"]


def same(a: Any, b: Any) -> bool:
    """Equality that also tells 0.0 from -0.0 apart only where JSON does not."""
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    return bool(a == b)


@FAST
@given(data=sessions_of(json_values))
def test_the_json_codec_round_trips_any_json_value(data: dict[str, Any]) -> None:
    codec = JsonCodec()
    assert codec.decode(through_mongodb(codec.encode(data))) == data


@FAST
@given(data=sessions_of(bson_values))
def test_the_bson_codec_round_trips_any_bson_value(data: dict[str, Any]) -> None:
    codec = BsonCodec()
    stored = through_mongodb(codec.encode(data))
    assert all("." not in k and not k.startswith("$") and "\0" not in k for k in stored)
    assert codec.decode(stored) == data


@pytest.fixture
def codec_store(kit: StoreKit, codec: str) -> Any:
    """One store per test (both flavours), shared by its examples."""
    return kit.store(codec=codec)


@WITH_DB
@pytest.mark.parametrize("codec", ["json", "bson"])
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


# -- the decision table ---------------------------------------------------------------------------

ACTIONS_WITHOUT_IO = ["none", "read", "modify", "rewrite_same", "touch", "set_max_age", "unset"]
ACTIONS_WITH_IO = [*ACTIONS_WITHOUT_IO, "regenerate", "regenerate_keep", "destroy"]


@dataclass(frozen=True)
class Case:
    resave: bool
    save_uninitialized: bool
    rolling: bool
    unset: str
    max_age: bool
    secure: bool
    https: bool
    presented: str  # "none" | "forged" | "unknown" | "stored"
    action: str


@dataclass(frozen=True)
class Outcome:
    save: str | None  # "create" | "update" | None
    touch: bool
    ends_stored: bool  # the presented, stored session is deleted
    set_cookie: bool
    clear_cookie: bool


def cases(actions: list[str]) -> st.SearchStrategy[Case]:
    return st.builds(
        Case,
        resave=st.booleans(),
        save_uninitialized=st.booleans(),
        rolling=st.booleans(),
        unset=st.sampled_from(["keep", "destroy"]),
        max_age=st.booleans(),
        secure=st.booleans(),
        https=st.booleans(),
        presented=st.sampled_from(["none", "forged", "unknown", "stored"]),
        action=st.sampled_from(actions),
    )


def expected(case: Case) -> Outcome:
    """What express-session 1.18 decides, restated from its source, then our departures.

    The hash is of the session without its cookie; ``savedHash`` is set on load only
    when ``resave`` is off; ``cookieId`` is the id the request presented (undefined
    when unsigned or badly signed).
    """
    loaded = case.presented == "stored"
    cookie_id = "presented" if case.presented in ("unknown", "stored") else None
    session_id = "presented" if loaded else "generated"
    original_id, original_hash = session_id, "loaded"
    saved_hash = "loaded" if loaded and not case.resave else None
    current_hash = "loaded"
    has_session = True
    expires_set = case.max_age
    ends_stored = False
    ended_cookie = False  # mongosession: the presented session ended during the request

    if case.action == "modify":
        current_hash = "modified"
    elif case.action == "set_max_age":
        expires_set = True  # the cookie changes; the hash (without the cookie) does not
    elif case.action == "unset":
        has_session = False
    elif case.action in ("regenerate", "regenerate_keep"):
        # store.destroy(old id), then a new id. Data dropped by express (kept by
        # regenerate_keep, mongosession's default, which stores the new id at once
        # and the old record's end in one store.regenerate): no difference to the
        # table.
        ends_stored = loaded
        ended_cookie = loaded
        session_id = "regenerated"
    elif case.action == "destroy":
        # express: store.destroy, req.session is gone for the rest of the request:
        # nothing is saved and no cookie is set, save_uninitialized or not. The
        # request goes on with a fresh empty session that is stored (and its
        # cookie sent) only if the handler writes to it, which it does not here;
        # mongosession's departure is only the cleared cookie, below.
        return Outcome(
            save=None,
            touch=False,
            ends_stored=loaded,
            set_cookie=False,
            clear_cookie=loaded,
        )

    if not has_session:
        destroys = case.unset == "destroy"
        return Outcome(
            save=None,
            touch=False,
            ends_stored=loaded and destroys,
            set_cookie=False,
            # mongosession's departure: clear the cookie of a session it destroyed.
            clear_cookie=destroys and cookie_id is not None,
        )

    is_modified = original_id != session_id or original_hash != current_hash
    is_saved = original_id == session_id and saved_hash == current_hash
    if not case.save_uninitialized and saved_hash is None and cookie_id != session_id:
        should_save = is_modified
    else:
        should_save = not is_saved
    should_touch = cookie_id == session_id and not should_save
    if cookie_id != session_id:
        set_cookie = case.save_uninitialized or is_modified
    else:
        set_cookie = case.rolling or (expires_set and is_modified)
    if set_cookie and case.secure and not case.https:
        set_cookie = False  # express never sends a Secure cookie over plain http
    save = None
    if should_save:
        save = "update" if loaded and session_id == "presented" else "create"
    return Outcome(
        save=save,
        touch=should_touch,
        ends_stored=ends_stored,
        set_cookie=set_cookie,
        # mongosession's departure: a presented session that ended, with no new
        # cookie to replace it, gets its cookie cleared.
        clear_cookie=ended_cookie and not set_cookie,
    )


def config_of(case: Case) -> SessionConfig:
    return SessionConfig(
        secret=SECRET,
        resave=case.resave,
        save_uninitialized=case.save_uninitialized,
        rolling=case.rolling,
        unset=case.unset,  # type: ignore[arg-type]
        max_age=3600 if case.max_age else None,
        secure=case.secure,
        same_site="lax",
    )


def cookie_header_of(case: Case, sid: str) -> str | None:
    if case.presented == "none":
        return None
    secret = "someone else's secret" if case.presented == "forged" else SECRET
    return f"{COOKIE}={signed_cookie(sid, secret)}"


def stored_session(config: SessionConfig) -> dict[str, Any]:
    return {"cookie": SessionCookie.new(config, _clock.now()).to_json(), "n": 1}


def act(case: Case, session: Any) -> Any:
    """Apply an action without I/O; return what the request's session slot holds."""
    if case.action == "read":
        session.get("n")
    elif case.action == "modify":
        session["n"] = 99
    elif case.action == "rewrite_same":
        session.update(dict(session))
    elif case.action == "touch":
        session.cookie.reset_max_age(_clock.now())
    elif case.action == "set_max_age":
        session.cookie.max_age = 60
    elif case.action == "unset":
        return None
    return session


def outcome_of_plan(case: Case, state: RequestState, plan: Plan, sid: str) -> Outcome:
    save = ("create" if plan.create else "update") if plan.create or plan.update else None
    return Outcome(
        save=save,
        touch=plan.touch,
        ends_stored=case.presented == "stored" and plan.destroy == sid,
        set_cookie=plan.set_cookie,
        clear_cookie=plan.clear_cookie,
    )


def every_case(actions: list[str], **fixed: Any) -> list[Case]:
    """The whole (finite) space of cases, or the part of it where ``fixed`` holds."""
    flags = ("resave", "save_uninitialized", "rolling", "max_age", "secure", "https")
    space = []
    for values in itertools.product([False, True], repeat=len(flags)):
        for unset, presented, action in itertools.product(
            ["keep", "destroy"], ["none", "forged", "unknown", "stored"], actions
        ):
            case = Case(
                **dict(zip(flags, values, strict=True)),
                unset=unset,
                presented=presented,
                action=action,
            )
            if all(getattr(case, k) == v for k, v in fixed.items()):
                space.append(case)
    return space


def planned(case: Case) -> Outcome:
    """RequestState's decision for ``case`` (the exchange's load, done without I/O)."""
    config = config_of(case)
    sid = "presented-session-id"
    state = RequestState(config, secure_request=case.https)
    presented = state.presented_sid(cookie_header=cookie_header_of(case, sid), header_value=None)
    now = _clock.now()
    if case.presented == "stored":
        assert presented == sid
        session = state.loaded_session(sid, StoredSession(stored_session(config)), None, now)
    else:
        session = state.new_session(None, now)
    plan = state.plan(act(case, session), now)
    return outcome_of_plan(case, state, plan, sid)


def test_the_decision_table_follows_express_session_in_every_case() -> None:
    # The space is finite (3,584 cases without I/O): all of it, not a sample.
    space = every_case(ACTIONS_WITHOUT_IO)
    wrong = [(case, planned(case), expected(case)) for case in space]
    wrong = [w for w in wrong if w[1] != w[2]]
    assert not wrong, f"{len(wrong)} of {len(space)} cases differ, first: {wrong[0]}"


@FAST
@given(case=cases(ACTIONS_WITHOUT_IO))
def test_the_decision_table_follows_express_session(case: Case) -> None:
    assert planned(case) == expected(case)


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
        headers = await exchange.commit(current)
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
