"""``WebCryptoCodec(algorithm="AES-CBC")``: connect-mongo's Web Crypto adapter in AES-CBC.

``createWebCryptoAdapter({secret, algorithm: 'AES-CBC'})`` stores the encoding of a
16-byte IV followed by the AES-256-CBC ciphertext (PKCS#7 padding) of the session's
JSON, the key derived as for AES-GCM. The payloads below were made by connect-mongo
6.0.0 itself (tests/interop's packages, ``adapter.encrypt(PLAINTEXT)``); the
differential test (tests/conformance/test_differential.py) checks the other direction.
"""

from __future__ import annotations

import json

import pytest

from mongosession import CorruptSession, DecryptionError
from mongosession.interop import WebCryptoCodec

PLAINTEXT = (
    '{"cookie":{"originalMaxAge":3600000,"expires":"2030-01-01T00:00:00.000Z",'
    '"httpOnly":true,"path":"/"},"user":"zoë","n":1}'
)
SESSION = json.loads(PLAINTEXT)

#: createWebCryptoAdapter({secret: "squirrel", algorithm: "AES-CBC", ...options}).encrypt(PLAINTEXT)
BY_NODE = {
    "defaults": (
        {},
        "BFSuTxQDsJ3/ortlL+qrBUjtcfqNsMzie4k446afc+P0RY+CjFvhcKQLvZq49e/1navmNOlkJwnSTBAEm3uj"
        "fvOGse89PeA02da2pU2ady4DDUB65t2m5Rxl/a3l8HzKHNJ8wv/4YilMKh5eu/zTrxPk6czWNjZoKjTu5Cmu"
        "uZLrFWkPfNt+WLIe0hlVpEym",
    ),
    "hex": (
        {"encoding": "hex"},
        "f3a7276280ca560d5523fe1627da984a5a5dcbae92b546374fa59dc1c2b335ca8f64aa3230dfcf15d2cf"
        "3c01045a837545219996e5ee992b02adf8ebc10529898c22990a434a10f2ec505dd4f678fc4b1f6ed3fe"
        "ee427933197709c2e2713cc95de498b6c20b087dde400548eb476877f7b28782a0deb6165f628cc1abf0"
        "d4468ae8f55ceb4c4d0f7d3166aaac7abdb6",
    ),
    "salt-iterations-base64url": (
        {"encoding": "base64url", "salt": "pepper", "iterations": 1000},
        "rQxPXWWCg5DkaTZlkSvAkzmHmd8IIOT260CICxFjrzUkNBxDHa_uYlEGqk_8v_X5dmwmxwJAHilZ2Q_rFsPR"
        "4XM3ryqpkOaHwFCcti1mB_ufhMgztvbYOWdqLmyM_cy7WVYv2ieAbyOSu7a3n706d6ok44lAHbaHiBJPaVVh"
        "RIWFgdLb4ea3_Ht8mLw3wYUb",
    ),
}

FAST = {"iterations": 1000}


@pytest.mark.parametrize("name", list(BY_NODE))
def test_reads_what_connect_mongo_wrote_in_aes_cbc(name: str) -> None:
    options, token = BY_NODE[name]
    codec = WebCryptoCodec("squirrel", algorithm="AES-CBC", **options)
    assert codec.decode(token) == SESSION


def test_writes_iv_then_padded_ciphertext_and_reads_it_back() -> None:
    codec = WebCryptoCodec("squirrel", algorithm="AES-CBC", encoding="hex", **FAST)
    token = codec.encode(SESSION)
    blob = bytes.fromhex(token)
    assert len(blob) % 16 == 0
    assert len(blob) >= 16 + len(PLAINTEXT.encode())  # IV, then the padded JSON
    assert codec.decode(token) == SESSION
    assert codec.encode(SESSION) != token  # a fresh IV each time


def test_aes_cbc_takes_a_16_byte_iv_by_default_and_no_other() -> None:
    assert WebCryptoCodec("s", algorithm="AES-CBC", **FAST).iv_length == 16
    assert WebCryptoCodec("s", **FAST).iv_length == 12  # AES-GCM's default
    with pytest.raises(ValueError, match="16"):
        WebCryptoCodec("s", algorithm="AES-CBC", iv_length=12, **FAST)


def test_an_unknown_algorithm_is_refused() -> None:
    with pytest.raises(ValueError, match="AES-CBC"):
        WebCryptoCodec("s", algorithm="AES-CTR", **FAST)  # type: ignore[arg-type]


def test_a_wrong_secret_is_a_decryption_error() -> None:
    token = WebCryptoCodec("right", algorithm="AES-CBC", **FAST).encode(SESSION)
    with pytest.raises(DecryptionError, match="AES-CBC"):
        WebCryptoCodec("wrong", algorithm="AES-CBC", **FAST).decode(token)


def test_the_first_of_several_secrets_encrypts_and_each_decrypts() -> None:
    old = WebCryptoCodec("old", algorithm="AES-CBC", **FAST).encode(SESSION)
    rotated = WebCryptoCodec(["new", "old"], algorithm="AES-CBC", **FAST)
    assert rotated.decode(old) == SESSION
    assert WebCryptoCodec("new", algorithm="AES-CBC", **FAST).decode(rotated.encode(SESSION))


def test_an_aes_gcm_payload_does_not_read_as_aes_cbc() -> None:
    gcm = WebCryptoCodec("squirrel", **FAST).encode(SESSION)
    with pytest.raises(DecryptionError):
        WebCryptoCodec("squirrel", algorithm="AES-CBC", **FAST).decode(gcm)


@pytest.mark.parametrize("token", ["", "AAAA", "A" * 40])
def test_a_payload_of_no_whole_blocks_is_a_decryption_error(token: str) -> None:
    with pytest.raises(CorruptSession):
        WebCryptoCodec("squirrel", algorithm="AES-CBC", **FAST).decode(token)


def test_read_also_reads_plain_json_next_to_aes_cbc() -> None:
    codec = WebCryptoCodec("squirrel", algorithm="AES-CBC", read_also=["json"], **FAST)
    assert codec.decode(PLAINTEXT) == SESSION
