"""Devices, with no database: user agents parsed, addresses read and truncated, records built."""

from __future__ import annotations

import sys
from datetime import datetime, timezone
from types import SimpleNamespace
from typing import Any

import pytest

from mongosession import (
    ConfigurationError,
    ConfigurationTypeError,
    CorruptSession,
    DecryptionError,
    SessionConfig,
    StoredSession,
)
from mongosession.codecs.formats import JsonCodec
from mongosession.store.devices import (
    MAX_USER_AGENT,
    DeviceInfo,
    device_fields,
    device_handle,
    device_record,
    open_device,
)
from mongosession.useragents import UNKNOWN, parse_user_agent
from mongosession.web.devices import client_ip, normal_ip, request_device, truncate_ip

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=timezone.utc)

AGENTS = [
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/124.0.0.0 Safari/537.36",
        ("Chrome 124", "Windows 10", "desktop"),
    ),
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like "
        "Gecko) Version/17.4 Safari/605.1.15",
        ("Safari 17", "Mac OS X 10.15", "desktop"),
    ),
    (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, "
        "like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
        ("Mobile Safari 17", "iOS 17.4", "mobile"),
    ),
    (
        "Mozilla/5.0 (iPad; CPU OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
        "Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
        ("Mobile Safari 17", "iOS 17.4", "tablet"),
    ),
    (
        "Mozilla/5.0 (Linux; Android 14; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/124.0.0.0 Safari/537.36",
        ("Chrome 124", "Android 14", "tablet"),
    ),
    (
        "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
        ("Firefox 125", "Linux", "desktop"),
    ),
    ("Googlebot/2.1 (+http://www.google.com/bot.html)", ("Googlebot 2", None, "bot")),
    ("curl/8.5.0", ("curl 8", None, "unknown")),
    ("\x1b]0;owned\x07<script>alert(1)</script>", (None, None, "unknown")),
]


@pytest.mark.parametrize(("agent", "expected"), AGENTS)
def test_a_user_agent_is_named_by_browser_os_and_device_type(
    agent: str, expected: tuple[Any, ...]
) -> None:
    assert tuple(parse_user_agent(agent)) == expected


def test_no_user_agent_is_unknown_and_results_are_cached() -> None:
    assert parse_user_agent(None) == parse_user_agent("") == UNKNOWN
    agent = AGENTS[0][0]
    assert parse_user_agent(agent) is parse_user_agent(agent)


def test_without_ua_parser_listing_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ua_parser", None)  # as if not installed
    with pytest.raises(ModuleNotFoundError, match=r"pip install 'mongosession\[devices\]'"):
        parse_user_agent("curl/8.5.0")


# -- addresses ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "normal"),
    [
        ("203.0.113.7", "203.0.113.7"),
        (" 203.0.113.7 ", "203.0.113.7"),
        ("::ffff:203.0.113.7", "203.0.113.7"),
        ("2001:DB8::1", "2001:db8::1"),
        ("[2001:db8::1]:443", "2001:db8::1"),
        ("fe80::1%eth0", "fe80::1"),
        ("testclient", None),
        ("unknown", None),
        ("203.0.113.7:80", None),
        ("<script>", None),
        ("", None),
        (None, None),
    ],
)
def test_only_an_address_is_ever_recorded(text: str | None, normal: str | None) -> None:
    assert normal_ip(text) == normal


@pytest.mark.parametrize(
    ("ip", "truncated"),
    [
        ("203.0.113.77", "203.0.113.0"),
        ("10.1.2.3", "10.1.2.0"),
        ("2001:db8:1234:5678::1", "2001:db8:1234::"),
        ("::1", "::"),
    ],
)
def test_truncation_keeps_a_24_or_a_48(ip: str, truncated: str) -> None:
    assert truncate_ip(ip) == truncated


def test_forwarded_for_is_believed_only_behind_a_proxy_and_only_its_last_entry() -> None:
    forwarded = "6.6.6.6, 203.0.113.7"
    assert client_ip("10.0.0.1", forwarded, proxy=False, record="full") == "10.0.0.1"
    assert client_ip("10.0.0.1", forwarded, proxy=True, record="full") == "203.0.113.7"
    assert client_ip("10.0.0.1", forwarded, proxy=True, record="truncated") == "203.0.113.0"
    assert client_ip("10.0.0.1", forwarded, proxy=True, record="none") is None
    assert client_ip("10.0.0.1", None, proxy=True, record="full") == "10.0.0.1"
    assert client_ip("10.0.0.1", "6.6.6.6, garbage", proxy=True, record="full") is None


def test_nothing_is_read_from_the_request_when_recording_is_off() -> None:
    def header(name: str) -> str | None:
        raise AssertionError(f"read {name}")

    def peer() -> str | None:
        raise AssertionError("read the peer")

    assert request_device(SessionConfig(secret="s"), header, peer) is None
    config = SessionConfig(secret="s", record_devices=True, record_ip="none")
    headers = {"user-agent": "curl/8"}
    assert request_device(config, headers.get, peer) == DeviceInfo("curl/8", None)


def test_the_options_are_checked() -> None:
    with pytest.raises(ConfigurationError, match="record_ip"):
        SessionConfig(secret="s", record_ip="partial")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationTypeError, match="record_devices"):
        SessionConfig(secret="s", record_devices="yes")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationTypeError, match="unknown session option"):
        SessionConfig.from_options("s", {"record_device": True})


# -- the stored record ------------------------------------------------------------------

PLAIN = SimpleNamespace(encryptor=None, codec=JsonCodec())


def test_a_new_document_records_everything_a_later_write_only_activity() -> None:
    data = StoredSession({"user": "alice"}, device=DeviceInfo("curl/8", "203.0.113.7"))
    assert device_fields(PLAIN, data, NOW, new=True) == {
        "device": {"ua": "curl/8", "ip": "203.0.113.7", "signedIn": NOW, "lastActive": NOW}
    }
    assert device_fields(PLAIN, data, NOW, new=False) == {"device.lastActive": NOW}
    data.device = DeviceInfo("curl/8", None, sign_in=True)
    assert device_fields(PLAIN, data, NOW, new=False) == {
        "device": {"ua": "curl/8", "signedIn": NOW, "lastActive": NOW}
    }
    assert device_fields(PLAIN, {"device": {"ua": "forged"}}, NOW, new=True) == {}


def test_a_long_user_agent_is_cut() -> None:
    record = device_record(PLAIN, DeviceInfo("x" * 10_000, None), NOW)
    assert len(record["ua"]) == MAX_USER_AGENT


def test_a_sealed_record_opens_with_the_key_only() -> None:
    pytest.importorskip("cryptography")
    from mongosession.codecs.encryption import Encryptor

    sealing = SimpleNamespace(encryptor=Encryptor(["k" * 32]), codec=JsonCodec())
    record = device_record(sealing, DeviceInfo("curl/8", "203.0.113.7"), NOW)
    assert set(record) == {"sealed", "signedIn", "lastActive"}
    assert "203.0.113" not in record["sealed"]
    assert open_device(sealing, record) == ("curl/8", "203.0.113.7")
    with pytest.raises(CorruptSession, match="no keys"):
        open_device(PLAIN, record)
    other = SimpleNamespace(encryptor=Encryptor(["o" * 32]), codec=JsonCodec())
    with pytest.raises(DecryptionError):
        open_device(other, record)


def test_a_handle_is_stable_opaque_and_not_the_id() -> None:
    sid = "DJW_JaSWR-41-zW3df0G0g7HB8t5bwK4"
    handle = device_handle(sid)
    assert handle == device_handle(sid)
    assert handle != device_handle(sid + "x")
    assert sid not in handle
    assert len(handle) == 22
