"""connect-mongo's encrypted formats and document details, in a store.

The codecs on their own (payloads connect-mongo encrypted, read without Node) are
tests/unit/codecs/test_node.py's.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

import pytest

from mongosession import _clock
from mongosession.codecs.node import KrupteinCodec, WebCryptoCodec
from tests.support.sessions import SID, session
from tests.support.stores import StoreKit

pytestmark = pytest.mark.interop


def test_a_store_with_web_crypto_stores_and_reads_encrypted_sessions(
    kit: StoreKit, db: Any
) -> None:
    store = kit.store(codec=WebCryptoCodec("squirrel"))
    store.set(SID, session(user="alice"))
    stored = db.sessions.find_one()["session"]
    assert isinstance(stored, str)
    assert "alice" not in stored
    assert store.get(SID) == session(user="alice")
    assert store.save(SID, {**store.get(SID), "n": 1}) is True
    assert store.get(SID)["n"] == 1


def test_a_store_logs_a_wrong_key_and_reads_no_session(
    kit: StoreKit, caplog: pytest.LogCaptureFixture
) -> None:
    kit.store(codec=KrupteinCodec("right")).set(SID, session(user="alice"))
    with caplog.at_level(logging.WARNING, logger="mongosession"):
        assert kit.store(codec=KrupteinCodec("wrong")).get(SID) is None
    assert "kruptein HMAC does not match" in caplog.text


# -- document details that connect-mongo showed ---------------------------------------------


def test_touch_with_timestamps_moves_updated_at_as_connect_mongo_does(
    kit: StoreKit, db: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    moment = [_clock.now()]
    monkeypatch.setattr(_clock, "now", lambda: moment[0])
    store = kit.store(timestamps=True)
    created = moment[0]
    store.set(SID, session(user="alice"))
    moment[0] = created + timedelta(seconds=30)
    store.touch(SID, session(user="alice"))
    doc = db.sessions.find_one()
    assert doc["createdAt"] == created
    assert doc["updatedAt"] == created + timedelta(seconds=30)
    assert isinstance(doc["updatedAt"], datetime)
