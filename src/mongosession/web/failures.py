"""What the framework adapters share: the request's scheme and the answer to a store failure.

The adapters (``asgi.py``, ``flask.py``, ``django.py``, ``aiohttp.py``) only
translate a framework's request and response; the session rules live in
:mod:`mongosession.web.rules` and the I/O in the exchange. This holds the few lines all of them would
otherwise repeat.
"""

from __future__ import annotations

import logging

from mongosession._errors import (
    SessionConflict,
    SessionEnded,
    SessionLimitReached,
    StoreUnavailable,
)
from mongosession.web.config import SessionConfig

log = logging.getLogger("mongosession")

UNAVAILABLE_TEXT = "Service Unavailable: session store unavailable"
CONFLICT_TEXT = "Conflict: the session changed concurrently; retry"
LIMIT_TEXT = "Forbidden: too many sessions for this user"
ENDED_TEXT = "Conflict: the session ended while this request ran; sign in again"


def failure_status(exc: BaseException) -> tuple[int, str] | None:
    """The error response (status, text) for a session failure, logged; None for others.

    A store that cannot answer fails closed with 503, never an anonymous
    session; a same-key conflict between concurrent requests is 409; a login
    over ``max_sessions_per_user`` with ``on_session_limit="refuse"`` is 403; a
    session that ended while the request ran (``regenerate()`` after a logout
    elsewhere) is 409, its cookie cleared.
    """
    if isinstance(exc, StoreUnavailable):
        log.error("session store unavailable: %s", exc)
        return 503, UNAVAILABLE_TEXT
    if isinstance(exc, SessionEnded):
        log.warning("session ended during the request: %s", exc)
        return 409, ENDED_TEXT
    if isinstance(exc, SessionConflict):
        log.warning("session conflict: %s", exc)
        return 409, CONFLICT_TEXT
    if isinstance(exc, SessionLimitReached):
        log.warning("session refused: %s", exc)
        return 403, LIMIT_TEXT
    return None


def is_secure(config: SessionConfig, *, https: bool, forwarded_proto: str | None) -> bool:
    """Whether the client reached us over HTTPS (``X-Forwarded-Proto`` trusted with ``proxy``)."""
    if config.proxy and forwarded_proto is not None:
        return forwarded_proto.partition(",")[0].strip().lower() == "https"
    return https
