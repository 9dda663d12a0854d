"""One behaviour suite, run through every framework adapter.

:class:`BehaviourSuite` is written once against a :class:`~tests.support.web.Browser`;
each subclass runs it through one framework's own test client: ASGI
(Starlette's TestClient), Flask, Django, aiohttp, Litestar and Quart. Every test talks to the
real server and counts database commands with PyMongo's command monitoring.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest

from mongosession import _clock
from mongosession.testing.localdb import free_port
from tests.support.monitoring import CommandLog
from tests.support.web import (
    AiohttpSite,
    ASGISite,
    Browser,
    DjangoSite,
    FlaskSite,
    LitestarSite,
    QuartSite,
    Site,
)

LIFETIME = 120  # seconds: the store's ttl (Django: SESSION_COOKIE_AGE)
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0"
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"
)
#: Devices recorded, behind a proxy whose X-Forwarded-For names the client.
DEVICES_ON = {"record_devices": True, "proxy": True}
TOUCH_AFTER = 30

Open = Callable[..., Browser]


def _travel(monkeypatch: pytest.MonkeyPatch, seconds: float) -> None:
    later = _clock.now() + timedelta(seconds=seconds)
    monkeypatch.setattr(_clock, "now", lambda: later)


def logged_in(open_site: Open, **store: Any) -> tuple[Browser, str]:
    """A browser on a new site, logged in as alice, and its session cookie."""
    browser = open_site(**store)
    assert browser.post("/login?user=alice").text == "welcome"
    cookie = browser.session_cookie
    assert cookie
    return browser, cookie


def two_devices(open_site: Open, options: dict[str, Any], **store: Any) -> tuple[Browser, Browser]:
    """A desktop and a phone browser on one new site, both logged in as alice.

    The phone logs in first; the desktop logs in and then makes one more request,
    so it is the most recently active.
    """
    desktop = open_site(options=options, user_key="user", **store)
    phone = Browser(desktop.site, headers={"user-agent": IPHONE, "x-forwarded-for": "198.51.100.1"})
    desktop.headers.update({"user-agent": FIREFOX, "x-forwarded-for": "203.0.113.7"})
    assert phone.post("/login?user=alice").text == "welcome"
    assert desktop.post("/login?user=alice").text == "welcome"
    assert desktop.get("/").text == "1"
    return desktop, phone


class BehaviourSuite:
    """What every adapter must do; a subclass names the Site to run it on."""

    site_class: type[Any]

    @pytest.fixture
    def open_site(self, test_uri: str, command_log: CommandLog) -> Iterator[Open]:
        """``open_site(**store_options, dead=False, options=None)`` -> a Browser on a new site.

        ``options`` are session options (the adapter's keywords; Django's settings).
        """
        sites: list[Site] = []

        def make(
            *, dead: bool = False, options: dict[str, Any] | None = None, **store: Any
        ) -> Browser:
            store.setdefault("ttl", LIFETIME)
            uri = test_uri
            if dead:  # nothing listens there: every operation fails within the timeout
                uri = f"mongodb://127.0.0.1:{free_port()}/app"
                store.setdefault("timeout", 0.5)
            site = self.site_class(uri, command_log, options=options, **store)
            sites.append(site)
            return Browser(site)

        yield make
        for site in reversed(sites):
            site.close()

    # -- no session --------------------------------------------------------------------

    def test_no_cookie_and_no_session_change_costs_nothing(
        self, open_site: Open, command_log: CommandLog
    ) -> None:
        browser = open_site()
        assert browser.get("/static").text == "static"
        reply = browser.get("/whoami")
        assert (reply.status, reply.text) == (200, "anonymous")
        assert reply.set_cookies == []
        assert command_log.writes == 0
        assert command_log.count("find") == 0

    # -- counter -------------------------------------------------------------------------

    def test_a_counter_lives_in_one_connect_mongo_document(self, open_site: Open, db: Any) -> None:
        browser = open_site()
        assert [browser.get("/").text for _ in range(3)] == ["1", "2", "3"]
        (doc,) = db.sessions.find()
        data = json.loads(doc["session"])
        assert data["n"] == 3
        assert {"originalMaxAge", "expires", "httpOnly", "path"} <= data["cookie"].keys()
        assert data["cookie"]["path"] == "/"
        assert data["cookie"]["httpOnly"] is True
        assert isinstance(doc["expires"], datetime)
        remaining = (doc["expires"] - _clock.now()).total_seconds()
        assert LIFETIME - 10 < remaining <= LIFETIME

    # -- login and logout --------------------------------------------------------------

    def test_login_regenerates_the_id_and_keeps_the_data(self, open_site: Open, db: Any) -> None:
        browser = open_site()
        browser.get("/")
        before = browser.session_cookie
        assert before
        assert browser.post("/login?user=alice").text == "welcome"
        after = browser.session_cookie
        assert after
        assert after != before
        assert browser.get("/whoami").text == "alice"
        assert browser.get("/").text == "2"  # the data came along
        assert browser.replay(before).get("/whoami").text == "anonymous"
        assert db.sessions.count_documents({}) == 1

    def test_logout_deletes_the_record_and_clears_the_cookie(
        self, open_site: Open, db: Any
    ) -> None:
        browser, cookie = logged_in(open_site)
        reply = browser.post("/logout")
        assert reply.status == 200
        assert any(line.startswith(f"{browser.site.cookie_name}=") for line in reply.set_cookies)
        assert browser.session_cookie is None  # the Set-Cookie cleared it
        assert db.sessions.count_documents({}) == 0
        assert browser.replay(cookie).get("/whoami").text == "anonymous"

    # -- expiry ------------------------------------------------------------------------

    def test_an_expired_session_is_anonymous_before_the_ttl_monitor_runs(
        self, open_site: Open, db: Any, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        browser, _ = logged_in(open_site)
        assert browser.get("/whoami").text == "alice"
        _travel(monkeypatch, LIFETIME + 1)
        assert db.sessions.count_documents({}) == 1  # still there: only filtered out
        assert browser.get("/whoami").text == "anonymous"

    # -- hostile input --------------------------------------------------------------------

    def test_a_tampered_cookie_is_no_session_and_is_never_adopted(
        self, open_site: Open, db: Any
    ) -> None:
        browser, cookie = logged_in(open_site)
        forged = browser.replay(browser.site.tampered(cookie))
        assert forged.get("/whoami").text == "anonymous"
        assert forged.get("/").text == "1"  # a new session, under a new id
        assert forged.session_cookie not in (cookie, browser.site.tampered(cookie))
        assert db.sessions.count_documents({}) == 2
        assert browser.get("/whoami").text == "alice"  # the real one is untouched

    # -- database down ---------------------------------------------------------------------

    def test_a_session_the_database_cannot_load_is_a_503(self, open_site: Open) -> None:
        browser = open_site(dead=True)
        browser.jar[browser.site.cookie_name] = browser.site.signed("a1b2c3d4e5f6g7h8i9j0")
        reply = browser.get("/")
        assert reply.status == 503
        assert reply.set_cookies == []
        assert reply.text != "1"  # never an anonymous session instead

    def test_a_session_the_database_cannot_save_is_a_503(self, open_site: Open) -> None:
        browser = open_site(dead=True)
        reply = browser.get("/")  # no cookie: no read, but the new session's insert fails
        assert reply.status == 503
        assert reply.set_cookies == []
        assert browser.get("/static").status == 200  # no session, no database: served

    # -- a failed request saves nothing (docs/sessions.md, "A failed request") -----------------

    @pytest.mark.parametrize("status", [500, 502, 503])
    def test_a_server_error_response_saves_nothing(
        self, open_site: Open, db: Any, status: int
    ) -> None:
        browser = open_site()
        assert browser.get("/").text == "1"
        cookie = browser.session_cookie
        before = db.sessions.find_one()
        reply = browser.get(f"/fail?status={status}")  # the handler counted, then failed
        assert reply.status == status
        assert reply.set_cookies == []
        assert db.sessions.find_one() == before  # not saved, not even touched
        assert browser.session_cookie == cookie
        assert browser.get("/").text == "2"

    def test_a_server_error_response_creates_no_session(
        self, open_site: Open, db: Any, command_log: CommandLog
    ) -> None:
        browser = open_site()
        reply = browser.get("/fail?status=500")
        assert reply.status == 500
        assert reply.set_cookies == []
        assert command_log.writes == 0
        assert db.sessions.count_documents({}) == 0

    def test_a_handler_that_raises_saves_nothing(self, open_site: Open, db: Any) -> None:
        browser = open_site()
        assert browser.get("/").text == "1"
        cookie = browser.session_cookie
        before = db.sessions.find_one()
        reply = browser.get("/crash")  # the handler counted, then raised
        assert reply.status == 500
        assert reply.set_cookies == []
        assert db.sessions.find_one() == before
        assert browser.session_cookie == cookie
        assert browser.get("/").text == "2"

    def test_a_handler_that_raises_creates_no_session(
        self, open_site: Open, db: Any, command_log: CommandLog
    ) -> None:
        browser = open_site()
        assert browser.get("/crash").status == 500
        assert command_log.writes == 0
        assert db.sessions.count_documents({}) == 0

    @pytest.mark.parametrize("status", [400, 404, 409, 499])
    def test_a_client_error_response_still_saves(
        self, open_site: Open, db: Any, status: int
    ) -> None:
        browser = open_site()
        reply = browser.get(f"/fail?status={status}")
        assert reply.status == status
        assert browser.session_cookie
        assert browser.get("/").text == "2"

    # -- touch -------------------------------------------------------------------------

    def test_an_unmodified_request_touches_the_expiry(
        self, open_site: Open, command_log: CommandLog, db: Any
    ) -> None:
        browser, _ = logged_in(open_site, touch_after=0)  # connect-mongo's default
        command_log.clear()
        assert browser.get("/whoami").text == "alice"
        (update,) = command_log.commands("update")
        change = update["updates"][0]["u"]["$set"]
        assert "expires" in change
        assert "session" not in change

    def test_by_default_an_unmodified_session_is_touched_once_5_percent_of_its_life_passed(
        self, open_site: Open, command_log: CommandLog, db: Any, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        browser, _ = logged_in(open_site)  # touch_after="auto"
        expires = db.sessions.find_one()["expires"]
        command_log.clear()
        assert [browser.get("/whoami").text for _ in range(3)] == ["alice"] * 3
        assert command_log.writes == 0  # right after the login's write: nothing to move
        _travel(monkeypatch, LIFETIME * 0.05 - 1)
        assert browser.get("/whoami").text == "alice"
        assert command_log.writes == 0
        _travel(monkeypatch, LIFETIME * 0.05 + 1)
        assert browser.get("/whoami").text == "alice"
        (update,) = command_log.commands("update")
        assert {"expires", "lastModified"} <= update["updates"][0]["u"]["$set"].keys()
        assert db.sessions.find_one()["expires"] > expires

    def test_no_write_on_an_unmodified_request_within_touch_after(
        self, open_site: Open, command_log: CommandLog, db: Any, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        browser, _ = logged_in(open_site, touch_after=TOUCH_AFTER)
        expires = db.sessions.find_one()["expires"]
        command_log.clear()
        assert [browser.get("/whoami").text for _ in range(3)] == ["alice"] * 3
        assert command_log.writes == 0
        _travel(monkeypatch, TOUCH_AFTER + 1)
        assert browser.get("/whoami").text == "alice"
        (update,) = command_log.commands("update")
        change = update["updates"][0]["u"]["$set"]
        assert {"expires", "lastModified"} <= change.keys()
        assert "session" not in change
        assert db.sessions.find_one()["expires"] > expires

    # -- devices (docs/devices.md) ----------------------------------------------------------

    def test_devices_are_not_recorded_by_default(self, open_site: Open, db: Any) -> None:
        browser = open_site(user_key="user")
        browser.headers["user-agent"] = FIREFOX
        browser.post("/login?user=alice")
        browser.get("/")
        assert "device" not in db.sessions.find_one()
        (device,) = json.loads(browser.get("/devices").text)  # listed all the same
        assert (device["browser"], device["ip"], device["current"]) == (None, None, True)

    def test_two_browsers_of_one_user_are_named_by_browser_os_and_ip(
        self, open_site: Open, db: Any
    ) -> None:
        desktop, phone = two_devices(open_site, DEVICES_ON)
        listed = json.loads(desktop.get("/devices").text)
        assert [
            (d["browser"], d["os"], d["device_type"], d["ip"], d["current"]) for d in listed
        ] == [
            ("Firefox 125", "Linux", "desktop", "203.0.113.7", True),  # the last active first
            ("Mobile Safari 17", "iOS 17.4", "mobile", "198.51.100.1", False),
        ]
        assert all(d["signed_in"] and d["last_active"] and d["expires"] for d in listed)
        sids = [doc["_id"] for doc in db.sessions.find()]
        assert len(sids) == 2
        seen_by_phone = phone.get("/devices").text
        for sid in sids:
            assert sid not in json.dumps(listed)
            assert sid not in seen_by_phone
        current = [d["browser"] for d in json.loads(seen_by_phone) if d["current"]]
        assert current == ["Mobile Safari 17"]  # the phone's own, wherever it sorts
        doc = db.sessions.find_one({"device.ua": FIREFOX})
        assert "Firefox" not in doc["session"]
        assert "203.0.113" not in doc["session"]

    def test_revoking_a_device_by_its_handle_ends_that_session(
        self, open_site: Open, db: Any
    ) -> None:
        desktop, phone = two_devices(open_site, DEVICES_ON)
        other = next(d for d in json.loads(desktop.get("/devices").text) if not d["current"])
        assert desktop.post(f"/revoke?handle={other['handle']}").text == "revoked"
        assert phone.get("/whoami").text == "anonymous"
        assert desktop.get("/whoami").text == "alice"
        assert desktop.post(f"/revoke?handle={other['handle']}").text == "unknown"
        assert db.sessions.count_documents({}) == 1

    def test_a_handle_of_another_users_session_revokes_nothing(
        self, open_site: Open, db: Any
    ) -> None:
        alice = open_site(options=DEVICES_ON, user_key="user")
        alice.headers.update({"user-agent": FIREFOX, "x-forwarded-for": "203.0.113.7"})
        alice.post("/login?user=alice")
        bob = Browser(alice.site, headers={"user-agent": IPHONE})
        bob.post("/login?user=bob")
        (bobs,) = json.loads(bob.get("/devices").text)
        assert alice.post(f"/revoke?handle={bobs['handle']}").text == "unknown"
        assert bob.get("/whoami").text == "bob"
        anonymous = Browser(alice.site)
        assert anonymous.post(f"/revoke?handle={bobs['handle']}").text == "unknown"
        assert json.loads(anonymous.get("/devices").text) == []
        assert bob.get("/whoami").text == "bob"

    def test_sign_out_everywhere_else_keeps_this_session(self, open_site: Open) -> None:
        desktop, phone = two_devices(open_site, DEVICES_ON)
        assert desktop.post("/revoke-others").text == "1"
        assert phone.get("/whoami").text == "anonymous"
        assert desktop.get("/whoami").text == "alice"
        assert [d["current"] for d in json.loads(desktop.get("/devices").text)] == [True]

    def test_forwarded_for_is_believed_only_with_proxy(self, open_site: Open) -> None:
        browser = open_site(options={"record_devices": True}, user_key="user")
        browser.headers.update({"user-agent": FIREFOX, "x-forwarded-for": "203.0.113.7"})
        browser.post("/login?user=alice")
        (device,) = json.loads(browser.get("/devices").text)
        assert device["ip"] != "203.0.113.7"  # the peer (None under a test client's fake one)
        assert device["ip"] in (None, "127.0.0.1")

    def test_with_proxy_the_last_forwarded_entry_is_the_client(self, open_site: Open) -> None:
        browser = open_site(options=DEVICES_ON, user_key="user")
        # The client wrote the first entry itself; the proxy appended the second.
        browser.headers.update({"user-agent": FIREFOX, "x-forwarded-for": "6.6.6.6, 203.0.113.7"})
        browser.post("/login?user=alice")
        (device,) = json.loads(browser.get("/devices").text)
        assert device["ip"] == "203.0.113.7"

    @pytest.mark.parametrize(
        ("record_ip", "forwarded", "recorded"),
        [
            ("truncated", "203.0.113.77", "203.0.113.0"),
            ("truncated", "2001:db8:1234:5678::1", "2001:db8:1234::"),
            ("none", "203.0.113.77", None),
        ],
    )
    def test_the_ip_is_truncated_or_not_recorded_as_asked(
        self, open_site: Open, db: Any, record_ip: str, forwarded: str, recorded: str | None
    ) -> None:
        options = {**DEVICES_ON, "record_ip": record_ip}
        browser = open_site(options=options, user_key="user")
        browser.headers.update({"user-agent": FIREFOX, "x-forwarded-for": forwarded})
        browser.post("/login?user=alice")
        (device,) = json.loads(browser.get("/devices").text)
        assert device["ip"] == recorded
        assert device["browser"] == "Firefox 125"
        assert db.sessions.find_one()["device"].get("ip") == recorded

    def test_recording_adds_no_write_within_touch_after(
        self, open_site: Open, command_log: CommandLog, db: Any, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        browser = open_site(options=DEVICES_ON, user_key="user", touch_after=TOUCH_AFTER)
        browser.headers.update({"user-agent": FIREFOX, "x-forwarded-for": "203.0.113.7"})
        browser.post("/login?user=alice")
        active = db.sessions.find_one()["device"]["lastActive"]
        command_log.clear()
        assert [browser.get("/whoami").text for _ in range(3)] == ["alice"] * 3
        assert command_log.writes == 0
        assert db.sessions.find_one()["device"]["lastActive"] == active
        _travel(monkeypatch, TOUCH_AFTER + 1)
        assert browser.get("/whoami").text == "alice"
        (update,) = command_log.commands("update")
        change = update["updates"][0]["u"]["$set"]
        assert set(change) >= {"expires", "device.lastActive"}
        assert "device" not in change  # the user agent and IP are not rewritten
        assert db.sessions.find_one()["device"]["lastActive"] > active

    def test_with_encryption_the_user_agent_and_ip_are_not_in_clear(
        self, open_site: Open, db: Any
    ) -> None:
        desktop, _ = two_devices(open_site, DEVICES_ON, encryption_keys=["k" * 32])
        raw = json.dumps(list(db.sessions.find()), default=str)
        for clear in ("Firefox", "iPhone", "203.0.113", "198.51.100"):
            assert clear not in raw
        listed = json.loads(desktop.get("/devices").text)
        assert {d["ip"] for d in listed} == {"203.0.113.7", "198.51.100.1"}


class TestASGI(BehaviourSuite):
    site_class = ASGISite


class TestFlask(BehaviourSuite):
    site_class = FlaskSite


class TestDjango(BehaviourSuite):
    site_class = DjangoSite


class TestAiohttp(BehaviourSuite):
    site_class = AiohttpSite


class TestLitestar(BehaviourSuite):
    site_class = LitestarSite


class TestQuart(BehaviourSuite):
    site_class = QuartSite
