"""``set`` never brings back a flagged session, whatever ``delete_flags`` says.

Without ``delete_flags`` its upsert filters by ``_id`` alone (the server's fast
path), so a session flagged by ``flag_deletion()`` may get the new data; the flag
stays, so the session stays gone. With ``delete_flags`` the flagged document is
left exactly as it is (``test_store.py``)."""

from __future__ import annotations

from typing import Any

from tests._stores import StoreKit
from tests.test_store import SID, session


def test_set_never_unflags_a_session_flagged_without_delete_flags(kit: StoreKit, db: Any) -> None:
    store = kit.store()
    store.set(SID, session(n=1))
    assert store.flag_deletion(SID) == 1
    store.set(SID, session(n=2))
    store.touch(SID, session())
    assert store.get(SID) is None
    assert store.length() == 0
    (doc,) = db.sessions.find()
    assert doc["deleted"] is True
    assert store.cleanup() == 1
    assert db.sessions.count_documents({}) == 0
