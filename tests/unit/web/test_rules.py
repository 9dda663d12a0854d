"""The decision table (:mod:`mongosession.web.rules`) follows express-session's rules.

``RequestState`` decides without I/O what a request does with its session (save,
touch, set or clear the cookie); tests/support/decisions.py restates what
express-session decides. All 3,584 cases, then a Hypothesis sample; the real exchange
over a real store is tests/integration/reliability/test_properties.py's.
"""

from __future__ import annotations

from hypothesis import given, settings

from mongosession import StoredSession, _clock
from mongosession.web.rules import Plan, RequestState
from tests.support.decisions import (
    ACTIONS_WITHOUT_IO,
    Case,
    Outcome,
    act,
    cases,
    config_of,
    cookie_header_of,
    every_case,
    expected,
    stored_session,
)

FAST = settings(max_examples=100, deadline=None)


def outcome_of_plan(case: Case, state: RequestState, plan: Plan, sid: str) -> Outcome:
    save = ("create" if plan.create else "update") if plan.create or plan.update else None
    return Outcome(
        save=save,
        touch=plan.touch,
        ends_stored=case.presented == "stored" and plan.destroy == sid,
        set_cookie=plan.set_cookie,
        clear_cookie=plan.clear_cookie,
    )


def planned(case: Case) -> Outcome:
    """RequestState's decision for ``case`` (the exchange's load, done without I/O)."""
    config = config_of(case)
    sid = "presented-session-id"
    state = RequestState(config, secure_request=case.https)
    presented = state.presented_sid(cookie_header=cookie_header_of(case, sid), header_value=None)
    now = _clock.now()
    if case.presented == "stored":
        assert presented == sid
        session = state.loaded_session(sid, StoredSession(stored_session(config)), None, now)
    else:
        session = state.new_session(None, now)
    plan = state.plan(act(case, session), now)
    return outcome_of_plan(case, state, plan, sid)


def test_the_decision_table_follows_express_session_in_every_case() -> None:
    # The space is finite (3,584 cases without I/O): all of it, not a sample.
    space = every_case(ACTIONS_WITHOUT_IO)
    wrong = [(case, planned(case), expected(case)) for case in space]
    wrong = [w for w in wrong if w[1] != w[2]]
    assert not wrong, f"{len(wrong)} of {len(space)} cases differ, first: {wrong[0]}"


@FAST
@given(case=cases(ACTIONS_WITHOUT_IO))
def test_the_decision_table_follows_express_session(case: Case) -> None:
    assert planned(case) == expected(case)
