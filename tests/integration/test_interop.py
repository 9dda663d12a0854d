"""One login shared by an Express app (express-session + connect-mongo) and a Python app.

The judge is the real Node side: ``tests/interop/app.js`` with the npm packages pinned
by ``tests/interop/package-lock.json``, run by the machine's ``node`` on a loopback
port. The Python side is SessionMiddleware under uvicorn. Both use the test's
database, and one httpx client carries the cookie between them, as a browser would.
Every scenario runs in both directions: ``node-then-python`` (Node writes, Python
reads and changes, Node reads again) and ``python-then-node``.

Skipped, with the reason, when ``node`` or ``tests/interop/node_modules`` is missing;
under CI (``CI`` set) that is a failure instead, so CI never passes without them.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from mongosession import DecryptionError
from mongosession.codecs.node import KrupteinCodec, WebCryptoCodec
from tests.support.interop import (
    App,
    Browser,
    NodeApp,
    PythonApp,
    Shared,
    node_decrypt,
    node_missing,
    sha256_id,
)

pytestmark = pytest.mark.interop

Doc = dict[str, Any]


@pytest.fixture(scope="module", autouse=True)
def _node_side() -> None:
    reason = node_missing()
    if reason is None:
        return
    if os.environ.get("CI"):
        pytest.fail(f"the interop tests must run in CI: {reason}", pytrace=False)
    pytest.skip(reason)


class Sides:
    """Starts apps on this test's database; every app is stopped after the test."""

    def __init__(self, uri: str, log_dir: Path) -> None:
        self.uri = uri
        self.log_dir = log_dir
        self.apps: list[App] = []

    def start(self, side: str, shared: Shared | None = None, **store_options: Any) -> App:
        shared = shared or Shared()
        app: App
        if side == "node":
            assert not store_options, "store options are for the Python side"
            app = NodeApp(self.uri, shared, self.log_dir)
        else:
            app = PythonApp(self.uri, shared, store_options)
        self.apps.append(app)
        return app.start()

    def pair(self, direction: tuple[str, str], shared: Shared | None = None) -> tuple[App, App]:
        """The side that writes first, then the other one, with the same configuration."""
        return self.start(direction[0], shared), self.start(direction[1], shared)

    def stop(self) -> None:
        for app in reversed(self.apps):
            app.stop()


@pytest.fixture
def sides(test_uri: str, tmp_path: Path) -> Iterator[Sides]:
    made = Sides(test_uri, tmp_path)
    try:
        yield made
    finally:
        made.stop()


@pytest.fixture
def browser() -> Iterator[Browser]:
    made = Browser()
    try:
        yield made
    finally:
        made.close()


@pytest.fixture(
    params=[("node", "python"), ("python", "node")],
    ids=["node-then-python", "python-then-node"],
)
def direction(request: pytest.FixtureRequest) -> tuple[str, str]:
    return request.param


def the_doc(db: Any) -> Doc:
    docs = list(db.sessions.find())
    assert len(docs) == 1, docs
    return docs[0]


def first_side_keys(app: App) -> dict[str, Any]:
    """What /login stored that only this side knows about (see tests/support/interop.py)."""
    if app.side == "node":
        return {"passport": {"user": "alice"}}
    return {"prefs": {"theme": "dark"}}


def now() -> datetime:
    return datetime.now(timezone.utc)


def an_hour_in_ms(value: Any) -> bool:
    """``maxAge: 3600000`` as express-session stores it back.

    When express-session restarts a cookie's lifetime it reads the new expiry back
    against the clock, so a millisecond that ticks between the two leaves
    ``originalMaxAge`` at 3599999 (seen here): a few ms under the hour is the same.
    """
    return isinstance(value, int) and 3600 * 1000 - 50 <= value <= 3600 * 1000


# -- the login ------------------------------------------------------------------------


def test_a_login_is_recognised_on_the_other_side_with_the_same_cookie(
    sides: Sides, browser: Browser, direction: tuple[str, str], db: Any
) -> None:
    a, b = sides.pair(direction)
    cookie = browser.login(a)
    sid = the_doc(db)["_id"]
    assert cookie.startswith("s%3A" + sid + ".")

    assert browser.whoami(b) == "alice"
    seen = browser.peek(b)
    assert seen["id"] == sid
    assert seen["session"]["user"] == "alice"
    assert an_hour_in_ms(seen["cookie"]["originalMaxAge"])
    assert seen["cookie"]["httpOnly"] is True
    assert seen["cookie"]["path"] == "/"
    assert seen["cookie"]["sameSite"] == "lax"
    assert browser.cookie == cookie, "reading the session must not re-issue the cookie"


def test_a_change_is_seen_on_the_other_side_and_unknown_keys_survive(
    sides: Sides, browser: Browser, direction: tuple[str, str], db: Any
) -> None:
    a, b = sides.pair(direction)
    browser.login(a)
    before = the_doc(db)
    assert browser.count(a) == 1
    assert browser.count(b) == 2
    assert browser.count(a) == 3
    assert browser.count(b) == 4

    seen = browser.peek(a)["session"]
    assert seen["n"] == 4
    assert seen["user"] == "alice"
    for key, value in first_side_keys(a).items():
        assert seen[key] == value, f"{b.side} lost {key!r}"
    if a.side == "node":  # a Date, written as JSON text: the same text comes back
        assert seen["loginAt"] == browser.peek(b)["session"]["loginAt"]
    after = the_doc(db)
    assert isinstance(after["session"], str)
    assert after["_id"] == before["_id"]


@pytest.mark.parametrize("stringify", [True, False], ids=["stringify", "no-stringify"])
def test_stringify_matches_the_codec_in_both_directions(
    sides: Sides, browser: Browser, direction: tuple[str, str], db: Any, stringify: bool
) -> None:
    shared = Shared(stringify=stringify)
    a, b = sides.pair(direction, shared)
    browser.login(a)
    login_at = the_doc(db)["session"]
    assert browser.count(b) == 1
    assert browser.count(a) == 2
    assert browser.peek(b)["session"]["n"] == 2

    stored = the_doc(db)["session"]
    if stringify:
        assert isinstance(stored, str)
        assert stored.startswith('{"cookie":{"originalMaxAge":')
        assert an_hour_in_ms(json.loads(stored)["cookie"]["originalMaxAge"])
        return
    assert isinstance(stored, dict)
    assert isinstance(stored["cookie"]["expires"], datetime), "cookie.expires is a BSON date"
    assert stored["n"] == 2
    for key, value in first_side_keys(a).items():
        assert stored[key] == value
    if a.side == "node":  # express wrote a Date; Python kept it a BSON date
        assert isinstance(stored["loginAt"], datetime)
        assert stored["loginAt"] == login_at["loginAt"]


# -- expiry: touch and touch_after ----------------------------------------------------


def rewind(db: Any, **fields: timedelta) -> Doc:
    """Move stored dates back, as if that much time had passed; return the new doc."""
    doc = the_doc(db)
    db.sessions.update_one(
        {"_id": doc["_id"]}, {"$set": {k: doc[k] - delta for k, delta in fields.items()}}
    )
    return the_doc(db)


def test_an_unmodified_request_on_either_side_moves_expires(
    sides: Sides, browser: Browser, direction: tuple[str, str], db: Any
) -> None:
    a, b = sides.pair(direction)
    browser.login(a)
    for app in (b, a):
        old = rewind(db, expires=timedelta(minutes=30))
        started = now()
        assert browser.whoami(app) == "alice"
        doc = the_doc(db)
        assert doc["expires"] >= started + timedelta(minutes=59), f"{app.side} did not touch"
        assert doc["session"] == old["session"], f"{app.side}'s touch rewrote the payload"


def test_touch_after_on_both_sides_spares_writes_and_moves_expires_once_due(
    sides: Sides, browser: Browser, direction: tuple[str, str], db: Any
) -> None:
    a, b = sides.pair(direction, Shared(touch_after=3600))
    browser.login(a)
    written = the_doc(db)
    assert isinstance(written["lastModified"], datetime)

    # Inside the window of a's write: b writes nothing.
    assert browser.whoami(b) == "alice"
    assert the_doc(db) == written

    # Two hours later (dates moved back): b touches, and stamps lastModified.
    old = rewind(db, expires=timedelta(minutes=30), lastModified=timedelta(hours=2))
    started = now()
    assert browser.whoami(b) == "alice"
    touched = the_doc(db)
    assert touched["expires"] > old["expires"] + timedelta(minutes=29)
    assert touched["lastModified"] >= started - timedelta(seconds=1)

    # a honours b's lastModified: inside the window again, no write.
    assert browser.whoami(a) == "alice"
    assert the_doc(db) == touched


def test_a_browser_session_cookie_expires_after_ttl_on_both_sides(
    sides: Sides, browser: Browser, direction: tuple[str, str], db: Any
) -> None:
    a, b = sides.pair(direction, Shared(max_age=None, ttl=7200))
    started = now()
    browser.login(a)
    assert browser.peek(b)["cookie"]["expires"] is None
    assert browser.count(b) == 1
    doc = the_doc(db)
    assert started + timedelta(seconds=7199) <= doc["expires"] <= now() + timedelta(seconds=7200)
    assert browser.peek(a)["session"]["n"] == 1


# -- logout -----------------------------------------------------------------------------


def test_a_logout_on_one_side_ends_the_session_on_the_other(
    sides: Sides, browser: Browser, direction: tuple[str, str], db: Any
) -> None:
    a, b = sides.pair(direction)
    cookie = browser.login(a)
    assert browser.whoami(b) == "alice"
    browser.logout(a)
    assert db.sessions.count_documents({}) == 0
    # The old cookie, replayed to the other side, is nobody, and creates nothing.
    assert browser.whoami(b, cookie=cookie) == "anonymous"
    assert browser.whoami(a, cookie=cookie) == "anonymous"
    assert db.sessions.count_documents({}) == 0


# -- connect-mongo options ----------------------------------------------------------------


def test_transform_id_stores_the_same_id_on_both_sides(
    sides: Sides, browser: Browser, direction: tuple[str, str], db: Any
) -> None:
    a, b = sides.pair(direction, Shared(transform_id=True))
    browser.login(a)
    sid = browser.peek(a)["id"]
    assert the_doc(db)["_id"] == sha256_id(sid)
    assert browser.count(b) == 1
    assert browser.count(a) == 2
    assert the_doc(db)["_id"] == sha256_id(sid)


def test_timestamps_are_written_the_same_way_by_both_sides(
    sides: Sides, browser: Browser, direction: tuple[str, str], db: Any
) -> None:
    a, b = sides.pair(direction, Shared(timestamps=True))
    browser.login(a)
    created = the_doc(db)
    assert isinstance(created["createdAt"], datetime)
    assert isinstance(created["updatedAt"], datetime)
    for app in (b, a):
        # A save moves updatedAt and keeps createdAt...
        rewind(db, updatedAt=timedelta(hours=1))
        browser.count(app)
        saved = the_doc(db)
        assert saved["createdAt"] == created["createdAt"], app.side
        assert saved["updatedAt"] >= now() - timedelta(minutes=1), f"{app.side} save"
        # ...and so does a touch (connect-mongo: "every subsequent set/touch").
        rewind(db, updatedAt=timedelta(hours=1))
        browser.whoami(app)
        touched = the_doc(db)
        assert touched["updatedAt"] >= now() - timedelta(minutes=1), f"{app.side} touch"
        assert touched["createdAt"] == created["createdAt"], app.side


def expires_indexes(db: Any) -> list[Doc]:
    return [ix for ix in db.sessions.list_indexes() if dict(ix["key"]) == {"expires": 1}]


def test_the_ttl_index_made_by_either_side_first_suits_the_other(
    sides: Sides, browser: Browser, direction: tuple[str, str], db: Any
) -> None:
    first = sides.start(direction[0])  # makes expires_1 at start-up
    made = expires_indexes(db)
    assert [(ix["name"], ix["expireAfterSeconds"]) for ix in made] == [("expires_1", 0)]

    second = sides.start(direction[1])  # accepts it (or fails to start)
    assert [(ix["name"], ix["expireAfterSeconds"]) for ix in expires_indexes(db)] == [
        ("expires_1", 0)
    ]
    browser.login(second)
    assert browser.whoami(first) == "alice"


# -- secret rotation ------------------------------------------------------------------------


def test_a_cookie_signed_with_an_old_secret_works_on_the_other_side_while_listed(
    sides: Sides, browser: Browser, direction: tuple[str, str]
) -> None:
    old = sides.start(direction[0], Shared(secret=("old secret",)))
    rotated = sides.start(direction[1], Shared(secret=("new secret", "old secret")))

    browser.login(old)
    assert browser.whoami(rotated) == "alice"
    assert browser.count(rotated) == 1

    # The rotated side signs with the new secret, which the old side does not list.
    browser.login(rotated, "bob")
    assert browser.whoami(rotated) == "bob"
    assert browser.whoami(old) == "anonymous"


# -- encrypted sessions ------------------------------------------------------------------------

CIPHERS = pytest.mark.parametrize("kind", ["webcrypto", "kruptein"])


@CIPHERS
def test_an_encrypted_session_is_shared_in_both_directions(
    sides: Sides, browser: Browser, direction: tuple[str, str], db: Any, kind: str
) -> None:
    a, b = sides.pair(direction, Shared(crypto=(kind, "session key")))
    browser.login(a)
    assert browser.whoami(b) == "alice"
    assert browser.count(b) == 1
    assert browser.count(a) == 2
    assert browser.peek(b)["session"]["n"] == 2

    stored = the_doc(db)["session"]
    assert isinstance(stored, str)
    assert "alice" not in stored
    assert not stored.startswith("{")
    codec = WebCryptoCodec("session key") if kind == "webcrypto" else KrupteinCodec("session key")
    decoded = codec.decode(stored)
    assert decoded["n"] == 2
    assert an_hour_in_ms(decoded["cookie"]["originalMaxAge"])


@CIPHERS
def test_a_wrong_key_is_a_clear_error_and_no_session(
    sides: Sides,
    browser: Browser,
    direction: tuple[str, str],
    db: Any,
    kind: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    writer = sides.start(direction[0], Shared(crypto=(kind, "right key")))
    reader = sides.start(direction[1], Shared(crypto=(kind, "wrong key")))
    cookie = browser.login(writer)
    codec = WebCryptoCodec("wrong key") if kind == "webcrypto" else KrupteinCodec("wrong key")
    with pytest.raises(DecryptionError, match="secret"):
        codec.decode(the_doc(db)["session"])

    if reader.side == "python":
        with caplog.at_level(logging.WARNING, logger="mongosession"):
            assert browser.whoami(reader, cookie=cookie) == "anonymous"
        messages = [r.getMessage() for r in caplog.records if r.name == "mongosession"]
        assert any("rejected stored session" in m and "secret" in m for m in messages), messages
    else:
        # connect-mongo passes the decryption failure to express as an error.
        response = browser.request(reader, "GET", "/whoami", cookie=cookie)
        assert response.status_code == 500
    assert browser.whoami(writer) == "alice", "the stored session is left as it was"


def test_python_reads_kruptein_while_moving_to_web_crypto(
    sides: Sides, browser: Browser, db: Any
) -> None:
    legacy = sides.start("node", Shared(crypto=("kruptein", "old key")))
    browser.login(legacy)
    python = sides.start(
        "python",
        Shared(crypto=("webcrypto", "new key")),
        codec=WebCryptoCodec("new key", read_also=[KrupteinCodec("old key")]),
    )
    assert browser.whoami(python) == "alice"
    assert browser.count(python) == 1  # rewritten in the Web Crypto format

    modern = sides.start("node", Shared(crypto=("webcrypto", "new key")))
    assert browser.whoami(modern) == "alice"
    assert browser.peek(modern)["session"]["n"] == 1
    assert WebCryptoCodec("new key").decode(the_doc(db)["session"])["n"] == 1


def test_connect_mongo_decrypts_what_the_codecs_write_with_each_adapter_option() -> None:
    data = {"cookie": {"originalMaxAge": None, "expires": None, "path": "/"}, "user": "zoë"}
    options = {"secret": "squirrel", "encoding": "hex", "ivLength": 16, "salt": "pepper"}
    cases: list[tuple[str, dict[str, Any], Any]] = [
        ("webcrypto", {"secret": "squirrel"}, WebCryptoCodec("squirrel")),
        (
            "webcrypto",
            {"secret": "squirrel", "encoding": "base64url"},
            WebCryptoCodec("squirrel", encoding="base64url"),
        ),
        (
            "webcrypto",
            {**options, "iterations": 1000},
            WebCryptoCodec(
                "squirrel", encoding="hex", iv_length=16, salt="pepper", iterations=1000
            ),
        ),
        ("kruptein", {"secret": "squirrel"}, KrupteinCodec("squirrel")),
        (
            "kruptein",
            {"secret": "squirrel", "encodeas": "hex", "hashing": "sha256"},
            KrupteinCodec("squirrel", encodeas="hex", hashing="sha256"),
        ),
        ("webcrypto", {"secret": "not the secret"}, WebCryptoCodec("squirrel")),
        ("kruptein", {"secret": "not the secret"}, KrupteinCodec("squirrel")),
    ]
    results = node_decrypt(
        [
            {"adapter": adapter, "options": opts, "payload": codec.encode(data)}
            for adapter, opts, codec in cases
        ]
    )
    for (adapter, opts, _), result in zip(cases, results, strict=True):
        if opts["secret"] != "squirrel":
            assert "error" in result, (adapter, opts, result)
            continue
        assert "error" not in result, (adapter, opts, result)
        parsed = json.loads(result["plaintext"])
        if adapter == "kruptein":  # kruptein's plaintext is JSON-encoded twice
            assert isinstance(parsed, str)
            parsed = json.loads(parsed)
        assert parsed == data, (adapter, opts)
