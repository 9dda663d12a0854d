"""Rotating the ``hash_ids`` key without logging everyone out.

``hash_ids=[new, old]``: new sessions and logins are stored under the new key's
hash; a session made under the old key is found under it, keeps living there (its
saves and touches go to the document it was read from, never to a copy under the
new key) and ends there. Once the old sessions have ended, the old key goes. Before
this, ``hash_ids`` took one key and changing it ended every session
(docs/rotation.md#the-hash_ids-key).

Through every adapter on a real server (the reliability ``serve`` fixture), then the
store's own cases in both flavours: the races with a logout, ``set``, encryption.
"""

from __future__ import annotations

from typing import Any

from mongosession._ids import hashed_sid
from tests.integration.reliability.conftest import Serve
from tests.support.sessions import OTHER, SID, session
from tests.support.stores import StoreKit

OLD = b"the old hash_ids key, 32 bytes.."
NEW = b"the new hash_ids key, 32 bytes.."
ENCRYPTION_KEY = bytes(range(32))


def ids_under(db: Any) -> list[str]:
    return sorted(doc["_id"] for doc in db.sessions.find({}, {"_id": 1}))


def test_a_session_made_under_the_old_key_lives_on_after_the_rotation(
    serve: Serve, test_uri: str, db: Any
) -> None:
    before = serve(test_uri, hash_ids=OLD, user_key="user")
    alice = before.browser()
    assert alice.post("/login?user=alice").text == "welcome"
    assert alice.get("/").text == "1"
    [alice_id] = ids_under(db)
    cookie = alice.session_cookie
    assert cookie is not None

    # The rotation: the new key first, the old one to find the sessions it made.
    after = serve(test_uri, hash_ids=[NEW, OLD], user_key="user")
    alice = after.browser(cookie)
    assert alice.get("/whoami").text == "alice"
    assert alice.get("/").text == "2"  # saved where it was read: no copy, no reset
    assert alice.get("/").text == "3"
    assert ids_under(db) == [alice_id]

    bob = after.browser()
    assert bob.post("/login?user=bob").text == "welcome"
    bob_id = db.sessions.find_one({"user": "bob"})["_id"]
    assert bob_id != alice_id
    # Bob's session is under the new key: the old key alone does not find it...
    only_old = serve(test_uri, hash_ids=OLD, user_key="user")
    assert only_old.browser(bob.session_cookie).get("/whoami").text == "anonymous"
    assert only_old.browser(cookie).get("/whoami").text == "alice"

    # ...and a logout during the rotation ends the old-key session for good.
    assert alice.post("/logout").text == "bye"
    assert ids_under(db) == [bob_id]
    for app in (after, before):
        assert app.browser(cookie).get("/whoami").text == "anonymous"
    assert ids_under(db) == [bob_id]  # the stale cookie wrote nothing anywhere

    # The rotation is over: the new key alone keeps Bob signed in.
    done = serve(test_uri, hash_ids=NEW, user_key="user")
    assert done.browser(bob.session_cookie).get("/whoami").text == "bob"


def test_a_login_during_the_rotation_moves_the_session_to_the_new_key(
    serve: Serve, test_uri: str, db: Any
) -> None:
    before = serve(test_uri, hash_ids=OLD, user_key="user")
    carol = before.browser()
    assert carol.get("/").text == "1"  # an anonymous session under the old key
    [old_id] = ids_under(db)
    old_cookie = carol.session_cookie

    after = serve(test_uri, hash_ids=[NEW, OLD], user_key="user")
    carol = after.browser(old_cookie)
    assert carol.post("/login?user=carol").text == "welcome"  # regenerate
    [new_id] = ids_under(db)
    assert new_id != old_id
    assert carol.session_cookie != old_cookie
    assert (
        serve(test_uri, hash_ids=NEW, user_key="user")
        .browser(carol.session_cookie)
        .get("/whoami")
        .text
        == "carol"
    )
    assert after.browser(old_cookie).get("/whoami").text == "anonymous"


def test_destroy_user_during_the_rotation_ends_sessions_under_either_key(
    serve: Serve, test_uri: str, db: Any
) -> None:
    before = serve(test_uri, hash_ids=OLD, user_key="user")
    first = before.browser()
    assert first.post("/login?user=dave").text == "welcome"
    after = serve(test_uri, hash_ids=[NEW, OLD], user_key="user")
    second = after.browser()
    assert second.post("/login?user=dave").text == "welcome"
    assert len(ids_under(db)) == 2
    assert first.get("/whoami").text == "dave"
    assert after.store.destroy_user("dave") == 2  # "log out everywhere"
    assert ids_under(db) == []
    for browser in (first, second):
        assert after.browser(browser.session_cookie).get("/whoami").text == "anonymous"


# -- the store ---------------------------------------------------------------------------------


def test_hash_ids_takes_a_list_of_keys_the_first_for_new_sessions(kit: StoreKit, db: Any) -> None:
    old = kit.store(hash_ids=OLD)
    old.set(SID, session(n=1))
    rotating = kit.store(hash_ids=[NEW, OLD])
    rotating.set(OTHER, session(n=1))
    assert ids_under(db) == sorted([hashed_sid(OLD, SID), hashed_sid(NEW, OTHER)])
    loaded = rotating.get(SID)
    assert loaded is not None
    assert loaded["n"] == 1
    assert loaded.storage_id == hashed_sid(OLD, SID)
    loaded["n"] = 2
    assert rotating.save(SID, loaded)
    # set() (express-session's upsert) of an old-key session writes where it lives,
    # even given a plain dict: no second document under the new key.
    rotating.set(SID, session(n=3))
    rotating.touch(SID, session(n=3))
    assert ids_under(db) == sorted([hashed_sid(OLD, SID), hashed_sid(NEW, OTHER)])
    assert old.get(SID)["n"] == 3
    assert rotating.destroy(SID) is True
    assert rotating.destroy(SID) is False
    assert ids_under(db) == [hashed_sid(NEW, OTHER)]


def test_none_in_the_keys_turns_hashing_on_without_ending_plain_sessions(
    kit: StoreKit, db: Any
) -> None:
    plain = kit.store()
    plain.set(SID, session(n=1))
    hashing = kit.store(hash_ids=[NEW, None])
    assert hashing.get(SID)["n"] == 1
    hashing.set(OTHER, session(n=1))
    assert ids_under(db) == sorted([SID, hashed_sid(NEW, OTHER)])
    assert hashing.destroy(SID) is True
    assert ids_under(db) == [hashed_sid(NEW, OTHER)]


def test_an_encrypted_session_opens_under_the_key_it_was_made_with(kit: StoreKit, db: Any) -> None:
    # The payload's ciphertext is bound to its _id: it must stay under that _id.
    options: dict[str, Any] = {"encryption_keys": [ENCRYPTION_KEY], "touch_after": 0}
    kit.store(hash_ids=OLD, **options).set(SID, session(secret="a plaintext secret"))
    rotating = kit.store(hash_ids=[NEW, OLD], **options)
    loaded = rotating.get(SID)
    assert loaded is not None
    assert loaded["secret"] == "a plaintext secret"
    loaded["more"] = 1
    assert rotating.save(SID, loaded)
    assert kit.store(hash_ids=OLD, **options).get(SID)["more"] == 1
    assert "plaintext" not in repr(list(db.sessions.find()))


def test_regenerate_from_an_old_key_session_after_a_logout_writes_nothing(
    kit: StoreKit, db: Any
) -> None:
    kit.store(hash_ids=OLD).set(SID, session(user="erin"))
    rotating = kit.store(hash_ids=[NEW, OLD], user_key="user")
    held = rotating.get(SID)
    assert rotating.destroy(SID) is True  # the logout, while a request holds the session
    assert rotating.regenerate(SID, OTHER, held) is False
    assert ids_under(db) == []


def test_destroy_user_keep_spares_a_session_under_either_key(kit: StoreKit, db: Any) -> None:
    kit.store(hash_ids=OLD, user_key="user").set(SID, session(user="dave"))
    rotating = kit.store(hash_ids=[NEW, OLD], user_key="user")
    rotating.set(OTHER, session(user="dave"))
    assert rotating.destroy_user("dave", keep=SID) == 1  # keep= takes the id, any key
    assert ids_under(db) == [hashed_sid(OLD, SID)]
    rotating.set(OTHER, session(user="dave"))
    assert rotating.destroy_user("dave", keep=OTHER) == 1
    assert ids_under(db) == [hashed_sid(NEW, OTHER)]
