"""Codecs for connect-mongo's encrypted formats, to share sessions with Node.

connect-mongo 6 can encrypt the stored ``session`` in two ways; a store given
the matching codec reads and writes the very same strings::

    from mongosession import AsyncMongoStore
    from mongosession.interop import KrupteinCodec, WebCryptoCodec

    # Node: cryptoAdapter: createWebCryptoAdapter({ secret: "s3cret" })
    store = AsyncMongoStore(uri=..., codec=WebCryptoCodec("s3cret"))

    # Node: crypto: { secret: "s3cret" } (the legacy option, kruptein)
    store = AsyncMongoStore(uri=..., codec=KrupteinCodec("s3cret"))

Both encrypt the session's JSON (the same text the ``json`` codec stores) with
AES-256-GCM (``WebCryptoCodec(algorithm="AES-CBC")`` reads and writes the Web
Crypto adapter's AES-CBC format, which has no authentication). Neither binds a
payload to its session id, as connect-mongo does not; mongosession's own
``encryption_keys`` envelope does, and is the better choice when no Node app
shares the collection. A store refuses one of these codecs together with
``encryption_keys`` (connect-mongo refuses two encryption mechanisms too): the
payload would be encrypted twice and Node could not read it.

A payload that fails to decrypt (a wrong secret, another format) raises
:class:`~mongosession.DecryptionError` from ``decode``; the store logs it and
treats the session as absent. ``read_also`` lists formats to accept on read
when a payload is not this codec's, for a migration: plain ``"json"`` while
turning encryption on, a :class:`KrupteinCodec` while moving to Web Crypto.
Needs the ``crypto`` extra (``cryptography``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from mongosession._errors import CorruptSession, DecryptionError
from mongosession.codecs.encryption import derive_key, load_aesgcm
from mongosession.codecs.formats import Codec, JsonCodec, resolve_codec

__all__ = ["KrupteinCodec", "WebCryptoCodec"]

Secret = str | bytes
Encoding = Literal["base64", "base64url", "hex"]
Algorithm = Literal["AES-GCM", "AES-CBC"]

_JSON = JsonCodec()
_TAG = 16  # AES-GCM authentication tag, bytes (Web Crypto's and kruptein's default)
_BLOCK = 16  # AES block, bytes: AES-CBC's IV and ciphertexts are multiples of it

#: connect-mongo's ``createWebCryptoAdapter`` defaults.
WEBCRYPTO_SALT = "connect-mongo:webcrypto-default-salt"
WEBCRYPTO_ITERATIONS = 310_000

# kruptein 3 as connect-mongo configures it: PBKDF2 with a fresh salt per message.
_KRUPTEIN_SALT = 128
_KRUPTEIN_IV = 12
_KRUPTEIN_ITERATIONS = 15_000


def _secret_list(secret: Secret | Sequence[Secret]) -> list[bytes]:
    secrets = [secret] if isinstance(secret, (str, bytes)) else list(secret)
    if not secrets:
        raise ValueError("secret must be a non-empty str or bytes, or a list of them")
    out = []
    for item in secrets:
        if isinstance(item, str):
            item = item.encode()
        if not isinstance(item, bytes) or not item:
            raise ValueError("each secret must be a non-empty str or bytes")
        out.append(item)
    return out


def _to_text(data: bytes, encoding: str) -> str:
    if encoding == "hex":
        return data.hex()
    if encoding == "base64url":
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()
    return base64.b64encode(data).decode()


def _from_text(text: str, encoding: str) -> bytes:
    """Decode like Node's ``Buffer.from(text, encoding)`` for well-formed input."""
    try:
        if encoding == "hex":
            return bytes.fromhex(text)
        # Node reads either base64 alphabet, with or without padding.
        text = text.replace("-", "+").replace("_", "/").rstrip("=")
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise DecryptionError(f"stored session is not {encoding} text") from None


def _session_from_plaintext(plain: bytes) -> dict[str, Any]:
    # connect-mongo parses the decrypted text once more when it is a JSON string
    # (kruptein always double-encodes); a JSON object is taken as it is.
    try:
        text = plain.decode()
        value = json.loads(text)
    except ValueError:
        raise CorruptSession("decrypted session is not JSON") from None
    if isinstance(value, str):
        return _JSON.decode(value)
    if not isinstance(value, dict):
        raise CorruptSession("decrypted session is not a JSON object")
    return value


class _NodeCipherCodec:
    """Shared shape: JSON inside, an encrypted string outside, optional fallbacks."""

    name = "encrypted"
    #: The payload is encrypted: a store refuses ``encryption_keys`` besides.
    encrypts = True

    def __init__(self, read_also: Sequence[str | Codec]) -> None:
        if isinstance(read_also, str):
            read_also = [read_also]
        self.read_also = tuple(resolve_codec(c) for c in read_also)

    def _seal(self, text: str) -> str:
        raise NotImplementedError

    def _open(self, token: str) -> dict[str, Any]:
        raise NotImplementedError

    def encode(self, session: Mapping[str, Any]) -> str:
        """Encrypt the session's JSON into the string connect-mongo stores."""
        return self._seal(_JSON.encode(session))

    def decode(self, stored: Any) -> dict[str, Any]:
        """Decrypt a stored payload (or read it with a ``read_also`` codec).

        Raises:
            DecryptionError: no secret authenticates it (wrong secret, tampered,
                or another format) and no ``read_also`` codec reads it.
            CorruptSession: it decrypts to something that is not a session.
        """
        try:
            if not isinstance(stored, str):
                raise DecryptionError(
                    f"expected an encrypted string ({self.name}), found {type(stored).__name__}"
                )
            return self._open(stored)
        except CorruptSession as exc:
            for codec in self.read_also:
                try:
                    return codec.decode(stored)
                except (ValueError, TypeError):  # CorruptSession is a ValueError
                    continue
            raise exc from None


class WebCryptoCodec(_NodeCipherCodec):
    """connect-mongo's ``createWebCryptoAdapter`` format (AES-256-GCM or AES-256-CBC, PBKDF2 key).

    The key is PBKDF2-HMAC-SHA256 of the secret (derived once, here, as Node
    does when the adapter is made); the stored string is the encoding of
    IV | ciphertext | 16-byte tag with AES-GCM, IV | ciphertext (PKCS#7 padded)
    with AES-CBC. The keyword arguments are the adapter's options, with the same
    defaults. With a list of secrets the first encrypts and every one is tried
    on read (connect-mongo takes one secret).

    AES-CBC (``algorithm="AES-CBC"``) has no authentication: anyone who can write
    the collection can change a payload without the secret (flipping bits of the
    IV changes the first block of the plaintext at will), and a wrong secret is
    caught only by the padding and the JSON failing to parse. Use it only to share
    sessions with a Node application configured that way; AES-GCM otherwise.

    Example::

        # Node: createWebCryptoAdapter({ secret: process.env.SESSION_SECRET })
        store = AsyncMongoStore(uri=..., codec=WebCryptoCodec(os.environ["SESSION_SECRET"]))

    Args:
        secret: the adapter's ``secret`` (str or bytes), or a list, newest first.
        salt: the adapter's ``salt`` (str or bytes).
        iterations: the adapter's ``iterations``.
        iv_length: the adapter's ``ivLength`` (bytes); by default 12 with AES-GCM and
            16 with AES-CBC, which takes no other.
        encoding: the adapter's ``encoding``: ``"base64"``, ``"base64url"``, ``"hex"``.
        algorithm: the adapter's ``algorithm``: ``"AES-GCM"`` or ``"AES-CBC"``.
        read_also: codecs (or ``"json"`` / ``"bson"``) tried on read when a
            payload does not decrypt, for a migration.
    """

    name = "webcrypto"

    def __init__(
        self,
        secret: Secret | Sequence[Secret],
        *,
        salt: Secret = WEBCRYPTO_SALT,
        iterations: int = WEBCRYPTO_ITERATIONS,
        iv_length: int | None = None,
        encoding: Encoding = "base64",
        algorithm: Algorithm = "AES-GCM",
        read_also: Sequence[str | Codec] = (),
    ) -> None:
        super().__init__(read_also)
        if encoding not in ("base64", "base64url", "hex"):
            raise ValueError('encoding must be "base64", "base64url" or "hex"')
        if algorithm not in ("AES-GCM", "AES-CBC"):
            raise ValueError('algorithm must be "AES-GCM" or "AES-CBC"')
        if not isinstance(iterations, int) or iterations <= 0:
            raise ValueError("iterations must be a positive int")
        if iv_length is None:
            iv_length = 12 if algorithm == "AES-GCM" else _BLOCK  # the adapter's defaults
        if algorithm == "AES-CBC":
            if iv_length != _BLOCK:  # Web Crypto refuses any other AES-CBC IV
                raise ValueError("iv_length must be 16 with AES-CBC")
        # The range cryptography's AES-GCM accepts; Node's default is 12.
        elif not isinstance(iv_length, int) or not 8 <= iv_length <= 128:
            raise ValueError("iv_length must be an int from 8 to 128")
        salt_bytes = salt.encode() if isinstance(salt, str) else salt
        if not isinstance(salt_bytes, bytes):
            raise TypeError("salt must be str or bytes")
        aead = load_aesgcm()  # also the check that ``cryptography`` is installed
        self.encoding: Encoding = encoding
        self.algorithm: Algorithm = algorithm
        self.iv_length = iv_length
        keys = [derive_key("sha256", s, salt_bytes, iterations) for s in _secret_list(secret)]
        self._raw_keys = keys
        self._keys = [aead(key) for key in keys] if algorithm == "AES-GCM" else []

    def _seal(self, text: str) -> str:
        iv = os.urandom(self.iv_length)
        if self.algorithm == "AES-CBC":
            body = _cbc_encrypt(self._raw_keys[0], iv, text.encode())
        else:
            body = self._keys[0].encrypt(iv, text.encode(), None)
        return _to_text(iv + body, self.encoding)

    def _open(self, token: str) -> dict[str, Any]:
        blob = _from_text(token, self.encoding)
        if self.algorithm == "AES-CBC":
            return self._open_cbc(blob)
        from cryptography.exceptions import InvalidTag

        if len(blob) < self.iv_length + _TAG:
            raise DecryptionError("stored session is too short for the Web Crypto format")
        iv, body = blob[: self.iv_length], blob[self.iv_length :]
        for key in self._keys:
            try:
                return _session_from_plaintext(key.decrypt(iv, body, None))
            except InvalidTag:
                continue
        raise DecryptionError(
            "stored session failed Web Crypto (AES-GCM) authentication with every configured "
            "secret: a wrong secret, salt or iteration count, another format, or tampering"
        )

    def _open_cbc(self, blob: bytes) -> dict[str, Any]:
        iv, body = blob[:_BLOCK], blob[_BLOCK:]
        if not body or len(body) % _BLOCK:
            raise DecryptionError("stored session is not a Web Crypto (AES-CBC) ciphertext")
        for key in self._raw_keys:
            # No tag to tell a wrong key: its padding, then its JSON, fail instead.
            plain = _cbc_decrypt(key, iv, body)
            if plain is None:
                continue
            try:
                return _session_from_plaintext(plain)
            except CorruptSession:
                continue
        raise DecryptionError(
            "stored session did not decrypt to a session with any configured secret "
            "(Web Crypto AES-CBC): a wrong secret, salt or iteration count, another "
            "format, or tampering"
        )


def _cbc_encrypt(key: bytes, iv: bytes, plain: bytes) -> bytes:
    """AES-CBC with PKCS#7 padding, as Web Crypto's ``encrypt({name: 'AES-CBC'})``."""
    from cryptography.hazmat.primitives import padding
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    padder = padding.PKCS7(_BLOCK * 8).padder()
    padded = padder.update(plain) + padder.finalize()
    encryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    return encryptor.update(padded) + encryptor.finalize()


def _cbc_decrypt(key: bytes, iv: bytes, body: bytes) -> bytes | None:
    """The plaintext of an AES-CBC ciphertext, or None when its padding is wrong."""
    from cryptography.hazmat.primitives import padding
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    decryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
    padded = decryptor.update(body) + decryptor.finalize()
    unpadder = padding.PKCS7(_BLOCK * 8).unpadder()
    try:
        return unpadder.update(padded) + unpadder.finalize()
    except ValueError:
        return None


class KrupteinCodec(_NodeCipherCodec):
    """connect-mongo's legacy ``crypto`` option (kruptein 3, AES-256-GCM).

    The stored string is the encoding of a DER SEQUENCE of OCTET STRINGs
    (ciphertext, HMAC, IV, salt, tag, associated data); each message has its
    own 128-byte salt, and the key is PBKDF2-HMAC (``hashing``, 15,000 rounds)
    of the secret with that salt. The session's JSON is JSON-encoded once more
    before encryption, as kruptein does.

    Each write derives a new key (about 20 ms of CPU); a read of a payload
    already seen is served from a cache. Read this format to share sessions
    with a Node app that uses it; prefer :class:`WebCryptoCodec` otherwise.

    Example::

        # Node: MongoStore.create({ mongoUrl, crypto: { secret: "squirrel" } })
        store = AsyncMongoStore(uri=..., codec=KrupteinCodec("squirrel"))

    Args:
        secret: the ``crypto.secret`` (str or bytes), or a list, newest first.
        hashing: ``crypto.hashing`` (connect-mongo's default ``"sha512"``).
        encodeas: ``crypto.encodeas``: ``"base64"`` (connect-mongo's default) or ``"hex"``.
        read_also: codecs (or ``"json"`` / ``"bson"``) tried on read when a
            payload does not decrypt, for a migration.
    """

    name = "kruptein"

    def __init__(
        self,
        secret: Secret | Sequence[Secret],
        *,
        hashing: str = "sha512",
        encodeas: Literal["base64", "hex"] = "base64",
        read_also: Sequence[str | Codec] = (),
    ) -> None:
        super().__init__(read_also)
        if encodeas not in ("base64", "hex"):
            raise ValueError('encodeas must be "base64" or "hex"')
        try:
            self._digest_size = hashlib.new(hashing).digest_size
        except (ValueError, TypeError):
            raise ValueError(f"unknown hashing algorithm {hashing!r}") from None
        self._aead = load_aesgcm()
        self.hashing = hashing
        self.encodeas: Literal["base64", "hex"] = encodeas
        self._secrets = _secret_list(secret)

    def _key(self, secret: bytes, salt: bytes) -> bytes:
        return derive_key(self.hashing, secret, salt, _KRUPTEIN_ITERATIONS)

    def _mac(self, key: bytes, ct_text: bytes) -> bytes:
        digest = hmac.new(key, ct_text, self.hashing).digest()
        return _to_text(digest, self.encodeas).encode()

    def _seal(self, text: str) -> str:
        plain = json.dumps(text, ensure_ascii=False).encode()  # kruptein's JSON.stringify
        salt = os.urandom(_KRUPTEIN_SALT)
        iv = os.urandom(_KRUPTEIN_IV)
        key = self._key(self._secrets[0], salt)
        # kruptein's associated data is a random digest, carried in the message.
        aad = os.urandom(self._digest_size)
        sealed = self._aead(key).encrypt(iv, plain, aad)
        aad_text = _to_text(aad, self.encodeas).encode()
        ct_text = _to_text(sealed[:-_TAG], self.encodeas).encode()
        fields = [ct_text, self._mac(key, ct_text), iv, salt, sealed[-_TAG:], aad_text]
        return _to_text(_der_sequence(fields), self.encodeas)

    def _open(self, token: str) -> dict[str, Any]:
        from cryptography.exceptions import InvalidTag

        fields = _der_octet_strings(_from_text(token, self.encodeas))
        if len(fields) != 6:
            raise DecryptionError(
                f"stored session is not a kruptein AES-GCM message ({len(fields)} fields, not 6)"
            )
        ct_text, mac, iv, salt, tag, aad_text = fields
        for secret in self._secrets:
            key = self._key(secret, salt)
            if not hmac.compare_digest(self._mac(key, ct_text), mac):
                continue
            try:
                ciphertext = _from_text(ct_text.decode("ascii", "replace"), self.encodeas)
                aad = _from_text(aad_text.decode("ascii", "replace"), self.encodeas)
                plain = self._aead(key).decrypt(iv, ciphertext + tag, aad)
            except (InvalidTag, ValueError):
                raise DecryptionError(
                    "kruptein message passed its HMAC but failed AES-GCM authentication"
                ) from None
            return _session_from_plaintext(plain)
        raise DecryptionError(
            "kruptein HMAC does not match with any configured secret: a wrong secret or "
            "hashing, or tampering"
        )


# -- DER, the little kruptein uses: a SEQUENCE of OCTET STRINGs ---------------------

_SEQUENCE, _OCTET_STRING = 0x30, 0x04


def _der_length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def _der_tlv(tag: int, value: bytes) -> bytes:
    return bytes([tag]) + _der_length(len(value)) + value


def _der_sequence(octets: Sequence[bytes]) -> bytes:
    return _der_tlv(_SEQUENCE, b"".join(_der_tlv(_OCTET_STRING, o) for o in octets))


def _der_read(data: bytes, pos: int, tag: int) -> tuple[bytes, int]:
    if pos + 2 > len(data) or data[pos] != tag:
        raise DecryptionError("stored session is not a kruptein (DER) message")
    length, pos = data[pos + 1], pos + 2
    if length & 0x80:
        size = length & 0x7F
        if not 1 <= size <= 4 or pos + size > len(data):
            raise DecryptionError("stored session has a malformed DER length")
        length, pos = int.from_bytes(data[pos : pos + size], "big"), pos + size
    if pos + length > len(data):
        raise DecryptionError("stored session is a truncated DER message")
    return data[pos : pos + length], pos + length


def _der_octet_strings(data: bytes) -> list[bytes]:
    body, end = _der_read(data, 0, _SEQUENCE)
    if end != len(data):
        raise DecryptionError("stored session has bytes after its DER message")
    fields, pos = [], 0
    while pos < len(body):
        value, pos = _der_read(body, pos, _OCTET_STRING)
        fields.append(value)
    return fields
