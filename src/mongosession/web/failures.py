"""What a session failure becomes: one :class:`Failure`, the same in every adapter.

The store or a session method can refuse a request's session work: the database
cannot answer, a concurrent request changed the same key, the user is over
``max_sessions_per_user``, the session ended while the request ran.
:func:`failure_for` decides, once for every adapter, which answer the client
gets instead of the handler's response (status, text, headers) and logs it; an
adapter (``asgi.py``, ``flask.py``, ``django.py``, ``aiohttp.py``) only turns
the :class:`Failure` into its framework's response. Any other exception is not
a session failure: ``failure_for`` returns None and the adapter lets it
propagate (the framework's own 500).

Whether a request that failed on its own (a 5xx response, a handler that raised)
saves its session is the rules' decision: :func:`mongosession.web.rules.saves_after`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from mongosession._errors import (
    SessionConflict,
    SessionEnded,
    SessionLimitReached,
    StoreUnavailable,
)
from mongosession._log import log

UNAVAILABLE_TEXT = "Service Unavailable: session store unavailable"
CONFLICT_TEXT = "Conflict: the session changed concurrently; retry"
LIMIT_TEXT = "Forbidden: too many sessions for this user"
ENDED_TEXT = "Conflict: the session ended while this request ran; sign in again"

#: Every failure's answer is personal to its session: no cache keeps it.
NO_STORE = ("cache-control", "no-store")

Headers = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Failure:
    """The answer to a session failure, sent instead of the handler's response.

    Attributes:
        status: 503 (the store cannot answer: fail closed, never an anonymous
            session), 409 (a same-key concurrent change, or the session ended
            while the request ran), or 403 (over ``max_sessions_per_user`` with
            ``on_session_limit="refuse"``).
        text: the plain-text body.
        headers: the headers to send with it, names in lower case: always
            ``Cache-Control: no-store``; for an ended session, the ``Set-Cookie``
            that clears the cookie (when the adapter's exchange knows the cookie).
        ends_session: the client's session is over: its cookie must be cleared
            (Django's adapter, which keeps Django's own cookie, clears it itself).
    """

    status: int
    text: str
    headers: Headers = (NO_STORE,)
    ends_session: bool = False


def failure_for(
    exc: BaseException,
    *,
    clearing_headers: Callable[[], Iterable[tuple[str, str]]] | None = None,
) -> Failure | None:
    """The :class:`Failure` answering ``exc``, logged; None when ``exc`` is no session failure.

    ``clearing_headers`` gives the headers that clear the session cookie; they
    are asked for only when the session ended.
    """
    if isinstance(exc, StoreUnavailable):
        log.error("session store unavailable: %s", exc)
        return Failure(503, UNAVAILABLE_TEXT)
    if isinstance(exc, SessionEnded):
        log.warning("session ended during the request: %s", exc)
        headers = list(clearing_headers()) if clearing_headers is not None else []
        if not any(name == "cache-control" for name, _ in headers):
            headers.append(NO_STORE)
        return Failure(409, ENDED_TEXT, tuple(headers), ends_session=True)
    if isinstance(exc, SessionConflict):
        log.warning("session conflict: %s", exc)
        return Failure(409, CONFLICT_TEXT)
    if isinstance(exc, SessionLimitReached):
        log.warning("session refused: %s", exc)
        return Failure(403, LIMIT_TEXT)
    return None
