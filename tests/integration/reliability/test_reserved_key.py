"""The session key ``cookie`` is the library's: refused, through every adapter, on a real server.

Security review finding 5 (issue 11). The stored document keeps express-session's
cookie object under ``session.cookie``, so a value of the application's there was
lost at the next save, and could move the document's ``expires`` (the idle timeout)
anywhere. Assigning it now raises :class:`~mongosession.ReservedKey` in the handler,
whatever the way (``session["cookie"] = ...``, ``update``, ``setdefault``, ``|=``,
or a plain dict put in the ASGI session slot, refused when the response starts).
Uncaught, it is the framework's own answer to a handler's error: 500, nothing saved.

The apps are tests/support/adapter_apps.py's and tests/support/apps.py's (``/put`` puts one key one
way; ``catch=1`` answers the error's message), served by tests/support/web.py.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import quote

import pytest

from mongosession import ReservedKey, unescape_key
from tests.integration.reliability.conftest import SERVED
from tests.support.adapter_apps import WAYS
from tests.support.web import (
    Browser,
    ServedApp,
)

CODECS = ("json", "bson")
TTL = 3600  # seconds; Django's SESSION_COOKIE_AGE in its app
FAR = "2999-12-31T00:00:00.000Z"
LOOKALIKES = ("cookie%", "Cookie", "cookies", "cookie.x")


def ways(adapter: str) -> tuple[str, ...]:
    """How a handler of ``adapter`` can put a key in its session (``/put``'s ``how``)."""
    if adapter == "django":  # SessionBase has no |=, and its update() takes one dict
        return ("item", "update-dict", "setdefault")
    return WAYS


Serve = Callable[[str, str], ServedApp]


@pytest.fixture
def serve(test_uri: str) -> Iterator[Serve]:
    """``serve(adapter, codec)`` -> that adapter's app with ``ttl=TTL``, served until the test ends."""
    apps: list[ServedApp] = []

    def start(adapter: str, codec: str) -> ServedApp:
        app = SERVED[adapter](test_uri, codec=codec, ttl=TTL)
        apps.append(app)
        return app

    try:
        yield start
    finally:
        for app in reversed(apps):
            app.close()


def put(key: str, value: Any, how: str = "item", *, catch: bool = False) -> str:
    target = f"/put?key={quote(key, safe='')}&value={quote(json.dumps(value), safe='')}&how={how}"
    return target + "&catch=1" if catch else target


def started(app: ServedApp) -> Browser:
    """A browser holding a stored session: ``n`` is 1."""
    browser = app.browser()
    reply = browser.get("/")
    assert (reply.status, reply.text) == (200, "1")
    assert browser.session_cookie
    return browser


def stored(db: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """The one stored document and its decoded ``session`` (either codec)."""
    [doc] = db.sessions.find()
    data = doc["session"]
    if isinstance(data, str):
        return doc, json.loads(data)
    return doc, {unescape_key(key): value for key, value in data.items()}  # bson's escapes


def assert_logged_reserved_key(caplog: pytest.LogCaptureFixture) -> None:
    """The server logged the 500's cause: ReservedKey (the framework's error log)."""
    raised = [r.exc_info[1] for r in caplog.records if r.exc_info and r.exc_info[1]]
    assert any(isinstance(exc, ReservedKey) for exc in raised), caplog.records


def assert_expiry_bounded(db: Any, lifetime: float) -> None:
    """The document expires within the session's lifetime, and its cookie is the library's."""
    doc, data = stored(db)
    assert doc["expires"] <= datetime.now(timezone.utc) + timedelta(seconds=lifetime + 5)
    cookie = data["cookie"]
    assert "originalMaxAge" in cookie, cookie  # express-session's cookie object...
    assert "2999" not in repr(cookie)  # ...never the application's value
    assert "consent" not in cookie


# -- (a) the expiry override ---------------------------------------------------------------


@pytest.mark.parametrize("codec", CODECS)
@pytest.mark.parametrize("adapter", list(SERVED))
def test_a_cookie_key_cannot_move_the_stored_expiry(
    serve: Serve, db: Any, caplog: pytest.LogCaptureFixture, adapter: str, codec: str
) -> None:
    app = serve(adapter, codec)
    assert app.lifetime == TTL
    browser = started(app)
    assert_expiry_bounded(db, TTL)
    # Uncaught: the framework's answer to a handler's error, and nothing is saved.
    reply = browser.get(put("cookie", {"expires": FAR}))
    assert_expiry_bounded(db, TTL)
    assert reply.status == 500, (reply.status, reply.text)
    assert reply.set_cookies == []
    assert_logged_reserved_key(caplog)
    # Caught: the handler sees ReservedKey, and the session goes on.
    reply = browser.get(put("cookie", {"expires": FAR}, catch=True))
    assert (reply.status, reply.text.partition(":")[0]) == (200, "refused"), reply.text
    assert browser.get("/").text == "2"  # saved again
    assert_expiry_bounded(db, TTL)
    assert json.loads(browser.get("/peek").text) == {"n": 2}


@pytest.mark.parametrize("codec", CODECS)
def test_a_plain_dict_with_a_cookie_key_in_the_asgi_session_slot_is_refused_when_saved(
    serve: Serve, db: Any, caplog: pytest.LogCaptureFixture, codec: str
) -> None:
    # scope["session"] = {...}: the middleware adopts a plain dict at the commit,
    # where ReservedKey can only become Starlette's 500 (nothing saved).
    app = serve("asgi", codec)
    browser = started(app)
    before, _ = stored(db)
    reply = browser.get(put("cookie", {"expires": FAR}, "replace"))
    assert reply.status == 500, (reply.status, reply.text)
    assert reply.set_cookies == []
    assert_logged_reserved_key(caplog)
    assert_expiry_bounded(db, TTL)
    after, _ = stored(db)
    assert after == before  # untouched
    assert json.loads(browser.get("/peek").text) == {"n": 1}


# -- (b) refused in the handler, every way ---------------------------------------------------


@pytest.mark.parametrize(
    ("adapter", "codec", "how"),
    [(adapter, codec, how) for adapter in SERVED for codec in CODECS for how in ways(adapter)],
)
def test_assigning_the_cookie_key_raises_reserved_key_in_the_handler(
    serve: Serve, db: Any, adapter: str, codec: str, how: str
) -> None:
    app = serve(adapter, codec)
    browser = started(app)
    reply = browser.get(put("cookie", {"consent": True}, how, catch=True))
    assert reply.status == 200, (reply.status, reply.text)
    message, _, read = reply.text.partition("; read: ")
    assert message.startswith("refused: "), reply.text
    assert "'cookie' is reserved" in message  # the key, and what to do instead
    assert "another key for your data" in message
    if adapter != "django":  # Django's cookie is its settings'
        assert "session.cookie" in message
    assert read == "KeyError"  # not a data key: reading it is a missing key
    assert browser.get("/").text == "2"  # the second save keeps the data, no "cookie"
    assert json.loads(browser.get("/peek").text) == {"n": 2}
    assert_expiry_bounded(db, TTL)


@pytest.mark.parametrize("adapter", list(SERVED))
def test_an_uncaught_reserved_key_is_the_frameworks_500_and_saves_nothing(
    serve: Serve, db: Any, caplog: pytest.LogCaptureFixture, adapter: str
) -> None:
    app = serve(adapter, "json")
    browser = started(app)
    before, _ = stored(db)
    reply = browser.get(put("cookie", {"consent": True}))
    assert reply.status == 500, (reply.status, reply.text)
    assert reply.set_cookies == []
    assert_logged_reserved_key(caplog)
    after, _ = stored(db)
    assert after == before
    assert browser.get("/").text == "2"  # the session is intact


# -- (c) keys that only look like it ----------------------------------------------------------


@pytest.mark.parametrize("codec", CODECS)
@pytest.mark.parametrize("adapter", list(SERVED))
def test_keys_that_look_like_cookie_are_kept_across_two_saves(
    serve: Serve, db: Any, adapter: str, codec: str
) -> None:
    app = serve(adapter, codec)
    browser = started(app)
    for key in LOOKALIKES:
        reply = browser.get(put(key, {"consent": key}))
        assert (reply.status, reply.text) == (200, "stored"), key
    assert browser.get("/").text == "2"  # one more save, of another key
    expected = {"n": 2, **{key: {"consent": key} for key in LOOKALIKES}}
    assert json.loads(browser.get("/peek").text) == expected
    _, data = stored(db)
    assert {key: data.get(key) for key in LOOKALIKES} == {
        key: {"consent": key} for key in LOOKALIKES
    }
    assert_expiry_bounded(db, TTL)
