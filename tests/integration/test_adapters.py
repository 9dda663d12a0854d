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


class BehaviourSuite:
    """What every adapter must do; a subclass names the Site to run it on."""

    site_class: type[Any]

    @pytest.fixture
    def open_site(self, test_uri: str, command_log: CommandLog) -> Iterator[Open]:
        """``open_site(**store_options, dead=False)`` -> a Browser on a new site."""
        sites: list[Site] = []

        def make(*, dead: bool = False, **store: Any) -> Browser:
            store.setdefault("ttl", LIFETIME)
            uri = test_uri
            if dead:  # nothing listens there: every operation fails within the timeout
                uri = f"mongodb://127.0.0.1:{free_port()}/app"
                store.setdefault("timeout", 0.5)
            site = self.site_class(uri, command_log, **store)
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
        browser, _ = logged_in(open_site)
        command_log.clear()
        assert browser.get("/whoami").text == "alice"
        (update,) = command_log.commands("update")
        change = update["updates"][0]["u"]["$set"]
        assert "expires" in change
        assert "session" not in change

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
