"""Hostile and unknown session ids through every adapter: ASGI, Flask, Django, aiohttp.

RELIABILITY.md requirement 2 and catalog lines 2 and 3, through each framework's own
test client (tests/support/web.py). The ASGI middleware's own, larger versions are in
test_hostile.py; the failure lines (503) run per adapter in tests/test_adapters.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from mongosession import generate_sid
from tests.support.monitoring import CommandLog
from tests.support.web import SITES, Site

# What an HTTP client can carry in a Cookie header: CR/LF and NUL arrive encoded.
HOSTILE = {
    "empty": "",
    "whitespace": "%20%20",
    "one character": "x",
    "CR/LF": "abc%0D%0ASet-Cookie%3A%20admin%3D1",
    "NUL": "ab%00c",
    "non-ASCII": "%C3%A9%C3%A9",
    "operator": "%7B%22%24ne%22%3Anull%7D",
    "8 KB": "A" * 8192,
}


@pytest.fixture(params=list(SITES))
def site(request: pytest.FixtureRequest, test_uri: str, command_log: CommandLog) -> Iterator[Site]:
    opened: Site = SITES[request.param](test_uri, command_log)
    try:
        yield opened
    finally:
        opened.close()


@pytest.mark.parametrize("value", list(HOSTILE.values()), ids=list(HOSTILE))
def test_a_hostile_cookie_is_no_session_costs_nothing_and_is_never_echoed(
    site: Site, command_log: CommandLog, db: Any, value: str
) -> None:
    command_log.clear()
    reply = site.request("GET", "/whoami", f"{site.cookie_name}={value}")
    if reply.status == 400 and len(value) > 8000:
        # aiohttp's HTTP parser refuses header lines over 8190 bytes: the request
        # never reaches the application, which is as safe.
        assert command_log.count() == 0
        assert reply.set_cookies == []
        return
    assert (reply.status, reply.text) == (200, "anonymous")
    assert command_log.count() == 0  # not even a find
    reply = site.request("GET", "/", f"{site.cookie_name}={value}")
    assert reply.status == 200
    assert reply.text.strip() == "1"  # a new session, not one named by the value
    if len(value) > 3:
        assert not any(value in line for line in reply.set_cookies)
    assert db.sessions.count_documents({}) == 1


def test_unknown_ids_are_never_adopted_and_reading_them_creates_nothing(
    site: Site, db: Any
) -> None:
    presented = [generate_sid() for _ in range(50)]
    for sid in presented:
        reply = site.request("GET", "/whoami", f"{site.cookie_name}={site.signed(sid)}")
        assert (reply.status, reply.text) == (200, "anonymous")
    assert db.sessions.count_documents({}) == 0
    for sid in presented[:10]:
        reply = site.request("GET", "/", f"{site.cookie_name}={site.signed(sid)}")
        assert reply.text.strip() == "1"
        assert not any(sid in line for line in reply.set_cookies)
    assert db.sessions.count_documents({"_id": {"$in": presented}}) == 0
    assert db.sessions.count_documents({}) == 10
