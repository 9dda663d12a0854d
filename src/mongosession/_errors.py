"""Exceptions raised by mongosession.

Every exception derives from :class:`MongoSessionError`; where a built-in
exception describes the same kind of mistake (a wrong type, a bad value), the
exception derives from it too, so ``except ValueError`` keeps working.
"""

from __future__ import annotations


class MongoSessionError(Exception):
    """Base class of every error raised by mongosession."""


class ConfigurationError(MongoSessionError, ValueError):
    """An option the store, the session middleware or an adapter cannot work with.

    Raised when the object is made (at start-up), never per request: a bad value
    (``ttl=0``, ``same_site="none"`` without ``secure``, an empty ``secret``),
    a missing setting (Flask's ``SECRET_KEY``), or options that contradict each
    other. A ``ValueError`` too, as these were before it existed. Example::

        try:
            SessionMiddleware(app, store=store, secret="")
        except ConfigurationError as exc:
            sys.exit(f"bad session settings: {exc}")
    """


class ConfigurationTypeError(ConfigurationError, TypeError):
    """An option of the wrong type (a blocking store where an async one belongs, say).

    A :class:`ConfigurationError`, and a ``TypeError`` as Python's own calls raise
    for a wrong argument type (so ``except TypeError`` keeps working).
    """


class StoreUnavailable(MongoSessionError):
    """The database could not be reached, or did not answer within the timeout.

    Raised instead of returning "no session", so that callers fail closed: an
    adapter turns it into HTTP 503 rather than serving an anonymous session.
    """


class SessionTooLarge(MongoSessionError, ValueError):
    """The encoded session is larger than the store's ``max_size``.

    Nothing was written: the stored document is unchanged.
    """

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"encoded session is {size} bytes, over the store's max_size of {limit}")
        self.size = size
        self.limit = limit


class SessionEncodingError(MongoSessionError, TypeError):
    """The session holds a value the configured codec cannot store."""


class CorruptSession(MongoSessionError, ValueError):
    """A stored payload could not be decoded (garbage, foreign format, wrong key).

    The store never executes stored data; it logs this event and treats the
    session as absent.
    """


class DecryptionError(CorruptSession):
    """No configured encryption key could authenticate a stored payload."""


class SessionConflict(MongoSessionError):
    """A concurrent request changed the same session key to a different value.

    Changes to different keys are merged; only a true same-key conflict is
    surfaced, so that no update is lost silently.
    """

    def __init__(self, keys: list[str]) -> None:
        super().__init__(f"session keys changed concurrently: {', '.join(sorted(keys))}")
        self.keys = keys


class SessionEnded(MongoSessionError):
    """The request's session ended (logout, revoke, expiry) while the request ran.

    Raised by ``regenerate()`` (and Django's ``cycle_key()``) when the record it
    would replace is no longer live: nothing was written, the session the
    request holds is now new and empty, and the response clears the cookie.
    Uncaught, the adapters answer 409 with the cookie cleared.
    """


class ReservedKey(MongoSessionError, KeyError):
    """A session key the store keeps for itself (``cookie``) was assigned.

    ``session["cookie"]`` is the express-session cookie object in the stored
    document; a value of the application's there would be lost or would move
    the session's expiry, so it is refused. Use ``session.cookie`` for the
    cookie, and another key for the application's data.
    """

    def __str__(self) -> str:  # KeyError would show the repr of the message
        return str(self.args[0]) if self.args else "reserved session key"


class SessionIdCollision(MongoSessionError):
    """``create`` was asked to insert a session id that already exists."""


class SessionLimitReached(MongoSessionError):
    """The user has ``max_sessions_per_user`` sessions already (``on_session_limit="refuse"``).

    Nothing was written for the new session. The ASGI middleware answers 403.
    """

    def __init__(self, limit: int) -> None:
        super().__init__(f"the user has the most sessions allowed ({limit}); log out of one")
        self.limit = limit


class IndexSetupError(MongoSessionError):
    """The store's indexes could not be created."""


class IndexConflict(IndexSetupError):
    """An index with the store's index name exists with different options."""


class IndexPermissionError(IndexSetupError):
    """The database user may not create indexes.

    Create them once with an account that may (``mongosession ensure-indexes``
    or :meth:`MongoStore.ensure_indexes`), then pass ``create_indexes=False``.
    """


class ChangeStreamsUnsupported(MongoSessionError):
    """The deployment cannot run change streams, so :meth:`MongoStore.watch` cannot work.

    Change streams need a replica set or a sharded cluster (a single-node
    replica set will do); a standalone ``mongod`` has no oplog to follow.
    """
