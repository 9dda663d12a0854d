"""The Encryptor on its own (:mod:`mongosession.codecs.encryption`): errors, key ids, keys.

The envelope formats are re-implemented from their documentation in
tests/support/envelopes.py; what a store keeps at rest is
tests/integration/test_encryption_keys.py's.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

import pytest

from mongosession import DecryptionError
from mongosession.codecs import encryption as crypto
from tests.support.envelopes import (
    OTHER_PASSPHRASE,
    PASSPHRASE,
    RAW,
    V2_KID,
    v1_seal,
    v2_keys,
    v2_parse,
)


def test_errors_say_what_is_wrong() -> None:
    token = crypto.Encryptor([PASSPHRASE]).seal(b"s{}", b"id")
    with pytest.raises(DecryptionError, match="unknown key"):
        crypto.Encryptor([OTHER_PASSPHRASE]).open(token, b"id")
    with pytest.raises(DecryptionError, match="failed authentication"):
        crypto.Encryptor([PASSPHRASE]).open(token, b"another id")
    with pytest.raises(DecryptionError, match="truncated"):
        crypto.Encryptor([RAW]).open(token[:29], b"id")
    with pytest.raises(DecryptionError, match="base64"):
        crypto.Encryptor([RAW]).open("mse2.x", b"id")
    with pytest.raises(DecryptionError, match="not an encrypted"):
        crypto.Encryptor([RAW]).open('{"cookie": {}}', b"id")
    with pytest.raises(DecryptionError, match="not an encrypted"):
        crypto.Encryptor([RAW]).open({"cookie": {}}, b"id")


def test_the_key_id_is_keyed_by_the_derived_key() -> None:
    token = crypto.Encryptor([RAW]).seal(b"s{}", b"id")
    salt, kid, _, _ = v2_parse(token)
    assert kid == v2_keys(RAW, salt)[1]
    # Not a hash of the salt alone, nor of the raw key with a public label.
    assert kid != hashlib.sha256(salt).digest()[:V2_KID]
    assert kid != hmac.new(salt, b"mongosession/mse2 key id", "sha256").digest()[:V2_KID]


@pytest.mark.parametrize("keys", [[], "a passphrase", b"x" * 32, [b"short"], [""], [42]])
def test_bad_key_lists_are_refused(keys: Any) -> None:
    with pytest.raises(ValueError, match="encryption"):
        crypto.Encryptor(keys)


def test_envelopes_are_recognised_by_their_version_tag() -> None:
    assert crypto.is_envelope(crypto.Encryptor([RAW]).seal(b"s{}", b"id"))
    assert crypto.is_envelope(v1_seal(RAW, b"s{}", b"id"))
    assert not crypto.is_envelope('{"cookie": {}}')
    assert not crypto.is_envelope(None)
