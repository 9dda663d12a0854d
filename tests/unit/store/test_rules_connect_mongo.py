"""Store rules found by the connect-mongo conformance port (issue 13), without I/O.

- two encryption mechanisms are refused, as connect-mongo refuses ``crypto`` with
  ``cryptoAdapter``;
- a codec whose ``decode`` gives no mapping makes a corrupt session (no session,
  logged), never an error out of ``get``;
- ``touch_after`` reads a plain mapping's ``lastModified`` date, where connect-mongo's
  ``get`` puts it.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from mongosession import (
    AsyncMongoStore,
    ConfigurationError,
    CorruptSession,
    MongoStore,
    StoredSession,
)
from mongosession.interop import KrupteinCodec, WebCryptoCodec
from mongosession.store.rules import StoreRules

NOW = datetime(2030, 1, 1, 12, tzinfo=timezone.utc)
URI = "mongodb://127.0.0.1:9/app"  # never contacted: a store connects lazily


def rules(**options: Any) -> StoreRules:
    defaults: dict[str, Any] = {
        "collection": "sessions",
        "ttl": 60,
        "touch_after": 0,
        "absolute_lifetime": None,
        "auto_remove": "disabled",
        "auto_remove_interval": 60,
        "codec": "json",
        "transform_id": None,
        "encryption_keys": None,
        "delete_flags": False,
        "user_key": None,
        "timestamps": False,
        "write_concern": None,
        "timeout": None,
        "max_size": 1 << 20,
        "create_indexes": False,
    }
    return StoreRules(**{**defaults, **options})


# -- one encryption mechanism ---------------------------------------------------------


@pytest.mark.parametrize("store_class", [MongoStore, AsyncMongoStore])
@pytest.mark.parametrize(
    "codec",
    [
        pytest.param(lambda: KrupteinCodec("secret"), id="kruptein"),
        pytest.param(lambda: WebCryptoCodec("secret", iterations=1000), id="webcrypto"),
        pytest.param(
            lambda: WebCryptoCodec("secret", iterations=1000, algorithm="AES-CBC"), id="aes-cbc"
        ),
    ],
)
def test_a_node_encryption_codec_with_encryption_keys_is_refused(
    store_class: Any, codec: Any
) -> None:
    with pytest.raises(ConfigurationError, match="encryption_keys"):
        store_class(uri=URI, codec=codec(), encryption_keys=[b"k" * 32])


class Plain:
    """A custom codec that does not encrypt."""

    def encode(self, session: Any) -> str:
        return json.dumps(dict(session))

    def decode(self, stored: Any) -> Any:
        return json.loads(stored)


@pytest.mark.parametrize("codec", ["json", "bson", Plain()])
def test_a_codec_that_does_not_encrypt_takes_encryption_keys(codec: Any) -> None:
    assert rules(codec=codec, encryption_keys=[b"k" * 32]).encryptor is not None


# -- a decode that gives no session ---------------------------------------------------------


class Identity(Plain):
    """connect-mongo's default ``unserialize`` with a custom ``serialize``: the raw string."""

    def decode(self, stored: Any) -> Any:
        return stored


@pytest.mark.parametrize("decoded", ["a string", ["a", "list"], 42, None])
def test_a_decode_that_gives_no_mapping_is_a_corrupt_session(decoded: Any) -> None:
    class Gives(Plain):
        def decode(self, stored: Any) -> Any:
            return decoded

    with pytest.raises(CorruptSession, match="not a mapping"):
        rules(codec=Gives()).decode('{"n":1}', "sid")


def test_such_a_payload_reads_as_no_session_and_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="mongosession"):
        assert rules(codec=Identity()).load({"_id": "sid", "session": '{"n":1}'}) is None
    assert "rejected stored session" in caplog.text


def test_a_decode_that_gives_another_mapping_is_a_dict() -> None:
    class Items(Plain):
        def decode(self, stored: Any) -> Any:
            return StoredSession(json.loads(stored)).items().mapping

    decoded = rules(codec=Items()).decode('{"n":1}', "sid")
    assert decoded == {"n": 1}
    assert type(decoded) is dict


# -- touch_after and lastModified -------------------------------------------------------------


def test_a_plain_mapping_s_last_modified_date_throttles_touch() -> None:
    throttled = rules(touch_after=60)
    recent = {"n": 1, "lastModified": NOW - timedelta(seconds=10)}
    old = {"n": 1, "lastModified": NOW - timedelta(seconds=61)}
    assert not throttled.touch_is_due(recent, NOW)
    assert throttled.touch_is_due(old, NOW)


def test_a_naive_last_modified_is_utc() -> None:
    naive = (NOW - timedelta(seconds=10)).replace(tzinfo=None)
    assert not rules(touch_after=60).touch_is_due({"lastModified": naive}, NOW)


@pytest.mark.parametrize("value", [None, "2030-01-01T11:59:59.000Z", 1])
def test_a_last_modified_that_is_no_date_is_no_last_write(value: Any) -> None:
    assert rules(touch_after=60).touch_is_due({"lastModified": value}, NOW)


def test_a_stored_session_goes_by_its_last_modified_not_a_key() -> None:
    session = StoredSession(
        {"lastModified": NOW - timedelta(seconds=10)},
        last_modified=NOW - timedelta(seconds=61),
    )
    assert rules(touch_after=60).touch_is_due(session, NOW)
    assert rules(touch_after=60).touch_is_due(StoredSession({}), NOW)
