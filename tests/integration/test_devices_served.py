"""Devices over real HTTP: each adapter's app on a real server records the real peer.

The test clients of tests/integration/test_adapters.py have no real connection (some
report a fake peer); here uvicorn, werkzeug, aiohttp and hypercorn accept a TCP
connection from 127.0.0.1, which is what ``record_devices`` must record without
``proxy``. (``X-Forwarded-For`` without ``proxy`` is tested in test_adapters.py: a
server may apply it itself, as uvicorn does for a connection from 127.0.0.1, its
default ``--forwarded-allow-ips``; the address the server gives is what is recorded.)
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.web import SERVED, ServedApp

FIREFOX = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:126.0) Gecko/20100101 Firefox/126.0"
ANDROID = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Mobile Safari/537.36"
)


@pytest.fixture(params=list(SERVED))
def served(request: pytest.FixtureRequest, test_uri: str) -> Iterator[ServedApp]:
    app = SERVED[request.param](
        test_uri, options={"record_devices": True}, user_key="user", ttl=600
    )
    try:
        yield app
    finally:
        app.close()


def test_a_real_server_records_the_peer_and_both_browsers(served: ServedApp, db: Any) -> None:
    desktop = served.browser(headers={"user-agent": FIREFOX})
    phone = served.browser(headers={"user-agent": ANDROID})
    assert phone.post("/login?user=alice").text == "welcome"
    assert desktop.post("/login?user=alice").text == "welcome"
    listed = json.loads(desktop.get("/devices").text)
    assert [(d["browser"], d["os"], d["device_type"], d["current"]) for d in listed] == [
        ("Firefox 126", "Windows 10", "desktop", True),
        ("Chrome Mobile 124", "Android 14", "mobile", False),
    ]
    assert {d["ip"] for d in listed} == {"127.0.0.1"}
    page = json.dumps(listed)
    for doc in db.sessions.find():
        assert doc["_id"] not in page
    assert desktop.post(f"/revoke?handle={listed[1]['handle']}").text == "revoked"
    assert phone.get("/whoami").text == "anonymous"
    assert desktop.get("/whoami").text == "alice"
    # The store's own view, from the test thread: one session left, alice's desktop.
    (left,) = served.store.devices_of("alice")
    assert (left.browser, left.ip) == ("Firefox 126", "127.0.0.1")
