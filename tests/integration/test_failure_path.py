"""One failure path: a failure is mapped once (web/failures.py), the save rule decided once (web/rules.py).

The rule of a failed request (:func:`~mongosession.web.rules.saves_after`) and
the mapping of a session failure to an answer
(:func:`~mongosession.web.failures.failure_for`) are checked here without I/O;
then each adapter is shown to render the same :class:`Failure` (tests/support/web.py's
Sites, one per framework, against a real server or a dead one). The behaviour
suite (tests/test_adapters.py) checks through every adapter that a 5xx response
or a handler that raised saves nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest

from mongosession import (
    CorruptSession,
    ReservedKey,
    SessionConflict,
    SessionEnded,
    SessionLimitReached,
    SessionTooLarge,
    StoreUnavailable,
)
from mongosession.testing.localdb import free_port
from mongosession.web.config import SessionConfig
from mongosession.web.failures import (
    CONFLICT_TEXT,
    ENDED_TEXT,
    LIMIT_TEXT,
    UNAVAILABLE_TEXT,
    Failure,
    failure_for,
)
from mongosession.web.rules import Plan, RequestState, saves_after
from mongosession.web.session import Session
from tests.support.monitoring import CommandLog
from tests.support.web import AiohttpSite, ASGISite, DjangoSite, FlaskSite, Site

# -- the rule of a failed request ---------------------------------------------------------


@pytest.mark.parametrize("status", [200, 201, 204, 301, 302, 303, 400, 401, 403, 404, 409, 499])
def test_a_response_below_500_is_committed(status: int) -> None:
    assert saves_after(status)


@pytest.mark.parametrize("status", [500, 502, 503, 504, 599])
def test_a_server_error_saves_nothing(status: int) -> None:
    assert not saves_after(status)


def test_a_handler_that_raised_saves_nothing() -> None:
    assert not saves_after(None)


def _changed_session(state: RequestState) -> Session[Any]:
    from mongosession import _clock

    session = state.new_session(None, _clock.now())
    session["n"] = 1
    return session


@pytest.mark.parametrize("status", [500, 503, None])
def test_the_plan_after_a_server_error_writes_nothing_and_sends_no_cookie(
    status: int | None,
) -> None:
    from mongosession import _clock

    config = SessionConfig(secret="s", rolling=True, unset="destroy", save_uninitialized=True)
    state = RequestState(config, secure_request=False)
    session = _changed_session(state)
    plan = state.plan(session, _clock.now(), status=status)
    assert plan == Plan()  # no create, update, touch or destroy; no cookie set or cleared
    assert [name for name, _ in state.cookie_headers(session, plan)] == ["vary"]


def test_the_plan_of_a_successful_response_saves_the_change() -> None:
    from mongosession import _clock

    state = RequestState(SessionConfig(secret="s"), secure_request=False)
    plan = state.plan(_changed_session(state), _clock.now(), status=200)
    assert plan.create
    assert plan.set_cookie


# -- the failure mapping ---------------------------------------------------------------------

NO_STORE = ("cache-control", "no-store")


@pytest.mark.parametrize(
    ("error", "status", "text"),
    [
        (StoreUnavailable("down"), 503, UNAVAILABLE_TEXT),
        (SessionConflict(["n"]), 409, CONFLICT_TEXT),
        (SessionLimitReached(3), 403, LIMIT_TEXT),
    ],
)
def test_a_session_failure_is_one_answer(error: Exception, status: int, text: str) -> None:
    assert failure_for(error) == Failure(status, text, (NO_STORE,), ends_session=False)


def test_an_ended_session_is_a_409_that_clears_the_cookie() -> None:
    clearing = [("set-cookie", "connect.sid=; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Path=/")]
    failure = failure_for(SessionEnded("gone"), clearing_headers=lambda: clearing)
    assert failure == Failure(409, ENDED_TEXT, (*clearing, NO_STORE), ends_session=True)


def test_an_ended_session_without_a_known_cookie_still_ends_it() -> None:
    # Django keeps its own cookie: its middleware deletes it from ends_session.
    failure = failure_for(SessionEnded("gone"))
    assert failure == Failure(409, ENDED_TEXT, (NO_STORE,), ends_session=True)


def test_the_clearing_headers_are_asked_for_only_when_the_session_ended() -> None:
    def never() -> list[tuple[str, str]]:
        raise AssertionError("asked for the clearing headers")

    for error in (StoreUnavailable("down"), SessionConflict(["n"]), SessionLimitReached(1)):
        assert failure_for(error, clearing_headers=never) is not None


@pytest.mark.parametrize(
    "error",
    [
        ReservedKey("cookie"),
        SessionTooLarge(2, 1),
        CorruptSession("x"),
        RuntimeError("a bug"),
        KeyError("n"),
    ],
)
def test_other_errors_are_no_session_failure(error: Exception) -> None:
    # Programming errors: the framework's own 500, never a 503 that hides them.
    assert failure_for(error) is None


def test_a_failure_is_logged_once_where_it_is_mapped(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="mongosession"):
        failure_for(StoreUnavailable("down"))
        failure_for(SessionConflict(["n"]))
    assert [r.levelname for r in caplog.records] == ["ERROR", "WARNING"]


# -- every adapter renders the same Failure ------------------------------------------------------

SITES: dict[str, type[Any]] = {
    "asgi": ASGISite,
    "flask": FlaskSite,
    "django": DjangoSite,
    "aiohttp": AiohttpSite,
}


@pytest.fixture(params=list(SITES))
def dead_site(request: pytest.FixtureRequest) -> Iterator[Site]:
    """An adapter's app whose database never answers."""
    uri = f"mongodb://127.0.0.1:{free_port()}/app"
    site: Site = SITES[request.param](uri, CommandLog(), timeout=0.3)
    yield site
    site.close()


def test_every_adapter_answers_a_store_it_cannot_load_from_with_the_failure(
    dead_site: Site,
) -> None:
    cookie = f"{dead_site.cookie_name}={dead_site.signed('a1b2c3d4e5f6g7h8i9j0')}"
    reply = dead_site.request("GET", "/whoami", cookie)
    assert reply.status == 503
    assert UNAVAILABLE_TEXT in reply.text  # Flask's is werkzeug's page carrying it
    assert "no-store" in reply.all("cache-control")
    assert reply.set_cookies == []


def test_every_adapter_answers_a_store_it_cannot_save_to_with_the_failure(
    dead_site: Site,
) -> None:
    reply = dead_site.request("GET", "/", None)  # a new session: the insert fails
    assert reply.status == 503
    assert UNAVAILABLE_TEXT in reply.text
    assert "no-store" in reply.all("cache-control")
    assert reply.set_cookies == []


def test_a_server_error_on_a_dead_store_is_the_handlers_500_not_a_503(dead_site: Site) -> None:
    # The handler's own failure saves nothing, so the dead store is never asked.
    reply = dead_site.request("GET", "/fail?status=500", None)
    assert reply.status == 500
    assert reply.text == "failed"
