"""Hostile and unknown session ids, sent straight into the ASGI app in bulk.

RELIABILITY.md requirement 2, catalog lines 2 and 3: an id the server did not issue
is never adopted (10,000 of them: no document created under any of them, every
response gets a fresh id), and malformed cookie values (CR/LF, NUL, ``;``, non-ASCII,
8 KB...) are no session, cost zero database commands and are never echoed back.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from mongosession import AsyncMongoStore, generate_sid
from mongosession.asgi import SessionMiddleware
from tests.support.asgi import COOKIE, SECRET, call, reliability_app, sid_of, signed_cookie
from tests.support.monitoring import CommandLog

UNKNOWN = 10_000
BATCH = 50


async def bare_app(scope: Any, receive: Any, send: Any) -> None:
    """The thinnest handler: answers the session id; ``/write`` also changes the session.

    Starlette's routing would double the cost of 10,000 requests and test nothing here.
    """
    session = scope["session"]
    if scope["path"] == "/write":
        session["n"] = 1
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": session.id.encode()})


def batches(items: list[str], size: int = BATCH) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


@pytest.mark.slow
def test_ten_thousand_unknown_ids_create_nothing_and_each_gets_a_fresh_id(
    test_uri: str, db: Any
) -> None:
    presented = [generate_sid() for _ in range(UNKNOWN)]

    async def main() -> None:
        async with AsyncMongoStore(uri=test_uri) as store:
            app = SessionMiddleware(bare_app, store=store, secret=SECRET)
            seen: list[str] = []
            for batch in batches(presented):
                replies = await asyncio.gather(
                    *(
                        call(app, "GET", "/", headers=[cookie_header(signed_cookie(sid))])
                        for sid in batch
                    )
                )
                for sid, reply in zip(batch, replies, strict=True):
                    assert reply.status == 200
                    assert reply.text != sid  # the handler saw a fresh session
                    assert reply.set_cookie is None  # unmodified: nothing to send
                    seen.append(reply.text)
            assert len(set(seen)) == UNKNOWN
            assert db.sessions.count_documents({}) == 0  # not one document created

            # The same with a handler that writes: each gets a new id, never its own.
            sample = presented[:200]
            replies = await asyncio.gather(
                *(
                    call(app, "GET", "/write", headers=[cookie_header(signed_cookie(s))])
                    for s in sample
                )
            )
            fresh = {sid_of(r.cookie_value or "") for r in replies}
            assert len(fresh) == len(sample)
            assert not fresh & set(sample)
            assert db.sessions.count_documents({"_id": {"$in": sample}}) == 0
            assert db.sessions.count_documents({}) == len(sample)

    asyncio.run(main())


def cookie_header(value: str | bytes) -> tuple[bytes, bytes]:
    raw = value if isinstance(value, bytes) else value.encode()
    return (b"cookie", COOKIE.encode() + b"=" + raw)


HOSTILE: dict[str, bytes] = {
    "empty": b"",
    "whitespace": b"   ",
    "one character": b"x",
    "CR/LF": b"s:abc\r\nSet-Cookie: admin=1",
    "encoded CR/LF": b"s%3Aabc%0D%0ASet-Cookie%3A%20admin%3D1",
    "semicolon": b";;;",
    "NUL": b"s:ab\x00c.sig",
    "non-ASCII": "s:ééé.ß".encode(),
    "invalid UTF-8": b"s:\xff\xfe.\xc3",
    "8 KB": b"s:" + b"A" * 8192,
    "operator": b'{"$ne":null}',
    "unsigned id": generate_sid().encode(),
    "bad signature": f"s:{generate_sid()}.AAAA".encode(),
    # Correctly signed, but not an id: the signature alone must not let it through.
    "signed CR/LF": signed_cookie("abc\r\nSet-Cookie: admin=1").encode(),
    "signed spaces": signed_cookie("a b c").encode(),
    "signed 8 KB": signed_cookie("A" * 8192).encode(),
}


@pytest.fixture
def hostile_app(test_uri: str, command_log: CommandLog) -> Iterator[Any]:
    """``(app, loop)``: the reliability app over a store whose commands are logged."""
    loop = asyncio.new_event_loop()
    client: AsyncMongoClient[Any] = AsyncMongoClient(test_uri, event_listeners=[command_log])
    store = AsyncMongoStore(client=client)
    loop.run_until_complete(store.prepare())  # indexes now, not during the test
    try:
        yield reliability_app(store), loop
    finally:
        loop.run_until_complete(client.close())
        loop.close()


@pytest.mark.parametrize("value", list(HOSTILE.values()), ids=list(HOSTILE))
def test_a_hostile_cookie_value_is_no_session_costs_nothing_and_is_never_echoed(
    hostile_app: Any, command_log: CommandLog, db: Any, value: bytes
) -> None:
    app, loop = hostile_app
    command_log.clear()
    reply = loop.run_until_complete(call(app, "GET", "/peek", headers=[cookie_header(value)]))
    assert reply.status == 200
    assert reply.json() == {}  # no session data
    assert reply.set_cookie is None
    assert command_log.count() == 0  # not even a find

    # A handler that writes: a new session with a fresh id, nothing of the value in it.
    reply = loop.run_until_complete(call(app, "GET", "/", headers=[cookie_header(value)]))
    assert reply.status == 200
    assert reply.text == "1"
    assert command_log.names() == ["insert"]
    header = reply.set_cookie or ""
    new_value = reply.cookie_value or ""
    sid = sid_of(new_value)
    assert len(sid) == 32
    assert sid.encode() not in value
    assert header.count("\r") == header.count("\n") == 0
    if len(value) > 3:  # long enough that finding it would not be a coincidence
        assert value.decode("latin-1") not in header
        assert value.decode("latin-1") not in reply.text
    assert db.sessions.count_documents({}) == 1


def test_a_signed_value_with_another_secret_is_no_session(hostile_app: Any, db: Any) -> None:
    app, loop = hostile_app
    db.sessions.insert_one({"_id": "known-session-id", "session": '{"user":"alice"}'})
    for secret in ("not the secret", SECRET + " ", SECRET.upper()):
        forged = signed_cookie("known-session-id", secret)
        reply = loop.run_until_complete(
            call(app, "GET", "/whoami", headers=[cookie_header(forged)])
        )
        assert reply.text == "anonymous"
    genuine = signed_cookie("known-session-id")
    reply = loop.run_until_complete(call(app, "GET", "/whoami", headers=[cookie_header(genuine)]))
    assert reply.text == "alice"
