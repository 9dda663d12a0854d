"""Concurrent requests and handler-side failures through every adapter, on a real server.

RELIABILITY.md requirements 13, 14 and 15, catalog lines 10 and 11, through Flask,
Django, ASGI and aiohttp (the ASGI middleware's in-process versions are in
test_concurrency.py and test_faults.py). Each app runs on a real server in this
process (tests/support/web.py: werkzeug's threaded server, uvicorn, aiohttp's); a handler
waits at a gate (tests/support/adapter_apps.py) so that two requests really overlap: the
slow one has loaded its session before the other one ends it.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from tests.integration.reliability.conftest import Serve
from tests.support.adapter_apps import ThreadGate
from tests.support.faultproxy import FaultProxy
from tests.support.web import Browser, ServedApp


def login(app: ServedApp, user: str) -> tuple[Browser, str]:
    browser = app.browser()
    reply = browser.post(f"/login?user={user}")
    assert (reply.status, reply.text) == (200, "welcome")
    cookie = browser.session_cookie
    assert cookie
    return browser, cookie


# -- catalog 10, requirement 14: the resurrection race ------------------------------------------


@pytest.mark.parametrize("delete_flags", [False, True], ids=["delete", "delete_flags"])
@pytest.mark.parametrize("ended_by", ["logout", "revoke"])
def test_a_slow_request_saving_after_a_logout_never_resurrects_it(
    serve: Serve,
    gate: ThreadGate,
    pool: ThreadPoolExecutor,
    test_uri: str,
    db: Any,
    delete_flags: bool,
    ended_by: str,
) -> None:
    app = serve(test_uri, delete_flags=delete_flags, user_key="user")
    alice, cookie = login(app, "alice")
    tab = app.browser(cookie)
    slow = pool.submit(tab.get, "/slow")  # request A: loaded, now waiting
    gate.wait_for(1)
    if ended_by == "logout":
        reply = alice.post("/logout")  # request B
        assert reply.status == 200
        assert alice.session_cookie is None  # B cleared the cookie
    else:
        assert app.store.destroy_user("alice") == 1  # "log out everywhere"
    gate.release()
    late = slow.result(timeout=30)
    assert late.status == app.ended_status, (late.status, late.text)
    if late.status == 200:  # Flask, ASGI, aiohttp: the view's answer, and the session is over
        assert late.text == "alice"
        assert tab.session_cookie is None  # ...and tells the browser its session is over
    docs = list(db.sessions.find())
    if delete_flags:
        [doc] = docs
        assert doc["deleted"] is True  # still flagged...
        assert "late" not in json.loads(doc["session"])  # ...and A's change was not written
    else:
        assert docs == []  # not re-created
    assert app.browser(cookie).get("/whoami").text == "anonymous"


# -- catalog 11, requirement 15: parallel changes to different keys --------------------------------


def test_parallel_requests_changing_different_keys_keep_every_change(
    serve: Serve, gate: ThreadGate, pool: ThreadPoolExecutor, test_uri: str
) -> None:
    app = serve(test_uri)
    alice, cookie = login(app, "alice")
    count = 8
    # Every request loads the same version of the session before any of them saves.
    replies = [
        pool.submit(app.browser(cookie).get, f"/set?key=k{i}&value={i}") for i in range(count)
    ]
    gate.wait_for(count)
    gate.release()
    assert [r.result(timeout=30).status for r in replies] == [200] * count  # merged
    data = json.loads(alice.get("/peek").text)
    assert data == {"user": "alice", **{f"k{i}": str(i) for i in range(count)}}


# -- requirement 13: a session call failing inside the handler ---------------------------------------


def test_a_session_call_failing_inside_the_handler_is_a_503_not_a_500(
    serve: Serve,
    gate: ThreadGate,
    pool: ThreadPoolExecutor,
    proxy: FaultProxy,
    proxy_uri: str,
) -> None:
    # The database goes away between loading the session and the handler's own
    # session call (regenerate / cycle_key at login): fail closed, as at load and save.
    app = serve(proxy_uri, timeout=1.0)
    browser = app.browser()
    assert browser.get("/").text == "1"
    cookie = browser.session_cookie
    login = pool.submit(browser.post, "/slow-login?user=alice")
    gate.wait_for(1)
    proxy.reset()
    gate.release()
    reply = login.result(timeout=30)
    assert reply.status == 503, (reply.status, reply.text)
    assert reply.set_cookies == []  # the client keeps its cookie for when the database is back
    assert browser.session_cookie == cookie
    proxy.pass_through()
    assert browser.get("/").text == "2"  # the session is intact
