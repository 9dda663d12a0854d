"""A User-Agent header as a person reads it: browser, operating system, kind of device.

Parsed with `ua-parser <https://pypi.org/project/ua-parser/>`_ (the ``devices``
extra: ``pip install 'mongosession[devices]'``), which uses its native
accelerator when installed (``pip install 'ua-parser[regex]'``). Results are
cached. Only listing a user's sessions parses (:meth:`AsyncMongoStore.devices_of`);
requests never do, recording or not. Example::

    >>> parse_user_agent("Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) ...")
    UserAgentInfo(browser='Mobile Safari 17', os='iOS 17.4', device_type='mobile')
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

from mongosession._extras import require
from mongosession.store.devices import DeviceType

__all__ = ["DeviceType", "UserAgentInfo", "parse_user_agent", "require_parser"]

#: Operating systems of phones (and of tablets, told apart below).
_MOBILE_OS = frozenset(
    {"iOS", "Android", "Windows Phone", "BlackBerry OS", "KaiOS", "Symbian OS", "Firefox OS"}
)
#: Operating systems of desktop and laptop computers.
_DESKTOP_OS = frozenset(
    {"Windows", "Mac OS X", "Linux", "Ubuntu", "Chrome OS", "Fedora", "Debian", "FreeBSD"}
)


class UserAgentInfo(NamedTuple):
    """What a user agent says: ``browser`` (major version) and ``os`` (major.minor), or None."""

    browser: str | None
    os: str | None
    device_type: DeviceType


UNKNOWN = UserAgentInfo(None, None, "unknown")


def require_parser() -> None:
    """Raise ``ModuleNotFoundError`` naming the extra when ua-parser is not installed."""
    require("ua_parser", extra="devices", feature="listing devices (devices_of)")


def _named(family: str | None, *versions: str | None) -> str | None:
    if not family or family == "Other":
        return None
    numbers = []
    for part in versions:
        if not part:
            break
        numbers.append(part)
    return " ".join([family, ".".join(numbers)]) if numbers else family


def _device_type(user_agent: str, result: Any) -> DeviceType:
    device, os = result.device, result.os
    family = device.family if device is not None else ""
    brand = (device.brand or "") if device is not None else ""
    if family == "Spider" or brand == "Spider":
        return "bot"
    os_family = os.family if os is not None else ""
    if family.startswith(("iPad", "Kindle")) or "Tablet" in brand or "Tablet" in family:
        return "tablet"
    if os_family == "Android" and "Mobile" not in user_agent:
        return "tablet"  # Android phones' browsers say "Mobile"; tablets' do not
    if os_family in _MOBILE_OS:
        return "mobile"
    if os_family in _DESKTOP_OS:
        return "desktop"
    return "unknown"


@functools.lru_cache(maxsize=1024)
def _parse(user_agent: str) -> UserAgentInfo:
    import ua_parser

    result = ua_parser.parse(user_agent)
    agent, os = result.user_agent, result.os
    browser = None if agent is None else _named(agent.family, agent.major)
    system = None if os is None else _named(os.family, os.major, os.minor)
    return UserAgentInfo(browser, system, _device_type(user_agent, result))


def parse_user_agent(user_agent: str | None) -> UserAgentInfo:
    """Browser, OS and device type of ``user_agent`` (``UNKNOWN`` for None or empty).

    Raises:
        ModuleNotFoundError: ua-parser is not installed (``pip install
            'mongosession[devices]'``).
    """
    require_parser()
    if not user_agent:
        return UNKNOWN
    return _parse(user_agent)
