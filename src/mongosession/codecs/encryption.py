"""Authenticated encryption of stored sessions: AES-256-GCM, versioned envelope.

Envelope (a string, so it stores the same with every codec)::

    mse2.<base64url(salt 16 | key id 4 | nonce 12 | ciphertext | tag 16)>

For each configured key and each ``salt`` (16 random bytes)::

    ikm    = key                                                  a 32-byte key
           = PBKDF2-HMAC-SHA256(passphrase UTF-8, salt, 600,000)  a str passphrase
    aes    = HKDF-SHA256(ikm, salt, info="mongosession/mse2 aes-256-gcm")
    key id = HKDF-SHA256(ikm, salt, info="mongosession/mse2 key id")[:4]

Nothing stored is computable from a key or passphrase alone: the salt is random,
and the key id is keyed by the salted derivation, so two deployments with one
passphrase share nothing and a table built once from a wordlist matches nothing.
A 32-byte key gets a fresh salt per envelope (its derivation is cheap). A
passphrase's salt is drawn once per :class:`Encryptor` and derived once (the slow
part); a reader derives once per salt it meets and caches it, and after opening
an envelope of the sealing key with a smaller salt, seals with that one too, so the
processes of one deployment converge on one salt instead of costing each other a
derivation per process.

The stored ``_id`` is the associated data, so a ciphertext copied onto another
session's document fails to authenticate. The first key encrypts; every key
decrypts (rotation). Envelopes of the first format, ``mse1.<key id: 8 hex>.
<base64url(nonce 12 | ciphertext | tag 16)>`` (key: the 32 bytes, or PBKDF2 of the
passphrase with a salt fixed in the code; key id: a plain hash of that key), still
open; every write seals in the current format. Needs the ``crypto`` extra.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import threading
from collections.abc import Sequence
from functools import lru_cache
from typing import TYPE_CHECKING

from mongosession._errors import DecryptionError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

PREFIX = "mse2."
#: Every version tag :meth:`Encryptor.open` reads, newest first.
PREFIXES = (PREFIX, "mse1.")

PASSPHRASE_ROUNDS = 600_000  # PBKDF2-HMAC-SHA256, OWASP's figure (2023)
_SALT = 16
_KID = 4
_NONCE = 12
_TAG = 16
_AES_INFO = b"mongosession/mse2 aes-256-gcm"
_KID_INFO = b"mongosession/mse2 key id"
_CACHED_SALTS = 1024  # (key, salt) derivations kept per Encryptor, ~200 bytes each

# The first format (mse1): read, never written.
_V1_PREFIX = "mse1."
_V1_SALT = b"mongosession/encryption-key/v1"
_V1_ROUNDS = 310_000


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


def is_envelope(value: object) -> bool:
    """Whether a stored ``session`` value is an envelope of any version."""
    return isinstance(value, str) and value.startswith(PREFIXES)


def _b64decode(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise DecryptionError("encrypted envelope is not valid base64") from None


class _Key:
    """One entry of ``encryption_keys``: 32 raw bytes or a passphrase."""

    __slots__ = ("passphrase", "secret")

    def __init__(self, key: object) -> None:
        if isinstance(key, str):
            if not key:
                raise ValueError("an encryption passphrase must not be empty")
            self.secret, self.passphrase = key.encode(), True
        elif isinstance(key, (bytes, bytearray)) and len(key) == 32:
            self.secret, self.passphrase = bytes(key), False
        else:
            raise ValueError("an encryption key is 32 bytes, or a str passphrase")

    def ikm(self, salt: bytes) -> bytes:
        """The input keying material for envelopes salted with ``salt``."""
        if self.passphrase:
            return derive_key("sha256", self.secret, salt, PASSPHRASE_ROUNDS)
        return self.secret

    def legacy(self) -> bytes:
        """The AES key of the first format (a fixed salt: read only)."""
        if self.passphrase:
            return derive_key("sha256", self.secret, _V1_SALT, _V1_ROUNDS)
        return self.secret


class _Derived:
    """One key for one salt: the key id it writes and its AES-GCM."""

    __slots__ = ("aead", "kid", "salt")

    def __init__(self, salt: bytes, kid: bytes, aead: AESGCM) -> None:
        self.salt = salt
        self.kid = kid
        self.aead = aead


class Encryptor:
    """Seal and open payloads with a list of keys; the first one seals.

    Example::

        enc = Encryptor([new_key, old_key])
        token = enc.seal(b"data", aad=b"sid")
        assert enc.open(token, aad=b"sid") == b"data"
    """

    def __init__(self, keys: Sequence[bytes | str]) -> None:
        if isinstance(keys, (str, bytes, bytearray)) or not keys:
            raise ValueError("encryption_keys must be a non-empty list of keys")
        self._aead = load_aesgcm()
        self._keys = [_Key(k) for k in keys]
        self._derived: dict[tuple[int, bytes], _Derived] = {}
        self._lock = threading.Lock()
        self._legacy: dict[str, list[AESGCM]] | None = None
        # A passphrase seals with one salt, derived here, once; a 32-byte key
        # seals each envelope with a fresh salt (None).
        self._sealer: _Derived | None = None
        if self._keys[0].passphrase:
            self._sealer = self._derive(0, os.urandom(_SALT))

    def _derive(self, index: int, salt: bytes) -> _Derived:
        """Key ``index`` for ``salt``; a passphrase's is derived once per salt."""
        key = self._keys[index]
        if key.passphrase:
            found = self._derived.get((index, salt))
            if found is not None:
                return found
        # HKDF (RFC 5869) with SHA-256: one extract, a one-block expand per label.
        prk = hmac.new(salt, key.ikm(salt), "sha256").digest()
        aes = hmac.new(prk, _AES_INFO + b"\x01", "sha256").digest()
        kid = hmac.new(prk, _KID_INFO + b"\x01", "sha256").digest()[:_KID]
        derived = _Derived(salt, kid, self._aead(aes))
        if key.passphrase:
            with self._lock:
                if len(self._derived) >= _CACHED_SALTS:
                    del self._derived[next(iter(self._derived))]  # the oldest
                self._derived[index, salt] = derived
        return derived

    def seal(self, plaintext: bytes, aad: bytes) -> str:
        """Encrypt and authenticate ``plaintext`` bound to ``aad``."""
        sealer = self._sealer or self._derive(0, os.urandom(_SALT))
        nonce = os.urandom(_NONCE)
        blob = sealer.salt + sealer.kid + nonce + sealer.aead.encrypt(nonce, plaintext, aad)
        return PREFIX + base64.urlsafe_b64encode(blob).rstrip(b"=").decode()

    def open(self, token: object, aad: bytes) -> bytes:
        """Return the plaintext of ``token`` (an envelope of either version).

        Raises:
            DecryptionError: not an envelope, sealed with no configured key,
                tampered with, or bound to another ``aad``.
        """
        if isinstance(token, str):
            if token.startswith(PREFIX):
                return self._open(_b64decode(token[len(PREFIX) :]), aad)
            if token.startswith(_V1_PREFIX):
                return self._open_v1(token[len(_V1_PREFIX) :], aad)
        raise DecryptionError("stored session is not an encrypted mongosession envelope")

    def _open(self, blob: bytes, aad: bytes) -> bytes:
        from cryptography.exceptions import InvalidTag

        head = _SALT + _KID + _NONCE
        if len(blob) < head + _TAG:
            raise DecryptionError("encrypted envelope is truncated")
        salt, kid, nonce = blob[:_SALT], blob[_SALT : _SALT + _KID], blob[_SALT + _KID : head]
        named = False
        for index in range(len(self._keys)):
            derived = self._derive(index, salt)
            if not hmac.compare_digest(derived.kid, kid):
                continue
            named = True
            try:
                plain: bytes = derived.aead.decrypt(nonce, blob[head:], aad)
            except InvalidTag:
                continue  # a 4-byte key id may match another key by chance
            sealer = self._sealer
            if index == 0 and sealer is not None and salt < sealer.salt:
                self._sealer = derived  # converge on the deployment's smallest salt
            return plain
        if named:
            raise DecryptionError("encrypted session failed authentication (tampered or moved)")
        raise DecryptionError("stored session was sealed with an unknown key")

    def _open_v1(self, body: str, aad: bytes) -> bytes:
        from cryptography.exceptions import InvalidTag

        kid, _, text = body.partition(".")
        legacy = self._legacy
        if legacy is None:  # the first such envelope: derive the old keys, once
            legacy = {}
            for key in self._keys:
                raw = key.legacy()
                kid_of = hashlib.sha256(b"mongosession-key-id" + raw).hexdigest()[:8]
                legacy.setdefault(kid_of, []).append(self._aead(raw))
            self._legacy = legacy
        openers = legacy.get(kid)
        if openers is None:
            raise DecryptionError(f"stored session was sealed with an unknown key (id {kid})")
        blob = _b64decode(text)
        if len(blob) < _NONCE + _TAG:
            raise DecryptionError("encrypted envelope is truncated")
        for aead in openers:
            try:
                plain: bytes = aead.decrypt(blob[:_NONCE], blob[_NONCE:], aad)
                return plain
            except InvalidTag:
                continue
        raise DecryptionError("encrypted session failed authentication (tampered or moved)")
