"""Devices and activity per session (docs/devices.md), against both stores.

The store records a write's :class:`DeviceInfo` in the document's ``device``
field, outside the payload; ``devices_of`` lists a user's sessions from it and
``revoke_device`` ends one by its handle.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import pytest

from mongosession import ConfigurationError, StoredSession, _clock
from mongosession.store.devices import DeviceInfo, device_handle
from tests.support.monitoring import CommandLog
from tests.support.sessions import OTHER, SID, session
from tests.support.stores import StoreKit

FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0"
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"
)
THIRD = "5x6eNV1JvOqZoF8kXKqJ3Vd2Jm1qL3xA"
KEY = "k" * 32


@pytest.fixture
def frozen(monkeypatch: pytest.MonkeyPatch) -> list[datetime]:
    moment = [_clock.now()]
    monkeypatch.setattr(_clock, "now", lambda: moment[0])
    return moment


def with_device(data: dict[str, Any], ua: str | None, ip: str | None, **kw: Any) -> StoredSession:
    return StoredSession(data, device=DeviceInfo(ua, ip, **kw))


def test_create_records_the_device_outside_the_payload(kit: StoreKit, db: Any) -> None:
    store = kit.store(user_key="user")
    store.create(SID, with_device(session(user="alice"), FIREFOX, "203.0.113.7"))
    doc = db.sessions.find_one({"_id": SID})
    assert doc["device"]["ua"] == FIREFOX
    assert doc["device"]["ip"] == "203.0.113.7"
    assert doc["device"]["signedIn"] == doc["device"]["lastActive"]
    payload = json.loads(doc["session"])
    assert payload == session(user="alice")  # what Node reads: nothing new


def test_a_session_key_named_device_never_reaches_the_store_field(kit: StoreKit, db: Any) -> None:
    store = kit.store(user_key="user")
    forged = {"ua": "forged", "ip": "1.1.1.1", "lastActive": "x"}
    store.create(SID, with_device(session(user="alice", device=forged), FIREFOX, "203.0.113.7"))
    doc = db.sessions.find_one({"_id": SID})
    assert doc["device"]["ua"] == FIREFOX
    assert doc["device"]["ip"] == "203.0.113.7"
    store.set(SID, session(user="alice", device=forged, **{"device.ua": "x"}))
    assert db.sessions.find_one({"_id": SID})["device"]["ua"] == FIREFOX


def test_without_a_device_nothing_is_written(kit: StoreKit, db: Any) -> None:
    store = kit.store(user_key="user")
    store.create(SID, session(user="alice"))
    store.save(SID, session(user="alice", n=1))
    store.touch(SID, session(user="alice", n=1))
    assert "device" not in db.sessions.find_one({"_id": SID})


def test_saves_and_touches_move_last_active_only(
    kit: StoreKit, db: Any, frozen: list[datetime]
) -> None:
    store = kit.store(user_key="user")
    store.create(SID, with_device(session(user="alice"), FIREFOX, "203.0.113.7"))
    signed_in = frozen[0]
    frozen[0] += timedelta(minutes=5)
    store.save(SID, with_device(session(user="alice", n=1), IPHONE, "198.51.100.1"))
    device = db.sessions.find_one()["device"]
    assert (device["ua"], device["ip"]) == (FIREFOX, "203.0.113.7")  # not a sign-in
    assert device["signedIn"] == signed_in
    assert device["lastActive"] == frozen[0]
    frozen[0] += timedelta(minutes=5)
    store.touch(SID, with_device(session(user="alice", n=1), IPHONE, "198.51.100.1"))
    assert db.sessions.find_one()["device"]["lastActive"] == frozen[0]


def test_a_sign_in_records_the_device_again(kit: StoreKit, db: Any, frozen: list[datetime]) -> None:
    store = kit.store(user_key="user")
    store.create(SID, with_device(session(), FIREFOX, "203.0.113.7"))
    frozen[0] += timedelta(minutes=1)
    data = with_device(session(user="alice"), IPHONE, "198.51.100.1", sign_in=True)
    assert store.save(SID, data)
    device = db.sessions.find_one()["device"]
    assert (device["ua"], device["ip"]) == (IPHONE, "198.51.100.1")
    assert device["signedIn"] == device["lastActive"] == frozen[0]


def test_touch_after_window_writes_nothing_not_even_last_active(
    kit: StoreKit, db: Any, frozen: list[datetime], command_log: CommandLog
) -> None:
    store = kit.store(
        user_key="user", touch_after=60, client=kit.client(event_listeners=[command_log])
    )
    data = with_device(session(user="alice"), FIREFOX, "203.0.113.7")
    store.create(SID, data)
    before = db.sessions.find_one()["device"]["lastActive"]
    command_log.clear()
    frozen[0] += timedelta(seconds=30)
    store.touch(SID, data)
    assert command_log.writes == 0
    assert db.sessions.find_one()["device"]["lastActive"] == before
    frozen[0] += timedelta(seconds=31)
    store.touch(SID, data)
    assert db.sessions.find_one()["device"]["lastActive"] == frozen[0]


def test_regenerate_records_the_device_of_the_login(kit: StoreKit, db: Any) -> None:
    store = kit.store(user_key="user")
    store.create(SID, with_device(session(), FIREFOX, "203.0.113.7"))
    assert store.regenerate(SID, OTHER, with_device(session(user="alice"), IPHONE, "2001:db8::"))
    device = db.sessions.find_one({"_id": OTHER})["device"]
    assert (device["ua"], device["ip"]) == (IPHONE, "2001:db8::")


def test_absolute_lifetime_pipeline_updates_record_the_device_too(
    kit: StoreKit, db: Any, frozen: list[datetime]
) -> None:
    store = kit.store(user_key="user", absolute_lifetime=3600)
    store.create(SID, with_device(session(user="alice"), FIREFOX, "203.0.113.7"))
    frozen[0] += timedelta(minutes=1)
    store.save(SID, with_device(session(user="alice", n=1), FIREFOX, "203.0.113.7"))
    assert db.sessions.find_one()["device"]["lastActive"] == frozen[0]
    frozen[0] += timedelta(minutes=1)
    store.touch(SID, with_device(session(user="alice", n=1), FIREFOX, "203.0.113.7"))
    assert db.sessions.find_one()["device"]["lastActive"] == frozen[0]
    frozen[0] += timedelta(minutes=1)
    store.save(SID, with_device(session(user="bob"), IPHONE, "198.51.100.1", sign_in=True))
    device = db.sessions.find_one()["device"]
    assert (device["ua"], device["ip"], device["signedIn"]) == (IPHONE, "198.51.100.1", frozen[0])


# -- listing ------------------------------------------------------------------------


def test_devices_of_lists_a_users_sessions_by_activity(
    kit: StoreKit, frozen: list[datetime]
) -> None:
    store = kit.store(user_key="user")
    store.create(SID, with_device(session(user="alice"), FIREFOX, "203.0.113.7"))
    frozen[0] += timedelta(minutes=1)
    store.create(OTHER, with_device(session(user="alice"), IPHONE, "198.51.100.1"))
    store.create(THIRD, with_device(session(user="bob"), FIREFOX, "192.0.2.1"))
    phone, desktop = store.devices_of("alice", current=SID)
    assert (phone.browser, phone.os, phone.device_type) == (
        "Mobile Safari 17",
        "iOS 17.4",
        "mobile",
    )
    assert (desktop.browser, desktop.os, desktop.device_type) == ("Firefox 125", "Linux", "desktop")
    assert (phone.ip, desktop.ip) == ("198.51.100.1", "203.0.113.7")
    assert (phone.current, desktop.current) == (False, True)
    assert phone.last_active == frozen[0]
    assert desktop.last_active < phone.last_active
    assert phone.expires is not None
    assert phone.signed_in == frozen[0]
    for device in (phone, desktop):
        for sid in (SID, OTHER):
            assert sid not in device.handle
            assert sid not in repr(device)
    assert phone.handle != desktop.handle
    assert store.devices_of("carol") == []


def test_devices_of_lists_sessions_recorded_without_devices(kit: StoreKit) -> None:
    store = kit.store(user_key="user", timestamps=True)
    store.set(SID, session(user="alice"))
    (only,) = store.devices_of("alice")
    assert (only.browser, only.os, only.ip, only.device_type) == (None, None, None, "unknown")
    assert only.signed_in is not None
    assert only.last_active is not None
    assert store.revoke_device("alice", only.handle)


def test_devices_of_needs_a_user_key(kit: StoreKit) -> None:
    store = kit.store()
    with pytest.raises(ConfigurationError, match="user_key"):
        store.devices_of("alice")
    with pytest.raises(ConfigurationError, match="user_key"):
        store.revoke_device("alice", "x")
    with pytest.raises(TypeError):
        kit.store(user_key="user").devices_of({"$ne": None})


# -- revoking -------------------------------------------------------------------------


@pytest.mark.parametrize("delete_flags", [False, True])
def test_revoke_device_ends_only_that_session_of_that_user(
    kit: StoreKit, delete_flags: bool
) -> None:
    store = kit.store(user_key="user", delete_flags=delete_flags)
    store.create(SID, with_device(session(user="alice"), FIREFOX, "203.0.113.7"))
    store.create(OTHER, with_device(session(user="alice"), IPHONE, "198.51.100.1"))
    store.create(THIRD, with_device(session(user="bob"), FIREFOX, "192.0.2.1"))
    (bobs,) = store.devices_of("bob")
    assert not store.revoke_device("alice", bobs.handle)  # not hers: nothing
    assert store.get(THIRD) is not None
    assert not store.revoke_device("alice", "made-up")
    assert not store.revoke_device("alice", "")
    with pytest.raises(TypeError):
        store.revoke_device("alice", {"$ne": None})
    phone = next(d for d in store.devices_of("alice") if d.browser == "Mobile Safari 17")
    assert store.revoke_device("alice", phone.handle)
    assert store.get(OTHER) is None
    assert store.get(SID) is not None
    assert not store.revoke_device("alice", phone.handle)  # ended already
    assert [d.current for d in store.devices_of("alice", current=SID)] == [True]


def test_the_handle_is_a_hash_of_the_stored_id_never_the_id(kit: StoreKit) -> None:
    store = kit.store(user_key="user", hash_ids="h" * 16)
    store.create(SID, with_device(session(user="alice"), FIREFOX, "203.0.113.7"))
    (device,) = store.devices_of("alice", current=SID)
    assert device.current
    assert device.handle == device_handle(store.storage_id(SID))
    assert SID not in device.handle
    assert store.storage_id(SID) not in device.handle


def test_sign_out_everywhere_else_is_destroy_user_keeping_the_current(kit: StoreKit) -> None:
    store = kit.store(user_key="user")
    for sid in (SID, OTHER, THIRD):
        store.create(sid, with_device(session(user="alice"), FIREFOX, "203.0.113.7"))
    assert store.destroy_user("alice", keep=SID) == 2
    assert [d.current for d in store.devices_of("alice", current=SID)] == [True]


# -- encryption --------------------------------------------------------------------------


def test_with_encryption_the_user_agent_and_ip_are_sealed(kit: StoreKit, db: Any) -> None:
    store = kit.store(user_key="user", encryption_keys=[KEY])
    store.create(SID, with_device(session(user="alice"), FIREFOX, "203.0.113.7"))
    doc = db.sessions.find_one()
    assert set(doc["device"]) == {"sealed", "signedIn", "lastActive"}
    raw = json.dumps(doc, default=str)
    assert "Firefox" not in raw
    assert "203.0.113" not in raw
    (device,) = store.devices_of("alice")
    assert (device.browser, device.ip) == ("Firefox 125", "203.0.113.7")
    # Without the key the record reads as none (the session is still listed).
    (unkeyed,) = kit.store(user_key="user", encryption_keys=["another key entirely"]).devices_of(
        "alice"
    )
    assert (unkeyed.browser, unkeyed.ip, unkeyed.handle) == (None, None, device.handle)
