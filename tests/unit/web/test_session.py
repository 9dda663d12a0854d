"""The session object (:mod:`mongosession.web.session`) refuses the library's key ``cookie``.

Security review finding 5 (issue 11); through every adapter on a real server:
tests/integration/reliability/test_reserved_key.py.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from mongosession import ReservedKey
from mongosession.web.config import SessionCookie
from mongosession.web.session import Session


def test_the_session_refuses_the_key_every_way_and_changes_nothing() -> None:
    session = Session({"n": 1}, sid="x" * 32, cookie=SessionCookie(), exchange=None)
    attempts: list[Callable[[], object]] = [
        lambda: session.__setitem__("cookie", 1),
        lambda: session.update(cookie=1),
        lambda: session.update({"a": 1, "cookie": 1}),
        lambda: session.update([("a", 1), ("cookie", 1)]),
        lambda: session.setdefault("cookie", 1),
        lambda: session.__ior__({"a": 1, "cookie": 1}),
    ]
    for attempt in attempts:
        with pytest.raises(ReservedKey, match="'cookie' is reserved"):
            attempt()
    assert dict(session) == {"n": 1}  # all or nothing: "a" was not put in either
    with pytest.raises(KeyError):
        session["cookie"]
    assert session.get("cookie") is None
    session |= {"a": 2}
    session.update([("b", 3)], c=4)
    assert isinstance(session, Session)
    assert dict(session) == {"n": 1, "a": 2, "b": 3, "c": 4}
