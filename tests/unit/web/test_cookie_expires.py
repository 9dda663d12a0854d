"""Assigning ``session.cookie.expires`` is honoured, as express-session honours it.

Before issue 13 the end of the request recomputed the expiry from the original
``max_age``, undoing the assignment. Now, as express-session's ``Cookie``
setter does, the assignment makes the cookie's lifetime (``original_max_age``)
the time left until the date, and ``None`` a browser-session cookie. No I/O:
the cookie and the decision table; over a real store:
tests/conformance/test_express_session.py's ``.cookie > .expires`` cases.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from mongosession import StoredSession, _clock
from mongosession.web.config import SessionConfig, SessionCookie
from mongosession.web.rules import RequestState

CONFIG = SessionConfig(secret="s", max_age=60)
SID = "x" * 32


def set_cookie(state: RequestState, session: Any, plan: Any) -> str | None:
    headers = [v for k, v in state.cookie_headers(session, plan) if k == "set-cookie"]
    return headers[0] if headers else None


def test_assigning_a_date_makes_the_lifetime_the_time_left_until_it() -> None:
    cookie = SessionCookie.new(CONFIG, _clock.now())
    when = _clock.now() + timedelta(days=2)
    cookie.expires = when
    assert cookie.expires == when
    assert cookie.original_max_age is not None
    assert abs(cookie.original_max_age - 2 * 86400 * 1000) < 1000
    cookie.reset_max_age(_clock.now())  # the end of the request
    assert cookie.expires is not None
    assert abs((cookie.expires - when).total_seconds()) < 1


def test_assigning_none_makes_a_browser_session_cookie_that_stays_one() -> None:
    cookie = SessionCookie.new(CONFIG, _clock.now())
    cookie.expires = None
    assert cookie.original_max_age is None
    cookie.reset_max_age(_clock.now())
    assert cookie.expires is None
    assert "Expires" not in cookie.header("connect.sid", SID, b"s")
    assert cookie.to_json()["originalMaxAge"] is None


@pytest.mark.parametrize("value", [datetime(2030, 1, 1), "2030-01-01", 0])
def test_assigning_anything_but_an_aware_datetime_or_none_is_a_type_error(value: Any) -> None:
    cookie = SessionCookie.new(CONFIG, _clock.now())
    before = cookie.expires
    with pytest.raises(TypeError, match="timezone-aware datetime or None"):
        cookie.expires = value
    assert cookie.expires == before


def test_loading_a_stored_cookie_keeps_its_original_max_age() -> None:
    # express-session's createSession: "keep originalMaxAge intact".
    stored = {"originalMaxAge": 5000, "expires": "2030-01-01T00:00:00.000Z"}
    cookie = SessionCookie.from_json(stored, CONFIG, _clock.now())
    assert cookie.original_max_age == 5000
    assert cookie.expires == datetime(2030, 1, 1, tzinfo=timezone.utc)


def test_a_date_in_the_past_is_sent_as_it_is() -> None:
    state = RequestState(CONFIG, secure_request=False)
    session = state.new_session(None, _clock.now())
    session.cookie.expires = datetime(1970, 1, 1, tzinfo=timezone.utc)
    session["n"] = 1
    plan = state.plan(session, _clock.now())
    assert "Expires=Thu, 01 Jan 1970 00:00:00 GMT" in (set_cookie(state, session, plan) or "")


def test_an_assigned_date_is_what_the_stored_cookie_carries() -> None:
    state = RequestState(CONFIG, secure_request=False)
    session = state.new_session(None, _clock.now())
    when = _clock.now() + timedelta(hours=3)
    session.cookie.expires = when
    session["n"] = 1
    state.plan(session, _clock.now())
    stored = state.stored_form(session)["cookie"]
    assert abs(_clock.parse_js_iso(stored["expires"]) - when) < timedelta(seconds=1)
    assert abs(stored["originalMaxAge"] - 3 * 3600 * 1000) < 1000


def test_a_browser_session_cookie_is_not_sent_again_when_the_session_changes() -> None:
    # express-session sets the cookie of a known id only with rolling, or when it
    # has an expiry to refresh: a browser-session cookie needs no refresh.
    stored = StoredSession({"cookie": {"originalMaxAge": None, "expires": None}, "hit": 1})
    state = RequestState(CONFIG, secure_request=False)
    state.presented_sid(cookie_header=None, header_value=None)
    state.cookie_sid = SID
    session = state.loaded_session(SID, stored, None, _clock.now())
    session.cookie.expires = None
    session["hit"] = 2
    plan = state.plan(session, _clock.now())
    assert plan.update
    assert not plan.set_cookie


def test_max_age_assignment_still_restarts_the_lifetime() -> None:
    cookie = SessionCookie.new(CONFIG, _clock.now())
    cookie.expires = None
    cookie.max_age = 10
    assert cookie.original_max_age == 10_000
    assert cookie.max_age is not None
    assert 9 < cookie.max_age <= 10
