"""The store's encryption envelopes, re-implemented from their documentation (docs/security.md).

With ``cryptography``'s HKDF rather than the library's own code, so that the tests check
the format, not the code against itself: the current format (``mse2``) and the first
(``mse1``), to show that envelopes written before the upgrade still open.
"""

from __future__ import annotations

import base64
import hashlib
import os
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

PASSPHRASE = "correct horse battery staple"
OTHER_PASSPHRASE = "tr0ub4dor&3"
RAW = bytes(range(32))
OTHER_RAW = bytes(range(100, 132))

# -- the formats, re-implemented ------------------------------------------------------

# mse1 (mongosession <= this fix): mse1.<8 hex key id>.<b64url(nonce | ct | tag)>
V1_SALT = b"mongosession/encryption-key/v1"
V1_ROUNDS = 310_000

# mse2: mse2.<b64url(salt 16 | key id 4 | nonce 12 | ct | tag 16)>
V2_ROUNDS = 600_000
V2_SALT, V2_KID, V2_NONCE, V2_TAG = 16, 4, 12, 16


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def v1_key(key: bytes | str) -> bytes:
    if isinstance(key, str):
        return hashlib.pbkdf2_hmac("sha256", key.encode(), V1_SALT, V1_ROUNDS, 32)
    return key


def v1_key_id(key: bytes | str) -> str:
    return hashlib.sha256(b"mongosession-key-id" + v1_key(key)).hexdigest()[:8]


def v1_seal(key: bytes | str, plain: bytes, aad: bytes) -> str:
    nonce = os.urandom(12)
    blob = nonce + AESGCM(v1_key(key)).encrypt(nonce, plain, aad)
    return f"mse1.{v1_key_id(key)}.{b64url(blob)}"


def v2_parse(token: Any) -> tuple[bytes, bytes, bytes, bytes]:
    """(salt, key id, nonce, ciphertext with tag) of an mse2 envelope."""
    assert isinstance(token, str)
    assert token.startswith("mse2."), token[:12]
    blob = unb64url(token[len("mse2.") :])
    assert len(blob) >= V2_SALT + V2_KID + V2_NONCE + V2_TAG
    salt, rest = blob[:V2_SALT], blob[V2_SALT:]
    kid, rest = rest[:V2_KID], rest[V2_KID:]
    return salt, kid, rest[:V2_NONCE], rest[V2_NONCE:]


def hkdf(ikm: bytes, salt: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=info).derive(ikm)


def v2_keys(key: bytes | str, salt: bytes) -> tuple[bytes, bytes]:
    """(AES-256 key, 4-byte key id) of ``key`` for an envelope salted with ``salt``."""
    if isinstance(key, str):
        ikm = hashlib.pbkdf2_hmac("sha256", key.encode(), salt, V2_ROUNDS, 32)
    else:
        ikm = key
    aes = hkdf(ikm, salt, b"mongosession/mse2 aes-256-gcm")
    kid = hkdf(ikm, salt, b"mongosession/mse2 key id")[:V2_KID]
    return aes, kid


def v2_open(key: bytes | str, token: str, aad: bytes) -> bytes:
    salt, kid, nonce, sealed = v2_parse(token)
    aes, expected = v2_keys(key, salt)
    assert kid == expected
    return AESGCM(aes).decrypt(nonce, sealed, aad)
