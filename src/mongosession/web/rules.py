"""express-session's decisions for one request, with no I/O.

:class:`RequestState` decides, from the options and what happened to the
session, whether to create, save, touch or destroy it and which cookie to send;
:func:`saves_after` decides whether a request that failed on its own saves
anything at all. The exchange (``web/asynchronous/exchange.py`` and its
generated blocking twin) carries the decision out, for every adapter.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from mongosession import _clock
from mongosession._ids import check_sid
from mongosession.store.documents import StoredSession
from mongosession.web.config import SessionConfig, SessionCookie, auto_same_site
from mongosession.web.cookies import read_cookie, sign, verified
from mongosession.web.session import Session, check_keys, session_fingerprint


def saves_after(status: int | None) -> bool:
    """Whether the end of a request may write its session: the rule of a failed request.

    ``status`` is the response's status, or None when the handler raised. A
    server error (status 500 and up) or a handler that raised saves nothing: no
    insert, update or touch, no ``unset="destroy"``, and no session cookie is set
    or cleared. The handler did not finish what it meant to do, so its half-made
    changes (a new session, a login's data) are not kept; a session method it
    called before failing (``regenerate()``, ``destroy()``, ``save()``) stays
    done. Any other response (a redirect, a 4xx) is committed as usual. Every
    adapter follows this rule.
    """
    return status is not None and status < 500


def is_secure(config: SessionConfig, *, https: bool, forwarded_proto: str | None) -> bool:
    """Whether the client reached us over HTTPS (``X-Forwarded-Proto`` trusted with ``proxy``)."""
    if config.proxy and forwarded_proto is not None:
        return forwarded_proto.partition(",")[0].strip().lower() == "https"
    return https


@dataclass
class Plan:
    """What the end of a request must do."""

    destroy: str | None = None  # a session id to delete (unset="destroy")
    create: bool = False  # insert a new session
    update: bool = False  # save a loaded one (update-only)
    touch: bool = False  # move the expiry
    set_cookie: bool = False
    clear_cookie: bool = False


class RequestState:
    """One request's session bookkeeping: express-session's decision table."""

    def __init__(
        self,
        config: SessionConfig,
        *,
        secure_request: bool,
        session_class: type[Session[Any]] = Session,
        request: Any = None,
    ) -> None:
        self.config = config
        self.secure_request = secure_request
        #: What the adapter gave as the request, for ``genid`` (None: nothing).
        self.request = request
        self.session_class = session_class  # an adapter's subclass (Flask's SessionMixin)
        self.cookie_sid: str | None = None  # the verified id the client presented
        self.original_id: str | None = None
        self.original_fp: bytes = b""
        self.saved_fp: bytes | None = None
        self.in_store = False  # the session's id has a stored document
        self.revision: Any = None
        self.last_modified: datetime | None = None
        self.ended_cookie = False  # the presented session ended during the request
        # ...by destroy(), or found ended: no new session unless written to.
        self.ended = False
        self.written = False  # saved during the request: no touch needed at the end

    # -- reading the request -------------------------------------------------

    def presented_sid(self, *, cookie_header: str | None, header_value: str | None) -> str | None:
        """The verified session id the request carries, or None.

        Reads the configured header instead of the cookie when ``header`` is
        set. Unsigned, badly signed or malformed values are ignored (a fresh
        session follows), never adopted.
        """
        config = self.config
        if config.header is not None:
            raw = header_value
        else:
            raw = read_cookie(cookie_header, config.name) if cookie_header else None
        if not raw or len(raw) > 1024:
            return None
        sid = verified(raw, config.secrets)
        if sid is None:
            return None
        try:
            self.cookie_sid = check_sid(sid)
        except ValueError:
            return None
        return sid

    def new_session(self, exchange: Any, now: datetime) -> Session[Any]:
        """A new, empty, unsaved session with a fresh id."""
        session = self.session_class(
            {}, sid=self.new_id(), cookie=self.new_cookie(now), exchange=exchange
        )
        self.adopt(session, in_store=False)
        return session

    def new_cookie(self, now: datetime) -> SessionCookie:
        """A fresh cookie from the options, for this request (``same_site="auto"``)."""
        return SessionCookie.new(self.config, now, secure_request=self.secure_request)

    def new_id(self) -> str:
        """An id from ``genid`` (given the request when it takes it), checked like any presented id."""
        return check_sid(self.config.new_id(self.request))

    def loaded_session(
        self, sid: str, stored: Mapping[str, Any], exchange: Any, now: datetime
    ) -> Session[Any]:
        """The session for a stored one (its ``cookie`` key becomes ``.cookie``)."""
        data = dict(stored)
        cookie = SessionCookie.from_json(
            data.pop("cookie", None), self.config, now, secure_request=self.secure_request
        )
        session = self.session_class(data, sid=sid, cookie=cookie, exchange=exchange)
        self.revision = getattr(stored, "revision", None)
        self.last_modified = getattr(stored, "last_modified", None)
        self.adopt(session, in_store=True)
        return session

    def adopt(self, session: Session[Any], *, in_store: bool) -> None:
        """Take ``session`` as the request's starting point."""
        self.original_id = session.id
        self.original_fp = session_fingerprint(session)
        self.in_store = in_store
        self.saved_fp = self.original_fp if in_store and not self.config.resave else None
        if not in_store:
            self.revision = None
            self.last_modified = None

    # -- the decision table ----------------------------------------------------

    # ``fingerprint``, where taken, is the session's current one when the caller
    # has it already: plan() computes it once instead of once per question.

    def modified(self, session: Session[Any], fingerprint: bytes | None = None) -> bool:
        """Changed since loaded or created: another id, or other content."""
        return (
            session.id != self.original_id
            or (fingerprint or session_fingerprint(session)) != self.original_fp
        )

    def saved(self, session: Session[Any], fingerprint: bytes | None = None) -> bool:
        """Stored as it is now (same id, same content as the last save or load)."""
        return (
            session.id == self.original_id
            and (fingerprint or session_fingerprint(session)) == self.saved_fp
        )

    def should_save(self, session: Session[Any], fingerprint: bytes | None = None) -> bool:
        """express-session's ``shouldSave``."""
        config = self.config
        if (
            (not config.save_uninitialized or self.ended)
            and self.saved_fp is None
            and self.cookie_sid != session.id
        ):
            return self.modified(session, fingerprint)
        return not self.saved(session, fingerprint)

    def plan(
        self, session: Session[Any] | None, now: datetime, *, status: int | None = 200
    ) -> Plan:
        """Decide what the end of the request does; ``session`` None means unset.

        ``status`` is the response's (None: the handler raised): after a server
        error nothing is done at all (:func:`saves_after`).
        """
        config = self.config
        if not saves_after(status):
            return Plan()
        if session is None:
            plan = Plan()
            if self.cookie_sid is not None and config.unset == "destroy":
                plan.destroy = self.cookie_sid
                plan.clear_cookie = True
            return plan
        check_keys(session)
        if config.secure == "auto":
            session.cookie.secure = self.secure_request
        if config.same_site == "auto":
            session.cookie.same_site = auto_same_site("auto", self.secure_request)
        session.cookie.reset_max_age(now)
        plan = Plan()
        fingerprint = session_fingerprint(session)
        if self.should_save(session, fingerprint):
            plan.create = not self.in_store
            plan.update = self.in_store
        else:
            plan.touch = self.in_store and self.cookie_sid == session.id and not self.written
        if self.cookie_sid != session.id:
            # A new id: sent when it is stored already (saved or regenerated
            # during the request), or will be; after a logout only if written to.
            plan.set_cookie = (
                (config.save_uninitialized and not self.ended)
                or self.in_store
                or self.modified(session, fingerprint)
            )
        else:
            plan.set_cookie = config.rolling or (
                session.cookie.expires is not None and self.modified(session, fingerprint)
            )
        if plan.set_cookie and session.cookie.secure and not self.secure_request:
            plan.set_cookie = False  # express-session never sends a Secure cookie over http
        if self.cookie_sid is not None and not plan.set_cookie and self.cookie_sid != session.id:
            # The presented session ended (destroy, regenerate) and no new one follows.
            plan.clear_cookie = self.ended_cookie
        return plan

    def mark_saved(self, session: Session[Any], written: StoredSession) -> None:
        """After a write: the session is stored as it is now."""
        self.in_store = True
        self.written = True
        self.original_id = session.id
        self.saved_fp = session_fingerprint(session)
        self.revision = written.revision
        self.last_modified = written.last_modified

    def stored_form(self, session: Session[Any]) -> StoredSession:
        """What the store keeps: the data plus the cookie (express-session's shape).

        A StoredSession carrying the revision read, so the store can merge
        concurrent changes and report the new revision back.

        Raises:
            ReservedKey: the data holds the key ``cookie`` (put there past the
                session's own checks, e.g. a plain dict in the ASGI session slot).
        """
        check_keys(session)
        data = {"cookie": session.cookie.to_json()}
        data.update(dict.items(session))
        return StoredSession(data, revision=self.revision, last_modified=self.last_modified)

    def touch_form(self, session: Session[Any]) -> StoredSession:
        """What ``store.touch`` needs: the cookie's expiry and lifetime, and the last write.

        The expiry stays a datetime, which the store takes as it is (BSON keeps
        milliseconds, as the JSON form does): formatting it for the store to parse
        back would cost more than the rest of a touch. The lifetime
        (``originalMaxAge``) sizes ``touch_after="auto"``'s window.
        """
        cookie = {
            "expires": session.cookie.expires,
            "originalMaxAge": session.cookie.original_max_age,
        }
        return StoredSession({"cookie": cookie}, last_modified=self.last_modified)

    def cookie_headers(self, session: Session[Any] | None, plan: Plan) -> list[tuple[str, str]]:
        """Response headers for the plan: Set-Cookie (or the id header) and caching rules."""
        config = self.config
        headers: list[tuple[str, str]] = []
        if plan.set_cookie and session is not None:
            if config.header is not None:
                headers.append((config.header, sign(session.id, config.secrets[0])))
            else:
                headers.append(
                    (
                        "set-cookie",
                        session.cookie.header(config.name, session.id, config.secrets[0]),
                    )
                )
        elif plan.clear_cookie and config.header is None:
            cookie = session.cookie if session is not None else self.new_cookie(_clock.now())
            headers.append(("set-cookie", cookie.clearing_header(config.name)))
        if headers:
            headers.append(("cache-control", "no-store"))
        if (session is not None and session.accessed) or self.cookie_sid is not None:
            headers.append(("vary", "Cookie" if config.header is None else config.header))
        return headers
