"""The Django session engine: Django's SessionBase contract, beyond the shared suite."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from pymongo import MongoClient

from mongosession import SessionConflict, _clock
from tests.support.adapter_apps import configure_django
from tests.support.monitoring import CommandLog
from tests.support.servers import python, serving, tour_the_example

configure_django()

from django.contrib.sessions.backends.base import CreateError, UpdateError  # noqa: E402
from django.core.exceptions import ImproperlyConfigured  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.test import Client, RequestFactory  # noqa: E402
from django.test.utils import override_settings  # noqa: E402

from mongosession.django import SessionStore, aclose_stores, request_device  # noqa: E402
from mongosession.store.devices import DeviceInfo  # noqa: E402

AGE = 120


@pytest.fixture
def sessions(test_uri: str, command_log: CommandLog) -> Iterator[type[SessionStore]]:
    """SessionStore, with MONGOSESSION on this test's database (commands logged for the sync store)."""
    client: MongoClient[Any] = MongoClient(test_uri, event_listeners=[command_log])
    with override_settings(
        MONGOSESSION={"client": client, "uri": test_uri}, SESSION_COOKIE_AGE=AGE
    ):
        yield SessionStore
    client.close()


def stored(db: Any) -> dict[str, dict[str, Any]]:
    return {d["_id"]: {**d, "session": json.loads(d["session"])} for d in db.sessions.find()}


def test_create_is_one_insert_of_a_connect_mongo_document(
    sessions: type[SessionStore], command_log: CommandLog, db: Any
) -> None:
    session = sessions()
    session["user"] = "bob"
    session.create()
    assert command_log.names().count("insert") == 1
    assert command_log.count("find") == 0  # no exists() round trip for a fresh key
    doc = stored(db)[session.session_key]
    assert doc["session"]["user"] == "bob"
    cookie = doc["session"]["cookie"]
    assert cookie["originalMaxAge"] == AGE * 1000
    assert _clock.parse_js_iso(cookie["expires"]) == doc["expires"]
    assert sessions().exists(session.session_key)


def test_must_create_refuses_a_taken_key(sessions: type[SessionStore]) -> None:
    first = sessions()
    first.create()
    second = sessions(first.session_key)
    with pytest.raises(CreateError):
        second.save(must_create=True)


def test_loading_an_unknown_key_is_empty_and_drops_the_key(
    sessions: type[SessionStore], db: Any
) -> None:
    session = sessions("k" * 32)
    assert session.load() == {}
    assert session.session_key is None
    assert db.sessions.count_documents({}) == 0


@pytest.mark.parametrize(
    "key", ["short", "$where:abcdefgh", '{"$ne": null}xx', "a" * 300, "abc def ghi", "é" * 10]
)
def test_a_malformed_key_never_reaches_the_database(
    sessions: type[SessionStore], command_log: CommandLog, key: str
) -> None:
    session = sessions(key)
    assert session.session_key is None
    assert session.get("user") is None
    assert sessions().exists(key) is False
    sessions().delete(key)
    assert command_log.count() == 0


def test_a_save_after_a_concurrent_delete_raises_update_error_and_stays_gone(
    sessions: type[SessionStore], db: Any
) -> None:
    original = sessions()
    original["n"] = 1
    original.create()
    request = sessions(original.session_key)
    assert request["n"] == 1  # loaded before the logout
    sessions().delete(original.session_key)  # logout elsewhere
    request["n"] = 2
    with pytest.raises(UpdateError):
        request.save()
    assert db.sessions.count_documents({}) == 0


def test_through_the_middleware_that_is_a_400_and_no_resurrection(
    sessions: type[SessionStore], db: Any
) -> None:
    session = sessions()
    session["n"] = 1
    session.create()
    response = Client().get("/race", HTTP_COOKIE=f"sessionid={session.session_key}")
    assert response.status_code == 400  # Django's SessionInterrupted
    assert db.sessions.count_documents({}) == 0


def test_concurrent_changes_to_other_keys_are_merged(sessions: type[SessionStore], db: Any) -> None:
    session = sessions()
    session.create()
    one, two = sessions(session.session_key), sessions(session.session_key)
    assert one.get("x") is None
    assert two.get("y") is None
    one["x"] = 1
    one.save()
    two["y"] = 2
    two.save()
    assert sessions(session.session_key).load() == {"x": 1, "y": 2}


def test_a_same_key_conflict_is_surfaced_not_lost(sessions: type[SessionStore]) -> None:
    session = sessions()
    session["n"] = 0
    session.create()
    one, two = sessions(session.session_key), sessions(session.session_key)
    assert one["n"] == two["n"] == 0
    one["n"] = 1
    one.save()
    two["n"] = 1  # the same increment, made concurrently: one of them would be lost
    with pytest.raises(SessionConflict):
        two.save()


def test_cycle_key_moves_the_data_to_a_new_key(sessions: type[SessionStore], db: Any) -> None:
    session = sessions()
    session["cart"] = ["book"]
    session.create()
    old = session.session_key
    session.cycle_key()
    assert session.session_key not in (None, old)
    assert sessions(old).load() == {}
    assert sessions(session.session_key).load() == {"cart": ["book"]}
    assert list(stored(db)) == [session.session_key]


def test_flush_deletes_the_record_and_forgets_the_key(
    sessions: type[SessionStore], db: Any
) -> None:
    session = sessions()
    session["user"] = "bob"
    session.create()
    session.flush()
    assert session.session_key is None
    assert dict(session.items()) == {}
    assert db.sessions.count_documents({}) == 0


def test_the_document_expires_when_django_says(sessions: type[SessionStore], db: Any) -> None:
    custom = sessions()
    custom.set_expiry(300)
    custom.create()
    doc = stored(db)[custom.session_key]
    assert doc["session"]["cookie"]["originalMaxAge"] == 300 * 1000
    assert abs((doc["expires"] - custom.get_expiry_date()).total_seconds()) < 2

    fixed_at = datetime(2099, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    fixed = sessions()
    fixed.set_expiry(fixed_at)
    fixed.create()
    doc = stored(db)[fixed.session_key]
    assert doc["expires"] == fixed_at
    assert doc["session"]["cookie"]["expires"] == "2099-01-02T03:04:05.000Z"

    closing = sessions()
    closing.set_expiry(0)  # at browser close: the server still keeps it SESSION_COOKIE_AGE
    closing.create()
    doc = stored(db)[closing.session_key]
    assert doc["session"]["cookie"]["originalMaxAge"] is None
    assert AGE - 5 < (doc["expires"] - _clock.now()).total_seconds() <= AGE


def test_clearsessions_deletes_expired_sessions(
    sessions: type[SessionStore], db: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    short, long = sessions(), sessions()
    short.set_expiry(10)
    short.create()
    long.create()
    later = _clock.now() + timedelta(seconds=11)
    monkeypatch.setattr(_clock, "now", lambda: later)
    call_command("clearsessions")
    assert list(stored(db)) == [long.session_key]


def test_the_async_methods_use_the_async_store(
    sessions: type[SessionStore], command_log: CommandLog, db: Any
) -> None:
    async def scenario() -> str:
        try:
            session = sessions()
            await session.aset("user", "dee")
            await session.acreate()
            assert await sessions().aexists(session.session_key)
            again = sessions(session.session_key)
            assert await again.aget("user") == "dee"
            old = again.session_key
            await again.acycle_key()
            assert not await sessions().aexists(old)
            await again.aset("n", 1)
            await again.asave()
            assert await sessions(again.session_key).aload() == {"user": "dee", "n": 1}
            late = sessions(again.session_key)
            assert await late.aget("n") == 1  # loaded before the logout
            await sessions().adelete(again.session_key)
            await late.aset("n", 2)
            try:
                await late.asave()
            except UpdateError:
                pass
            else:
                raise AssertionError("asave resurrected a deleted session")
            await sessions.aclear_expired()
            return str(again.session_key)
        finally:
            await aclose_stores()

    asyncio.run(scenario())
    assert command_log.count() == 0  # the blocking store was never used
    assert db.sessions.count_documents({}) == 0


def test_without_mongosession_settings_the_error_says_what_to_set() -> None:
    with override_settings(MONGOSESSION=None), pytest.raises(ImproperlyConfigured, match="uri"):
        SessionStore("k" * 32).load()


def test_the_example_under_gunicorn_and_clearsessions(
    test_uri: str, db: Any, tmp_path: Path
) -> None:
    command = python(
        "-m",
        "gunicorn",
        "--chdir",
        "examples",
        "--bind",
        "127.0.0.1:{port}",
        "django_app:application",
    )
    with serving(command, mongodb_uri=test_uri, log=tmp_path / "gunicorn.log") as url:
        tour_the_example(url, "sessionid")

    past = datetime.now(timezone.utc) - timedelta(minutes=1)
    future = datetime.now(timezone.utc) + timedelta(hours=1)
    cookie = {"originalMaxAge": 1000, "expires": None, "httpOnly": True, "path": "/"}
    db.sessions.insert_many(
        [
            {"_id": f"{state}" * 4, "session": json.dumps({"cookie": cookie}), "expires": when}
            for state, when in (("expired1", past), ("livelive", future))
        ]
    )
    import subprocess

    subprocess.run(
        python("examples/django_app.py", "clearsessions"),
        cwd=Path(__file__).resolve().parents[2],
        env={**__import__("os").environ, "MONGODB_URI": test_uri},
        check=True,
        capture_output=True,
        timeout=60,
    )
    assert [d["_id"] for d in db.sessions.find()] == ["livelive" * 4]


def test_the_device_settings_are_read_once_and_follow_override_settings() -> None:
    # request_device() keeps the three settings between requests (an unset one costs
    # Django's lazy settings an exception per read); a change must still be seen.
    request = RequestFactory().get("/", HTTP_USER_AGENT="UA/1", REMOTE_ADDR="203.0.113.9")
    assert request_device(request) is None
    with override_settings(MONGOSESSION_RECORD_DEVICES=True, MONGOSESSION_RECORD_IP="truncated"):
        assert request_device(request) == DeviceInfo("UA/1", "203.0.113.0")
        with override_settings(MONGOSESSION_RECORD_IP="none"):
            assert request_device(request) == DeviceInfo("UA/1", None)
    assert request_device(request) is None
    with (
        override_settings(MONGOSESSION_RECORD_DEVICES=True, MONGOSESSION_RECORD_IP="bogus"),
        pytest.raises(ImproperlyConfigured, match="MONGOSESSION_RECORD_IP"),
    ):
        request_device(request)
