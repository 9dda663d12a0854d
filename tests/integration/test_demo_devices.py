"""The demo's account page over real HTTP: devices, no session id, styled errors, live events.

Each test runs `python -m mongosession demo` (tests/integration/test_demo.py's
``running_demo``) and talks to it as browsers would: httpx clients with a browser's
User-Agent, and a raw socket reading ``/events`` as ``EventSource`` does.
"""

from __future__ import annotations

import json
import re
import socket
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import httpx
import pytest
from pymongo import MongoClient

from mongosession.demo.live import Follower
from mongosession.demo.pages import ago, ahead
from mongosession.store.devices import DeviceSession, device_handle
from mongosession.store.events import SessionEvent
from mongosession.testing.localdb import LocalMongod, find_mongod
from tests.integration.test_demo import Demo, running_demo
from tests.support.fixtures import needs_local_servers

FIREFOX_WINDOWS = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:125.0) Gecko/20100101 Firefox/125.0"
SAFARI_IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"
)

ROW = re.compile(r'<li class="(device(?: current)?)" data-handle="([^"]+)">(.*?)</li>', re.S)
NAME = re.compile(r'<div class="name">([^<]*)')


def client(demo: Demo, user_agent: str | None = None) -> httpx.Client:
    headers = {"user-agent": user_agent} if user_agent else {}
    return httpx.Client(base_url=demo.url, follow_redirects=True, timeout=15, headers=headers)


def session_id(browser: httpx.Client) -> str:
    """The session id inside the signed cookie ``s:<id>.<signature>``."""
    value = unquote(browser.cookies["connect.sid"])
    assert value.startswith("s:"), value
    return value[2:].rpartition(".")[0]


def rows(page: str) -> list[tuple[bool, str, str]]:
    """(this device?, handle, text) of each device on a page, in order."""
    return [
        (kind == "device current", handle, " ".join(re.sub(r"<[^>]+>", " ", body).split()))
        for kind, handle, body in ROW.findall(page)
    ]


def names(page: str) -> list[str]:
    """The device names of a page's list, in order."""
    return NAME.findall(page)


def poll(check: Callable[[], Any], seconds: float = 10, what: str = "") -> Any:
    """``check()``'s first true value within ``seconds``, else fail."""
    deadline = time.monotonic() + seconds
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"not within {seconds}s: {what or check}")
        time.sleep(0.1)


# -- the page -----------------------------------------------------------------------------------


@pytest.fixture
def demo(tmp_path: Path, test_uri: str) -> Iterator[Demo]:
    with running_demo(tmp_path / "demo", test_uri) as running:
        yield running


def test_two_browsers_are_named_with_their_ip_this_device_and_no_session_id(
    demo: Demo, db: Any
) -> None:
    with client(demo, FIREFOX_WINDOWS) as desktop, client(demo, SAFARI_IPHONE) as phone:
        phone.post("/login", data={"user": "alice"})
        desktop.post("/login", data={"user": "alice"})
        page = desktop.get("/")
        assert page.status_code == 200
        listed = rows(page.text)
        assert names(page.text) == ["Firefox 125 on Windows 10", "Mobile Safari 17 on iOS 17.4"]
        assert [current for current, _, _ in listed] == [True, False]
        assert listed[0][2].startswith("Firefox 125 on Windows 10 This device 127.0.0.1 ")
        assert page.text.count("This device<") == 1
        assert all("127.0.0.1" in text for _, _, text in listed)
        assert "Signed in just now" in listed[1][2]
        assert "Active now" in listed[0][2]
        assert "Ends in 14 days unless used again" in listed[0][2]
        assert 'id="count">2<' in page.text
        assert 'id="revoke-others"' in page.text
        # The phone sees the same two, itself as this device.
        from_phone = rows(phone.get("/").text)
        assert [(current, handle) for current, handle, _ in from_phone] == [
            (True, listed[1][1]),
            (False, listed[0][1]),
        ]
        # No session id anywhere: not in the pages, not in the list the script reads.
        ids = {session_id(desktop), session_id(phone)} | {doc["_id"] for doc in db.sessions.find()}
        assert len(ids) == 2
        fragment = desktop.get("/devices")
        assert fragment.status_code == 200
        for text in (page.text, phone.get("/").text, fragment.text):
            for sid in ids:
                assert sid not in text
                assert sid[:8] not in text  # not even the prefix the old page printed


def test_the_page_is_a_styled_responsive_page_with_nothing_from_elsewhere(demo: Demo) -> None:
    with client(demo, FIREFOX_WINDOWS) as browser:
        page = browser.post("/login", data={"user": "bea"})
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in page.text
    assert "<style>" in page.text
    assert "@media (max-width: 30rem)" in page.text
    assert "20159" not in page.text
    assert not re.search(r"\d min\b", page.text)
    assert 'id="ends">in 14 days<' in page.text
    # No CDN, no external script or style; the policy allows only the inline ones.
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page.text)
    policy = page.headers["content-security-policy"]
    assert "default-src 'none'" in policy
    assert "script-src 'sha256-" in policy
    assert "no-store" in page.headers["cache-control"]
    # One session only: nothing to sign out elsewhere, so no button offers it.
    assert 'id="revoke-others"' not in page.text


def test_a_standalone_server_says_live_updates_are_off(demo: Demo) -> None:
    with client(demo) as browser:
        page = browser.post("/login", data={"user": "cleo"})
        assert 'id="live" data-state="off"' in page.text
        assert "Live updates are off" in page.text
        assert "<script>" not in page.text  # nothing to follow
        with EventStream(demo.url, browser) as events:
            name, data = events.next(10)
        assert name == "off"
        assert "replica set" in data["reason"]
    assert "live updates: off (change streams need a replica set" in demo.log.read_text()


def assert_styled(page: httpx.Response, status: int, title: str) -> None:
    """``page`` is the demo's styled error page for ``status``, saying ``title``."""
    assert page.status_code == status
    assert page.headers["content-type"].startswith("text/html")
    assert f'data-status="{status}"' in page.text
    assert f"<h1>{title}</h1>" in page.text
    assert '<meta name="viewport"' in page.text
    assert "<style>" in page.text


def test_a_missing_page_and_a_wrong_method_are_styled_pages(demo: Demo) -> None:
    with client(demo) as browser:
        assert_styled(browser.get("/no/such/page"), 404, "Page not found")
        assert_styled(browser.get("/login"), 405, "Not allowed")


def test_a_post_from_another_site_is_refused_and_changes_nothing(demo: Demo) -> None:
    with client(demo) as victim, client(demo) as other:
        victim.post("/login", data={"user": "dora"})
        other.post("/login", data={"user": "dora"})
        [(_, handle, _)] = [row for row in rows(victim.get("/").text) if not row[0]]
        forged = [
            {"origin": "http://evil.example"},
            {"origin": "null"},
            {"sec-fetch-site": "cross-site", "origin": demo.url},
            {"sec-fetch-site": "same-site"},
        ]
        for headers in forged:
            refused = victim.post("/revoke", data={"handle": handle}, headers=headers)
            assert_styled(refused, 403, "Not allowed")
            assert victim.post("/logout", headers=headers).status_code == 403
        assert 'id="count">2<' in victim.get("/").text  # both still signed in
        # The demo's own pages: the browser says same-origin, or the Origin is this server.
        ok = victim.post(
            "/revoke", data={"handle": handle}, headers={"sec-fetch-site": "same-origin"}
        )
        assert ok.status_code == 200
        assert 'id="count">1<' in ok.text
        assert victim.post("/logout", headers={"origin": demo.url}).status_code == 200
        assert "Not signed in" in victim.get("/").text


# -- the database down --------------------------------------------------------------------------


@pytest.mark.slow
def test_the_database_down_is_a_styled_503_and_the_session_survives_it(tmp_path: Path) -> None:
    needs_local_servers()
    server = LocalMongod(tmp_path / "db", mongod_path=find_mongod(), test_commands=False)
    server.start()
    try:
        with running_demo(tmp_path / "demo", f"{server.uri}/demo") as demo, client(demo) as browser:
            browser.post("/login", data={"user": "erin"})
            server.stop()
            down = browser.get("/")
            assert_styled(down, 503, "The session database is not answering")
            assert '<meta http-equiv="refresh" content="10; url=/">' in down.text
            assert down.headers["retry-after"] == "10"
            assert down.headers["cache-control"] == "no-store"
            # The live list and the event stream fail closed too.
            assert browser.get("/devices").status_code == 503
            assert browser.get("/events").status_code == 503
            server.start()  # the same port, the same data
            back = poll(lambda: (r := browser.get("/")).status_code == 200 and r, 30, "back up")
            assert 'id="who">erin<' in back.text
    finally:
        server.stop()


# -- live events --------------------------------------------------------------------------------


class EventStream:
    """``GET /events`` read as ``EventSource`` reads it, over a raw socket (closing it is
    the browser going away)."""

    def __init__(self, url: str, browser: httpx.Client) -> None:
        parts = urlsplit(url)
        cookie = "; ".join(f"{name}={value}" for name, value in browser.cookies.items())
        self.sock = socket.create_connection((parts.hostname, parts.port), timeout=15)
        request = (
            f"GET /events HTTP/1.1\r\nHost: {parts.netloc}\r\nAccept: text/event-stream\r\n"
            f"Cookie: {cookie}\r\nConnection: close\r\n\r\n"
        )
        self.sock.sendall(request.encode())
        self.buffer = b""
        head = self._until(b"\r\n\r\n", 15)
        self.status = int(head.split()[1])
        self.headers = head.decode("latin-1").lower()

    def _until(self, mark: bytes, seconds: float) -> bytes:
        deadline = time.monotonic() + seconds
        while mark not in self.buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no {mark!r} within {seconds}s: {self.buffer!r}")
            self.sock.settimeout(left)
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError(self.buffer)
            self.buffer += chunk
        found, _, self.buffer = self.buffer.partition(mark)
        return found

    def next(self, seconds: float) -> tuple[str, dict[str, Any]]:
        """The next named event (keep-alives and ``retry:`` skipped): (name, data)."""
        deadline = time.monotonic() + seconds
        while True:
            block = self._until(b"\n\n", max(0.01, deadline - time.monotonic()))
            # Chunked transfer: drop the chunk-size lines between the event's lines.
            lines = [line for line in block.split(b"\n") if b":" in line or not line.strip()]
            fields = dict(line.decode().split(":", 1) for line in lines if b": " in line)
            if "event" in fields:
                return fields["event"].strip(), json.loads(fields.get("data", "{}"))

    def none_within(self, seconds: float) -> None:
        """Fail if a named event comes within ``seconds``."""
        try:
            name, data = self.next(seconds)
        except TimeoutError:
            return
        pytest.fail(f"unexpected event {name} {data}")

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> EventStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@pytest.fixture
def live_demo(tmp_path: Path, rs_uri: str) -> Iterator[Demo]:
    """The demo on the replica set (whose sessions collection keeps pre-images)."""
    with running_demo(tmp_path / "demo", rs_uri) as running:
        yield running


def test_events_tell_the_users_session_ends_and_nothing_else(live_demo: Demo) -> None:
    demo = live_demo
    with (
        client(demo, FIREFOX_WINDOWS) as desktop,
        client(demo, SAFARI_IPHONE) as phone,
        client(demo) as stranger,
    ):
        for browser, user in ((desktop, "alice"), (phone, "alice"), (stranger, "bob")):
            browser.post("/login", data={"user": user})
        handles = {current: handle for current, handle, _ in rows(desktop.get("/").text)}
        page = desktop.get("/").text
        assert "<script>" in page
        assert 'id="live" data-state="off"' not in page
        assert "live updates: on (change streams)" in demo.log.read_text()
        with EventStream(demo.url, desktop) as events, EventStream(demo.url, phone) as mine:
            assert events.status == 200
            assert "content-type: text/event-stream" in events.headers
            assert events.next(10) == ("ready", {})
            assert mine.next(10) == ("ready", {})
            stranger.post("/logout")  # another user's end: not alice's business
            events.none_within(1.5)
            # The phone's session ends elsewhere (here: the desktop revokes it).
            desktop.post("/revoke", data={"handle": handles[False]})
            assert events.next(5) == ("ended", {"handle": handles[False], "kind": "destroyed"})
            assert mine.next(5) == ("signed-out", {"kind": "destroyed"})
            with pytest.raises(EOFError):  # its stream ends there
                mine.next(5)
        assert "Not signed in" in phone.get("/").text


def test_a_new_session_is_followed_and_a_stream_ends_with_its_session(live_demo: Demo) -> None:
    demo = live_demo
    with client(demo, FIREFOX_WINDOWS) as desktop, client(demo, SAFARI_IPHONE) as phone:
        desktop.post("/login", data={"user": "fay"})
        with EventStream(demo.url, desktop) as events:
            assert events.next(10) == ("ready", {})
            phone.post("/login", data={"user": "fay"})  # after the stream started
            [(_, handle, _)] = [row for row in rows(phone.get("/").text) if row[0]]
            phone.post("/logout")
            assert events.next(5) == ("ended", {"handle": handle, "kind": "destroyed"})
            desktop.post("/logout")
            assert events.next(5) == ("signed-out", {"kind": "destroyed"})
        # Signed out: no stream (204 tells EventSource to stop), and the list says 401.
        with EventStream(demo.url, desktop) as again:
            assert again.status == 204
        assert desktop.get("/devices").status_code == 401


def change_streams(client: MongoClient[dict[str, Any]], namespace: str) -> int:
    """Change-stream cursors open on ``namespace`` (waiting in a getMore, or idle)."""
    found = client.admin.aggregate(
        [
            {"$currentOp": {"idleCursors": True, "allUsers": True}},
            {"$match": {"ns": namespace}},
        ]
    )
    count = 0
    for op in found:
        command = op.get("cursor", {}).get("originatingCommand") or op.get("command") or {}
        pipeline = command.get("pipeline") or []
        if pipeline and "$changeStream" in pipeline[0]:
            count += 1
    return count


def test_open_pages_share_one_change_stream_released_when_they_close(
    live_demo: Demo, rs_client: MongoClient[dict[str, Any]], rs_db_name: str
) -> None:
    demo = live_demo
    namespace = f"{rs_db_name}.sessions"
    browsers = [client(demo) for _ in range(3)]
    try:
        for browser in browsers:
            browser.post("/login", data={"user": "gus"})
        assert change_streams(rs_client, namespace) == 0
        streams = [EventStream(demo.url, browser) for browser in browsers]
        for stream in streams:
            assert stream.next(10) == ("ready", {})
        poll(lambda: change_streams(rs_client, namespace) == 1, 5, "one shared change stream")
        # The event loop is not held: pages are served while the streams wait.
        started = time.monotonic()
        assert browsers[0].get("/").status_code == 200
        assert time.monotonic() - started < 2
        for stream in streams:
            stream.close()  # the browsers go away
        poll(lambda: change_streams(rs_client, namespace) == 0, 5, "the change stream closed")
        # And a new page opens one again.
        with EventStream(demo.url, browsers[1]) as stream:
            assert stream.next(10) == ("ready", {})
            poll(lambda: change_streams(rs_client, namespace) == 1, 5, "a new change stream")
    finally:
        for browser in browsers:
            browser.close()


# -- words --------------------------------------------------------------------------------------


def test_times_in_words() -> None:
    now = datetime(2026, 5, 1, 12, 0, tzinfo=timezone.utc)
    before = [
        (timedelta(seconds=10), "just now"),
        (timedelta(seconds=70), "a minute ago"),
        (timedelta(minutes=3), "3 minutes ago"),
        (timedelta(minutes=50), "an hour ago"),
        (timedelta(hours=5), "5 hours ago"),
        (timedelta(hours=30), "yesterday"),
        (timedelta(days=3), "3 days ago"),
        (timedelta(days=60), "2 months ago"),
        (timedelta(days=800), "2 years ago"),
    ]
    assert [ago(now - delta, now) for delta, _ in before] == [words for _, words in before]
    assert ago(None, now) == "unknown"
    after = [
        (timedelta(seconds=20), "in under a minute"),
        (timedelta(minutes=20), "in 20 minutes"),
        (timedelta(days=14) - timedelta(minutes=1), "in 14 days"),
    ]
    assert [ahead(now + delta, now) for delta, _ in after] == [words for _, words in after]
    assert ahead(now - timedelta(seconds=1), now) == "now"


def test_a_page_follows_its_users_ends_by_pre_image_or_by_handle() -> None:
    def device(sid: str, current: bool = False) -> DeviceSession:
        return DeviceSession(
            handle=device_handle(sid),
            current=current,
            browser=None,
            os=None,
            device_type="unknown",
            ip=None,
            user_agent=None,
            signed_in=None,
            last_active=None,
            expires=None,
        )

    def ended(sid: str, user: str | None = None) -> SessionEvent:
        return SessionEvent(
            kind="deleted" if user is None else "destroyed", sid=sid, at=None, user=user
        )

    follower = Follower("alice", [device("mine", current=True), device("phone")])
    # No pre-image (user None): known by the handle of a session listed before.
    assert follower.message(ended("stranger")) is None
    assert follower.message(ended("phone")) == (
        "ended",
        {"handle": device_handle("phone"), "kind": "deleted"},
    )
    # A pre-image names the user: a session started after the list was read.
    assert follower.message(ended("tablet", "alice")) == (
        "ended",
        {"handle": device_handle("tablet"), "kind": "destroyed"},
    )
    assert follower.message(ended("laptop", "bob")) is None
    # The stream's own state, told once per change; a page that fell behind re-reads.
    follower.live = True
    assert follower.message("on") is None
    assert follower.message("paused") == ("paused", {})
    assert follower.message("paused") is None
    assert follower.message("on") == ("live", {})
    assert follower.message("overflow") == ("live", {})
    assert follower.message("closing") is None
    # A new session in the list is news; the same list again is not.
    assert follower.update([device("mine"), device("watch")]) is True
    assert follower.update([device("mine"), device("watch")]) is False
    assert follower.message(ended("watch")) == (
        "ended",
        {"handle": device_handle("watch"), "kind": "deleted"},
    )
    # This page's own session (kept as current across re-reads without current=).
    assert follower.message(ended("mine")) == ("signed-out", {"kind": "deleted"})
