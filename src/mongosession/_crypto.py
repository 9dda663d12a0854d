"""Authenticated encryption of stored sessions: AES-256-GCM, versioned envelope.

Envelope (a string, so it stores the same with every codec)::

    mse1.<key id: 8 hex>.<base64url(12-byte nonce | ciphertext | 16-byte tag)>

The stored ``_id`` is the associated data, so a ciphertext copied onto another
session's document fails to authenticate. The first key encrypts; every key
decrypts (rotation). Needs the ``crypto`` extra (``cryptography``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from collections.abc import Sequence
from functools import lru_cache
from typing import TYPE_CHECKING

from ._errors import DecryptionError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_PREFIX = "mse1."
_PBKDF2_SALT = b"mongosession/encryption-key/v1"
_PBKDF2_ROUNDS = 310_000


@lru_cache(maxsize=4096)  # a few hundred bytes an entry
def derive_key(
    hash_name: str, secret: bytes, salt: bytes, iterations: int, length: int = 32
) -> bytes:
    """PBKDF2-HMAC, memoised: the same inputs are derived once per process.

    Formats with a salt per message (connect-mongo's kruptein) hit the cache
    each time the same stored session is read again.
    """
    return hashlib.pbkdf2_hmac(hash_name, secret, salt, iterations, length)


def load_aesgcm() -> type[AESGCM]:
    """The AES-GCM class of ``cryptography``, or an ImportError naming the extra."""
    try:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    except ImportError:  # pragma: no cover - depends on the installed extras
        raise ImportError(
            "encryption needs the 'crypto' extra: pip install 'mongosession[crypto]'"
        ) from None
    return AESGCM


def _derive(passphrase: str) -> bytes:
    # Derived once per process per passphrase, never per request.
    return derive_key("sha256", passphrase.encode(), _PBKDF2_SALT, _PBKDF2_ROUNDS)


def _key_bytes(key: bytes | str) -> bytes:
    if isinstance(key, str):
        if not key:
            raise ValueError("an encryption passphrase must not be empty")
        return _derive(key)
    if isinstance(key, (bytes, bytearray)) and len(key) == 32:
        return bytes(key)
    raise ValueError("an encryption key is 32 bytes, or a str passphrase")


def _key_id(key: bytes) -> str:
    # Names the key that sealed a payload without revealing anything usable.
    return hashlib.sha256(b"mongosession-key-id" + key).hexdigest()[:8]


class Encryptor:
    """Seal and open payloads with a list of keys; the first one seals.

    Example::

        enc = Encryptor([new_key, old_key])
        token = enc.seal(b"data", aad=b"sid")
        assert enc.open(token, aad=b"sid") == b"data"
    """

    def __init__(self, keys: Sequence[bytes | str]) -> None:
        if isinstance(keys, (str, bytes)) or not keys:
            raise ValueError("encryption_keys must be a non-empty list of keys")
        aead = load_aesgcm()
        raw = [_key_bytes(k) for k in keys]
        self._sealer = (_key_id(raw[0]), aead(raw[0]))
        self._openers: dict[str, list[AESGCM]] = {}
        for k in raw:
            self._openers.setdefault(_key_id(k), []).append(aead(k))

    def seal(self, plaintext: bytes, aad: bytes) -> str:
        """Encrypt and authenticate ``plaintext`` bound to ``aad``."""
        kid, aead = self._sealer
        nonce = os.urandom(12)
        blob = nonce + aead.encrypt(nonce, plaintext, aad)
        return _PREFIX + kid + "." + base64.urlsafe_b64encode(blob).rstrip(b"=").decode()

    def open(self, token: object, aad: bytes) -> bytes:
        """Return the plaintext of ``token``.

        Raises:
            DecryptionError: not an envelope of this format, sealed with no
                configured key, tampered with, or bound to another ``aad``.
        """
        from cryptography.exceptions import InvalidTag

        if not isinstance(token, str) or not token.startswith(_PREFIX):
            raise DecryptionError("stored session is not an encrypted mongosession envelope")
        kid, _, body = token[len(_PREFIX) :].partition(".")
        openers = self._openers.get(kid)
        if openers is None:
            raise DecryptionError(f"stored session was sealed with an unknown key (id {kid})")
        try:
            blob = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        except (binascii.Error, ValueError):
            raise DecryptionError("encrypted envelope is not valid base64") from None
        if len(blob) < 12 + 16:
            raise DecryptionError("encrypted envelope is truncated")
        for aead in openers:
            try:
                plain: bytes = aead.decrypt(blob[:12], blob[12:], aad)
                return plain
            except InvalidTag:
                continue
        raise DecryptionError("encrypted session failed authentication (tampered or moved)")
