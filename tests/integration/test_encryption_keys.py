"""Encryption keys at rest: nothing computable from a passphrase alone is ever stored.

Issue 11, finding 9: envelopes of the first format (``mse1``) named their key by
SHA-256 of PBKDF2(passphrase, a salt fixed in the code), so two deployments with one
passphrase shared key ids and a table built once from a wordlist mapped a dumped key
id to its passphrase. The second format (``mse2``) salts the derivation with random
bytes stored in the envelope and names the key with a value keyed by the derived key.

The formats are re-implemented from their documentation in tests/support/envelopes.py;
the Encryptor on its own is tests/unit/codecs/test_encryption.py's.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable
from typing import Any

import bson
import pytest

from mongosession.codecs import encryption as crypto
from tests.support.envelopes import (
    OTHER_PASSPHRASE,
    OTHER_RAW,
    PASSPHRASE,
    RAW,
    V2_KID,
    V2_NONCE,
    V2_SALT,
    b64url,
    unb64url,
    v1_key,
    v1_key_id,
    v1_seal,
    v2_open,
    v2_parse,
)
from tests.support.fixtures import Deployment
from tests.support.sessions import OTHER, SID, session
from tests.support.stores import StoreKit


def shared_chunks(a: bytes, b: bytes, size: int) -> set[bytes]:
    """Every ``size``-byte run found in both ``a`` and ``b``."""
    runs = {a[i : i + size] for i in range(len(a) - size + 1)}
    return {b[i : i + size] for i in range(len(b) - size + 1)} & runs


def stored(db: Any, sid: str = SID) -> Any:
    doc = db.sessions.find_one({"_id": sid})
    assert doc is not None
    return doc["session"]


@pytest.fixture
def second_db(
    mongodb: Deployment, mongo_client: Any, databases: Callable[[], str]
) -> tuple[str, Any]:
    """Another deployment's database: (its URI, the database), dropped afterwards."""
    name = databases()
    return mongodb.uri_of(name), mongo_client[name]


# -- nothing at rest is computable from the passphrase alone ---------------------------


def test_two_deployments_with_one_passphrase_store_nothing_in_common(
    kit: StoreKit, db: Any, second_db: tuple[str, Any]
) -> None:
    other_uri, other_db = second_db
    kit.store(encryption_keys=[PASSPHRASE]).set(SID, session(n=1))
    kit.store(uri=other_uri, encryption_keys=[PASSPHRASE]).set(SID, session(n=1))
    ours, theirs = stored(db), stored(other_db)

    # The text after the version tag: no key id (nor anything else) in common.
    assert not shared_chunks(ours[5:].encode(), theirs[5:].encode(), 8)
    salt_a, kid_a, _, _ = v2_parse(ours)
    salt_b, kid_b, _, _ = v2_parse(theirs)
    assert salt_a != salt_b
    assert kid_a != kid_b
    assert not shared_chunks(unb64url(ours[5:]), unb64url(theirs[5:]), 5)


def test_an_envelope_holds_nothing_computable_from_the_passphrase_alone(
    kit: StoreKit, db: Any
) -> None:
    store = kit.store(encryption_keys=[PASSPHRASE])
    store.set(SID, session(n=1))
    token = stored(db)
    at_rest = bson.encode(db.sessions.find_one({"_id": SID}))
    blob = unb64url(token[5:]) if token.startswith("mse2.") else b""

    old_key = v1_key(PASSPHRASE)
    old_kid = v1_key_id(PASSPHRASE)  # SHA-256(PBKDF2(passphrase, fixed salt)), 8 hex
    assert old_kid not in token
    assert bytes.fromhex(old_kid) not in at_rest + blob
    for constant in (
        old_key,
        hashlib.sha256(old_key).digest(),
        hashlib.sha256(b"mongosession-key-id" + old_key).digest(),
        hashlib.sha256(PASSPHRASE.encode()).digest(),
    ):
        for form in (constant[:4], constant.hex()[:8].encode(), b64url(constant)[:6].encode()):
            assert form not in at_rest + blob
            assert form.decode("latin-1") not in token
    # Whatever derivation is used, it is salted: a second deployment's envelope
    # (same passphrase, same session id) shares no 5-byte run with it.
    other = crypto.Encryptor([PASSPHRASE]).seal(b"s" + b"{}", SID.encode())
    assert blob
    assert not shared_chunks(blob, unb64url(other[5:]), 5)


@pytest.mark.parametrize("key", [PASSPHRASE, RAW], ids=["passphrase", "raw"])
@pytest.mark.parametrize("codec", ["json", "bson"])
def test_the_envelope_follows_the_documented_format(
    kit: StoreKit, db: Any, key: bytes | str, codec: str
) -> None:
    kit.store(codec=codec, encryption_keys=[key]).set(SID, session(secret="hunter2"))
    token = stored(db)
    assert "hunter2" not in token
    plain = v2_open(key, token, SID.encode())
    if codec == "json":
        assert plain[:1] == b"s"
        assert json.loads(plain[1:]) == session(secret="hunter2")
    else:
        assert plain[:1] == b"d"
        assert bson.decode(plain[1:])["secret"] == "hunter2"


def test_a_32_byte_key_salts_every_envelope_afresh(kit: StoreKit, db: Any) -> None:
    store = kit.store(encryption_keys=[RAW])
    store.set(SID, session(n=1))
    store.set(OTHER, session(n=1))
    (salt_a, kid_a, _, _), (salt_b, kid_b, _, _) = v2_parse(stored(db)), v2_parse(stored(db, OTHER))
    assert salt_a != salt_b
    assert kid_a != kid_b
    assert v1_key_id(RAW) not in stored(db)
    assert store.get(SID) == session(n=1)
    assert store.get(OTHER) == session(n=1)


# -- the previous format still opens ----------------------------------------------------


@pytest.mark.parametrize("key", [PASSPHRASE, RAW], ids=["passphrase", "raw"])
@pytest.mark.parametrize("codec", ["json", "bson"])
def test_envelopes_of_the_previous_format_still_open(
    kit: StoreKit, db: Any, key: bytes | str, codec: str
) -> None:
    # The document a store wrote before the upgrade: plain payload, sealed by hand
    # with the first format's algorithm.
    kit.store(codec=codec).set(SID, session(n=1, who="alice"))
    payload = stored(db)
    plain = b"s" + payload.encode() if codec == "json" else b"d" + bson.encode(payload)
    db.sessions.update_one({"_id": SID}, {"$set": {"session": v1_seal(key, plain, SID.encode())}})
    assert stored(db).startswith("mse1.")

    store = kit.store(codec=codec, encryption_keys=[key])
    loaded = store.get(SID)
    assert loaded == session(n=1, who="alice")
    # The next write re-seals it in the current format.
    loaded["n"] = 2
    assert store.save(SID, loaded)
    assert stored(db).startswith("mse2.")
    assert kit.store(codec=codec, encryption_keys=[key]).get(SID) == session(n=2, who="alice")


def test_a_previous_format_envelope_moved_to_another_id_does_not_open(
    kit: StoreKit, db: Any, caplog: pytest.LogCaptureFixture
) -> None:
    kit.store().set(OTHER, session(n=1))
    sealed = v1_seal(PASSPHRASE, b"s" + stored(db, OTHER).encode(), SID.encode())
    db.sessions.update_one({"_id": OTHER}, {"$set": {"session": sealed}})
    with caplog.at_level(logging.WARNING, logger="mongosession"):
        assert kit.store(encryption_keys=[PASSPHRASE]).get(OTHER) is None
    assert "failed authentication" in caplog.text


# -- rotation, both kinds -----------------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (OTHER_PASSPHRASE, PASSPHRASE),
        (OTHER_RAW, PASSPHRASE),
        (OTHER_PASSPHRASE, RAW),
        (OTHER_RAW, RAW),
    ],
    ids=["passphrases", "raw-to-passphrase", "passphrase-to-raw", "raw-keys"],
)
def test_rotation_reads_every_key_and_seals_with_the_first(
    kit: StoreKit, db: Any, old: bytes | str, new: bytes | str
) -> None:
    kit.store(encryption_keys=[old]).set(SID, session(n=1))
    kit.store().set(OTHER, session(m=1))
    legacy = v1_seal(old, b"s" + stored(db, OTHER).encode(), OTHER.encode())
    db.sessions.update_one({"_id": OTHER}, {"$set": {"session": legacy}})

    rotated = kit.store(encryption_keys=[new, old])
    assert rotated.get(OTHER) == session(m=1)  # first format, old key
    loaded = rotated.get(SID)  # current format, old key
    assert loaded == session(n=1)
    loaded["n"] = 2
    assert rotated.save(SID, loaded)
    v2_open(new, stored(db), SID.encode())  # sealed with the first key
    assert kit.store(encryption_keys=[new]).get(SID) == session(n=2)
    assert kit.store(encryption_keys=[old]).get(SID) is None


# -- cost: the slow derivation does not run per read -------------------------------------


def test_reads_do_not_rerun_the_slow_key_derivation(
    kit: StoreKit, monkeypatch: pytest.MonkeyPatch
) -> None:
    crypto.derive_key.cache_clear()
    calls: list[bytes] = []
    real = hashlib.pbkdf2_hmac

    def counting(name: str, secret: bytes, salt: bytes, rounds: int, *rest: Any) -> bytes:
        if secret in (PASSPHRASE.encode(), OTHER_PASSPHRASE.encode()):
            calls.append(salt)
        return real(name, secret, salt, rounds, *rest)

    monkeypatch.setattr(hashlib, "pbkdf2_hmac", counting)
    writer = kit.store(encryption_keys=[PASSPHRASE])
    sids = [f"sid-{i:02d}-" + "x" * 24 for i in range(10)]
    for sid in sids:
        writer.set(sid, session(sid=sid))
    # Another process, rotating: the writer's passphrase is its second key.
    reader = kit.store(encryption_keys=[OTHER_PASSPHRASE, PASSPHRASE])
    for _ in range(10):
        for sid in sids:
            assert reader.get(sid) == session(sid=sid)
    # The writer's salt for the writer; the reader's own salt for its first key;
    # the writer's salt for each of the reader's keys (the first does not match,
    # which is remembered too): four, never one per read.
    assert len(calls) <= 4, calls


def test_a_deployment_converges_on_one_salt(kit: StoreKit, db: Any) -> None:
    first = kit.store(encryption_keys=[PASSPHRASE])
    second = kit.store(encryption_keys=[PASSPHRASE])  # another process, another salt
    first.set("a" * 32, session(n=1))
    second.set("b" * 32, session(n=2))
    salt_a, salt_b = v2_parse(stored(db, "a" * 32))[0], v2_parse(stored(db, "b" * 32))[0]
    assert salt_a != salt_b
    assert first.get("b" * 32) == session(n=2)
    assert second.get("a" * 32) == session(n=1)
    # Having opened each other's envelopes, both seal with the same (the smaller)
    # salt: a new process costs its peers one derivation, not one per envelope.
    first.set("c" * 32, session(n=3))
    second.set("d" * 32, session(n=4))
    assert v2_parse(stored(db, "c" * 32))[0] == min(salt_a, salt_b)
    assert v2_parse(stored(db, "d" * 32))[0] == min(salt_a, salt_b)


def test_a_forged_envelope_is_refused_and_its_salt_never_adopted(
    kit: StoreKit, db: Any, caplog: pytest.LogCaptureFixture
) -> None:
    store = kit.store(encryption_keys=[PASSPHRASE])
    store.set(SID, session(n=1))
    ours = v2_parse(stored(db))[0]
    forged = "mse2." + b64url(bytes(V2_SALT) + os.urandom(V2_KID + V2_NONCE + 40))
    db.sessions.update_one({"_id": SID}, {"$set": {"session": forged}})
    with caplog.at_level(logging.WARNING, logger="mongosession"):
        assert store.get(SID) is None
    assert "unknown key" in caplog.text
    store.set(OTHER, session(n=2))
    assert v2_parse(stored(db, OTHER))[0] == ours  # not the all-zero salt
