"""``Cache-Control: no-store`` on every response that sets or clears the session cookie.

Security review finding 6: a response carrying a session ``Set-Cookie`` must never be
stored by a shared cache (which would hand one user's cookie to the next). Every
adapter adds ``no-store`` exactly when it sends the session cookie, keeping whatever
``Cache-Control`` the view set; a response without the session cookie gets nothing
from us. Through real servers (tests/support/web.py), all four adapters.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.reliability.conftest import SERVED
from tests.support.web import (
    Reply,
    ServedApp,
)


@pytest.fixture(params=list(SERVED))
def app(request: pytest.FixtureRequest, test_uri: str) -> Iterator[ServedApp]:
    served = SERVED[request.param](test_uri)
    try:
        yield served
    finally:
        served.close()


def directives(reply: Reply) -> set[str]:
    """The response's Cache-Control directives, every header line together, lower case."""
    return {
        part.strip().lower()
        for line in reply.all("cache-control")
        for part in line.split(",")
        if part.strip()
    }


def session_cookie_lines(app: ServedApp, reply: Reply) -> list[str]:
    return [line for line in reply.set_cookies if line.startswith(f"{app.cookie_name}=")]


def assert_no_store_iff_session_cookie(app: ServedApp, reply: Reply) -> None:
    sends_cookie = bool(session_cookie_lines(app, reply))
    assert ("no-store" in directives(reply)) == sends_cookie, (sends_cookie, reply.headers)


def test_responses_setting_or_clearing_the_session_cookie_are_no_store(app: ServedApp) -> None:
    browser = app.browser()
    # No session cookie sent: nothing added.
    for path in ("/static", "/whoami"):
        reply = browser.get(path)
        assert reply.status == 200
        assert session_cookie_lines(app, reply) == []
        assert "no-store" not in directives(reply)
    # Login sets the cookie.
    reply = browser.post("/login?user=alice")
    assert (reply.status, reply.text) == (200, "welcome")
    assert session_cookie_lines(app, reply)
    assert "no-store" in directives(reply)
    # Later requests: no-store exactly when the cookie is sent again (Django's
    # SESSION_SAVE_EVERY_REQUEST sends it every time; the others when it changes).
    for path in ("/whoami", "/", "/static"):
        reply = browser.get(path)
        assert reply.status == 200
        assert_no_store_iff_session_cookie(app, reply)
    # Logout clears the cookie.
    reply = browser.post("/logout")
    assert reply.status == 200
    assert len(session_cookie_lines(app, reply)) == 1
    assert browser.session_cookie is None  # a clearing Set-Cookie
    assert "no-store" in directives(reply)
    reply = browser.get("/whoami")
    assert reply.text == "anonymous"
    assert session_cookie_lines(app, reply) == []
    assert "no-store" not in directives(reply)


def test_the_views_own_cache_control_is_kept_beside_no_store(app: ServedApp) -> None:
    browser = app.browser()
    reply = browser.get("/put?key=theme&value=%22dark%22&cache=private,%20max-age=60")
    assert (reply.status, reply.text) == (200, "stored")
    assert session_cookie_lines(app, reply)  # a new session: the cookie is set
    assert {"private", "max-age=60", "no-store"} <= directives(reply)
    parts = [
        part.strip().lower() for line in reply.all("cache-control") for part in line.split(",")
    ]
    assert parts.count("no-store") == 1
