"""express-session's per-request decisions, restated from its source: the decision table's oracle.

:func:`expected` says what express-session 1.18 (its ``index.js``: ``shouldSave``,
``shouldTouch``, ``shouldSetCookie``, ``shouldDestroy``, ``isModified``, ``isSaved``)
decides for a :class:`Case`, plus mongosession's documented departures from it.
tests/unit/web/test_rules.py checks ``RequestState`` against it without I/O;
tests/integration/reliability/test_properties.py checks the real exchange and store.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

from mongosession import _clock
from mongosession.web.config import SessionConfig, SessionCookie
from mongosession.web.cookies import encode_component, sign

SECRET = "reliability secret"
COOKIE = "connect.sid"

ACTIONS_WITHOUT_IO = ["none", "read", "modify", "rewrite_same", "touch", "set_max_age", "unset"]
ACTIONS_WITH_IO = [*ACTIONS_WITHOUT_IO, "regenerate", "regenerate_keep", "destroy"]


@dataclass(frozen=True)
class Case:
    resave: bool
    save_uninitialized: bool
    rolling: bool
    unset: str
    max_age: bool
    secure: bool
    https: bool
    presented: str  # "none" | "forged" | "unknown" | "stored"
    action: str


@dataclass(frozen=True)
class Outcome:
    save: str | None  # "create" | "update" | None
    touch: bool
    ends_stored: bool  # the presented, stored session is deleted
    set_cookie: bool
    clear_cookie: bool


def cases(actions: list[str]) -> st.SearchStrategy[Case]:
    return st.builds(
        Case,
        resave=st.booleans(),
        save_uninitialized=st.booleans(),
        rolling=st.booleans(),
        unset=st.sampled_from(["keep", "destroy"]),
        max_age=st.booleans(),
        secure=st.booleans(),
        https=st.booleans(),
        presented=st.sampled_from(["none", "forged", "unknown", "stored"]),
        action=st.sampled_from(actions),
    )


def expected(case: Case) -> Outcome:
    """What express-session 1.18 decides, restated from its source, then our departures.

    The hash is of the session without its cookie; ``savedHash`` is set on load only
    when ``resave`` is off; ``cookieId`` is the id the request presented (undefined
    when unsigned or badly signed).
    """
    loaded = case.presented == "stored"
    cookie_id = "presented" if case.presented in ("unknown", "stored") else None
    session_id = "presented" if loaded else "generated"
    original_id, original_hash = session_id, "loaded"
    saved_hash = "loaded" if loaded and not case.resave else None
    current_hash = "loaded"
    has_session = True
    expires_set = case.max_age
    ends_stored = False
    ended_cookie = False  # mongosession: the presented session ended during the request

    if case.action == "modify":
        current_hash = "modified"
    elif case.action == "set_max_age":
        expires_set = True  # the cookie changes; the hash (without the cookie) does not
    elif case.action == "unset":
        has_session = False
    elif case.action in ("regenerate", "regenerate_keep"):
        # store.destroy(old id), then a new id. Data dropped by express (kept by
        # regenerate_keep, mongosession's default, which stores the new id at once
        # and the old record's end in one store.regenerate): no difference to the
        # table.
        ends_stored = loaded
        ended_cookie = loaded
        session_id = "regenerated"
    elif case.action == "destroy":
        # express: store.destroy, req.session is gone for the rest of the request:
        # nothing is saved and no cookie is set, save_uninitialized or not. The
        # request goes on with a fresh empty session that is stored (and its
        # cookie sent) only if the handler writes to it, which it does not here;
        # mongosession's departure is only the cleared cookie, below.
        return Outcome(
            save=None,
            touch=False,
            ends_stored=loaded,
            set_cookie=False,
            clear_cookie=loaded,
        )

    if not has_session:
        destroys = case.unset == "destroy"
        return Outcome(
            save=None,
            touch=False,
            ends_stored=loaded and destroys,
            set_cookie=False,
            # mongosession's departure: clear the cookie of a session it destroyed.
            clear_cookie=destroys and cookie_id is not None,
        )

    is_modified = original_id != session_id or original_hash != current_hash
    is_saved = original_id == session_id and saved_hash == current_hash
    if not case.save_uninitialized and saved_hash is None and cookie_id != session_id:
        should_save = is_modified
    else:
        should_save = not is_saved
    should_touch = cookie_id == session_id and not should_save
    if cookie_id != session_id:
        set_cookie = case.save_uninitialized or is_modified
    else:
        set_cookie = case.rolling or (expires_set and is_modified)
    if set_cookie and case.secure and not case.https:
        set_cookie = False  # express never sends a Secure cookie over plain http
    save = None
    if should_save:
        save = "update" if loaded and session_id == "presented" else "create"
    return Outcome(
        save=save,
        touch=should_touch,
        ends_stored=ends_stored,
        set_cookie=set_cookie,
        # mongosession's departure: a presented session that ended, with no new
        # cookie to replace it, gets its cookie cleared.
        clear_cookie=ended_cookie and not set_cookie,
    )


def config_of(case: Case) -> SessionConfig:
    return SessionConfig(
        secret=SECRET,
        resave=case.resave,
        save_uninitialized=case.save_uninitialized,
        rolling=case.rolling,
        unset=case.unset,  # type: ignore[arg-type]
        max_age=3600 if case.max_age else None,
        secure=case.secure,
        same_site="lax",
    )


def cookie_header_of(case: Case, sid: str) -> str | None:
    if case.presented == "none":
        return None
    secret = "someone else's secret" if case.presented == "forged" else SECRET
    return f"{COOKIE}={encode_component(sign(sid, secret))}"


def stored_session(config: SessionConfig) -> dict[str, Any]:
    return {"cookie": SessionCookie.new(config, _clock.now()).to_json(), "n": 1}


def act(case: Case, session: Any) -> Any:
    """Apply an action without I/O; return what the request's session slot holds."""
    if case.action == "read":
        session.get("n")
    elif case.action == "modify":
        session["n"] = 99
    elif case.action == "rewrite_same":
        session.update(dict(session))
    elif case.action == "touch":
        session.cookie.reset_max_age(_clock.now())
    elif case.action == "set_max_age":
        session.cookie.max_age = 60
    elif case.action == "unset":
        return None
    return session


def every_case(actions: list[str], **fixed: Any) -> list[Case]:
    """The whole (finite) space of cases, or the part of it where ``fixed`` holds."""
    flags = ("resave", "save_uninitialized", "rolling", "max_age", "secure", "https")
    space = []
    for values in itertools.product([False, True], repeat=len(flags)):
        for unset, presented, action in itertools.product(
            ["keep", "destroy"], ["none", "forged", "unknown", "stored"], actions
        ):
            case = Case(
                **dict(zip(flags, values, strict=True)),
                unset=unset,
                presented=presented,
                action=action,
            )
            if all(getattr(case, k) == v for k, v in fixed.items()):
                space.append(case)
    return space
