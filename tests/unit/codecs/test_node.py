"""connect-mongo's encrypted formats (:mod:`mongosession.codecs.node`), checked without Node.

``tests/interop/vectors.json`` holds payloads that connect-mongo's own adapters
encrypted (``tests/interop/make_vectors.js``); tests/integration/test_interop.py checks
the other direction, and the whole exchange, against the running packages, and
tests/integration/test_interop_formats.py these codecs in a store.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from mongosession import CorruptSession, DecryptionError
from mongosession.codecs.node import (
    KrupteinCodec,
    WebCryptoCodec,
    _der_octet_strings,
    _der_sequence,
)
from tests.support.sessions import session

pytestmark = pytest.mark.interop

#: tests/interop/: the Node side of the interop tests.
VECTORS: dict[str, str] = json.loads(
    (Path(__file__).resolve().parents[2] / "interop" / "vectors.json").read_text()
)
PLAIN: dict[str, Any] = json.loads(VECTORS["plaintext"])


# -- what connect-mongo wrote, read here ------------------------------------------------


@pytest.mark.parametrize(
    ("vector", "codec"),
    [
        ("webcrypto", lambda: WebCryptoCodec("squirrel")),
        ("webcrypto_base64url", lambda: WebCryptoCodec("squirrel", encoding="base64url")),
        (
            "webcrypto_options",
            lambda: WebCryptoCodec(
                "squirrel", encoding="hex", iv_length=16, salt="pepper", iterations=1000
            ),
        ),
        ("kruptein", lambda: KrupteinCodec("squirrel")),
        ("kruptein_options", lambda: KrupteinCodec("squirrel", encodeas="hex", hashing="sha256")),
    ],
)
def test_payloads_encrypted_by_connect_mongo_decode(vector: str, codec: Any) -> None:
    assert codec().decode(VECTORS[vector]) == PLAIN


def test_a_kruptein_payload_is_a_der_sequence_of_six_octet_strings() -> None:
    fields = _der_octet_strings(base64.b64decode(VECTORS["kruptein"]))
    ct, mac, iv, salt, tag, aad = fields
    assert (len(iv), len(salt), len(tag)) == (12, 128, 16)
    assert len(base64.b64decode(mac)) == 64  # HMAC-SHA512, as text
    assert len(base64.b64decode(aad)) == 64  # a random digest, as text
    # The ciphertext is as long as the plaintext: the session's JSON, JSON-encoded again.
    twice = json.dumps(VECTORS["plaintext"], ensure_ascii=False).encode()
    assert len(base64.b64decode(ct)) == len(twice)


def test_what_kruptein_codec_writes_has_the_same_shape_as_kruptein() -> None:
    token = KrupteinCodec("squirrel").encode(PLAIN)
    fields = _der_octet_strings(base64.b64decode(token))
    assert [len(f) for f in fields[2:5]] == [12, 128, 16]
    assert len(base64.b64decode(fields[1])) == 64  # HMAC-SHA512 of the ciphertext text
    assert _der_sequence(fields) == base64.b64decode(token)


def test_what_web_crypto_codec_writes_is_iv_ciphertext_tag() -> None:
    plain = json.dumps(PLAIN, separators=(",", ":"), ensure_ascii=False).encode()
    blob = base64.b64decode(WebCryptoCodec("squirrel").encode(PLAIN))
    assert len(blob) == 12 + len(plain) + 16


def test_each_encryption_is_fresh() -> None:
    codec = WebCryptoCodec("squirrel")
    assert codec.encode(PLAIN) != codec.encode(PLAIN)
    kruptein = KrupteinCodec("squirrel")
    assert kruptein.encode(PLAIN) != kruptein.encode(PLAIN)


@pytest.mark.parametrize(
    "codec",
    [
        lambda: WebCryptoCodec("squirrel"),
        lambda: WebCryptoCodec("squirrel", encoding="hex", iv_length=16),
        lambda: KrupteinCodec("squirrel"),
        lambda: KrupteinCodec(b"squirrel", encodeas="hex", hashing="sha256"),
    ],
)
def test_a_session_survives_a_round_trip(codec: Any) -> None:
    made = codec()
    data = session(user="zoë", cart=[1, {"x": None}], price=1.5, ok=True, emoji="🍪")
    assert made.decode(made.encode(data)) == data


# -- keys -------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", [WebCryptoCodec, KrupteinCodec])
def test_a_wrong_secret_is_a_decryption_error_that_says_so(kind: Any) -> None:
    token = kind("right").encode(PLAIN)
    with pytest.raises(DecryptionError, match="wrong secret"):
        kind("wrong").decode(token)


@pytest.mark.parametrize("kind", [WebCryptoCodec, KrupteinCodec])
def test_the_first_secret_encrypts_and_every_secret_decrypts(kind: Any) -> None:
    old_token = kind("old").encode(PLAIN)
    rotated = kind(["new", "old"])
    assert rotated.decode(old_token) == PLAIN
    new_token = rotated.encode(PLAIN)
    assert kind("new").decode(new_token) == PLAIN
    with pytest.raises(DecryptionError):
        kind("old").decode(new_token)


def test_a_tampered_web_crypto_payload_fails() -> None:
    blob = bytearray(base64.b64decode(WebCryptoCodec("squirrel").encode(PLAIN)))
    blob[20] ^= 1
    with pytest.raises(DecryptionError, match="authentication"):
        WebCryptoCodec("squirrel").decode(base64.b64encode(bytes(blob)).decode())


def test_a_tampered_kruptein_tag_fails_after_its_hmac_passes() -> None:
    fields = _der_octet_strings(base64.b64decode(KrupteinCodec("squirrel").encode(PLAIN)))
    fields[4] = bytes([fields[4][0] ^ 1]) + fields[4][1:]
    token = base64.b64encode(_der_sequence(fields)).decode()
    with pytest.raises(DecryptionError, match="AES-GCM authentication"):
        KrupteinCodec("squirrel").decode(token)


@pytest.mark.parametrize(
    "stored",
    [
        "",
        "not base64 at all!",
        base64.b64encode(b"short").decode(),
        base64.b64encode(b"\x30\x05\x04\x03abc").decode(),  # DER, but one field
        base64.b64encode(b"\x30\x85\x00\x00\x00\x00\x00").decode(),  # bad length
        base64.b64encode(b"\x30\x10\x04\x0e").decode(),  # truncated
        {"cookie": {}},
        None,
        42,
    ],
    ids=["empty", "text", "short", "one-field", "bad-length", "truncated", "doc", "none", "int"],
)
@pytest.mark.parametrize("kind", [WebCryptoCodec, KrupteinCodec])
def test_garbage_is_a_decryption_error(kind: Any, stored: Any) -> None:
    with pytest.raises(DecryptionError):
        kind("squirrel").decode(stored)


def test_a_decrypted_payload_that_is_no_session_is_corrupt() -> None:
    codec = WebCryptoCodec("squirrel")
    token = codec._seal("[1, 2]")
    with pytest.raises(CorruptSession, match="not a JSON object"):
        codec.decode(token)


# -- migrations: read_also ----------------------------------------------------------------


def test_read_also_reads_plain_json_while_encryption_is_turned_on() -> None:
    codec = WebCryptoCodec("squirrel", read_also=["json"])
    assert codec.decode(VECTORS["plaintext"]) == PLAIN
    assert WebCryptoCodec("squirrel").decode(codec.encode(PLAIN)) == PLAIN  # writes encrypted


def test_read_also_reads_an_unencrypted_sub_document() -> None:
    codec = KrupteinCodec("squirrel", read_also=["bson"])  # keys as stored, as connect-mongo
    assert codec.decode({"cookie": {"path": "/"}, "a.b": 1, "c%2Ed": 2}) == {
        "cookie": {"path": "/"},
        "a.b": 1,
        "c%2Ed": 2,
    }


def test_read_also_reads_kruptein_while_moving_to_web_crypto() -> None:
    codec = WebCryptoCodec("new", read_also=[KrupteinCodec("squirrel")])
    assert codec.decode(VECTORS["kruptein"]) == PLAIN


def test_without_a_match_the_own_format_error_is_raised() -> None:
    codec = WebCryptoCodec("new", read_also=[KrupteinCodec("other")])
    with pytest.raises(DecryptionError, match="Web Crypto"):
        codec.decode(VECTORS["kruptein"])


# -- options ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "error"),
    [
        (lambda: WebCryptoCodec(""), ValueError),
        (lambda: WebCryptoCodec([]), ValueError),
        (lambda: WebCryptoCodec(["ok", ""]), ValueError),
        (lambda: WebCryptoCodec("s", encoding="latin1"), ValueError),
        (lambda: WebCryptoCodec("s", iv_length=4), ValueError),
        (lambda: WebCryptoCodec("s", iterations=0), ValueError),
        (lambda: WebCryptoCodec("s", read_also=["pickle"]), ValueError),
        (lambda: KrupteinCodec("s", encodeas="binary"), ValueError),
        (lambda: KrupteinCodec("s", hashing="nope"), ValueError),
    ],
)
def test_bad_options_are_refused_at_construction(make: Any, error: type[Exception]) -> None:
    with pytest.raises(error):
        make()
