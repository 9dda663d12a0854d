"""Cookies (:mod:`mongosession.web.cookies`): signing, parsing, decoding.

Properties (Hypothesis) of express-session's cookie format, then the decoding
shortcut taken on the hot path checked against the plain definition. RELIABILITY.md
catalog line 4 (fuzzed cookies through the middleware: tests/integration/reliability/
test_properties.py).
"""

from __future__ import annotations

import random
from urllib.parse import unquote

from hypothesis import given, settings
from hypothesis import strategies as st

from mongosession._ids import check_sid, generate_sid
from mongosession.web.config import SessionConfig
from mongosession.web.cookies import (
    decode_component,
    encode_component,
    read_cookie,
    set_cookie_header,
    sign,
    signature,
    unsign,
    verified,
)
from mongosession.web.rules import RequestState
from tests.support.decisions import COOKIE, SECRET

FAST = settings(max_examples=100, deadline=None)

ID_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-.~+/=:@!"
ids = st.text(ID_ALPHABET, min_size=1, max_size=64)
secrets_ = st.lists(st.text(min_size=1, max_size=20), min_size=1, max_size=3)


# -- cookies: parsing and signing --------------------------------------------------------------


@FAST
@given(sid=ids, secrets=secrets_, signer=st.integers(0, 2))
def test_a_value_signed_with_any_listed_secret_unsigns_to_its_id(
    sid: str, secrets: list[str], signer: int
) -> None:
    secret = secrets[signer % len(secrets)]
    assert unsign(sign(sid, secret), secrets) == sid


@FAST
@given(value=st.text(max_size=200), secrets=secrets_)
def test_unsign_accepts_only_values_some_secret_signed(value: str, secrets: list[str]) -> None:
    sid = unsign(value, secrets)
    if sid is not None:
        assert any(value == f"s:{sid}.{signature(sid, s)}" for s in secrets)


@FAST
@given(sid=ids, data=st.data())
def test_a_tampered_signed_value_never_unsigns(sid: str, data: st.DataObject) -> None:
    value = sign(sid, SECRET)
    index = data.draw(st.integers(0, len(value) - 1))
    replacement = data.draw(st.characters(codec="ascii").filter(lambda c: c != value[index]))
    tampered = value[:index] + replacement + value[index + 1 :]
    found = unsign(tampered, [SECRET])
    # Changing a character of the id part can only yield another correctly signed
    # value by forging HMAC-SHA256: the result is None, whatever changed.
    assert found is None


@FAST
@given(sid=ids, secrets=secrets_, data=st.data())
def test_verified_answers_as_unsign_for_the_value_and_secrets_it_is_given(
    sid: str, secrets: list[str], data: st.DataObject
) -> None:
    keys = tuple(s.encode() for s in secrets)
    value = data.draw(st.sampled_from([sign(sid, secrets[0]), sign(sid, "another secret")]))
    for _ in range(2):  # the remembered answer is the same one
        assert verified(value, keys) == unsign(value, keys)
    # Remembered per set of secrets: a rotation that drops the signer ends the cookie.
    assert verified(value, (b"a secret nobody used",)) is None


cookie_names = st.text(st.sampled_from("abcdefghijklmnopqrstuvwxyz._-"), min_size=1, max_size=8)


@FAST
@given(
    sid=ids,
    before=st.lists(st.tuples(cookie_names, st.text(max_size=20)), max_size=3),
    after=st.lists(st.tuples(cookie_names, st.text(max_size=20)), max_size=3),
)
def test_the_set_cookie_value_read_back_from_a_cookie_header_is_the_id(
    sid: str, before: list[tuple[str, str]], after: list[tuple[str, str]]
) -> None:
    header = set_cookie_header(COOKIE, sign(sid, SECRET))
    pair = header.split(";", 1)[0]
    others = [f"{n}={encode_component(v)}" for n, v in before if n != COOKIE]
    later = [f"{n}={encode_component(v)}" for n, v in after]
    cookie_header = "; ".join([*others, pair, *later])
    assert read_cookie(cookie_header, COOKIE) == sign(sid, SECRET)
    state = RequestState(SessionConfig(secret=SECRET), secure_request=False)
    assert state.presented_sid(cookie_header=cookie_header, header_value=None) == sid


@FAST
@given(header=st.text(max_size=300))
def test_any_cookie_header_yields_no_id_or_a_verified_well_formed_one(header: str) -> None:
    state = RequestState(SessionConfig(secret=SECRET), secure_request=False)
    sid = state.presented_sid(cookie_header=header, header_value=None)
    if sid is not None:
        assert check_sid(sid) == sid
        raw = read_cookie(header, COOKIE)
        assert raw is not None
        assert unsign(raw, [SECRET]) == sid


@FAST
@given(value=st.text(max_size=100))
def test_decode_component_inverts_encode_component(value: str) -> None:
    assert decode_component(encode_component(value)) == value


# -- the hot path's shortcut (added after profiling with ``python -m bench``) -------------------


def plain_decode(value: str) -> str:
    """decodeURIComponent by the definition: unquote, or the value when it fails."""
    try:
        return unquote(value, errors="strict")
    except UnicodeDecodeError:
        return value


def test_signed_cookies_decode_as_unquote_does() -> None:
    for i in range(2000):
        value = encode_component(sign(generate_sid(), f"secret {i}"))
        assert decode_component(value) == plain_decode(value)


def test_near_miss_escapes_after_the_prefix_decode_as_unquote_does() -> None:
    pieces = ["%2B", "%2F", "%3D", "%2b", "%", "2", "B", "%25", "%3A", "a", ".", "%E2%82%AC"]
    rng = random.Random(7)
    for _ in range(20_000):
        value = "s%3A" + "".join(rng.choice(pieces) for _ in range(rng.randint(0, 8)))
        assert decode_component(value) == plain_decode(value), value
