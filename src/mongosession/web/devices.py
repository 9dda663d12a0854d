"""The device a request comes from, as ``record_devices`` records it: user agent and client IP.

No I/O and no parsing: the header is kept as it is (parsing happens when a
user's sessions are listed, :mod:`mongosession.useragents`). Read only for the
requests of an application that turned ``record_devices`` on.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable

from mongosession.store.devices import DeviceInfo
from mongosession.web.config import RecordIp, SessionConfig

#: The prefix kept by ``record_ip="truncated"``: a /24 of IPv4, a /48 of IPv6.
TRUNCATED_PREFIX = {4: 24, 6: 48}


def normal_ip(text: str | None) -> str | None:
    """``text`` as an IP address in its normal form, or None when it is not one.

    An IPv4 address mapped into IPv6 (``::ffff:203.0.113.7``, what a dual-stack
    socket reports) is given as the IPv4 address; an IPv6 zone (``%eth0``) is
    dropped. Anything else (a host name, ``unknown``, a port, garbage in a
    forged header) is None: only an address is ever recorded.
    """
    if not text:
        return None
    candidate = text.strip()
    if candidate.startswith("[") and "]" in candidate:  # [v6]:port, as RFC 7239 writes it
        candidate = candidate[1 : candidate.index("]")]
    candidate = candidate.partition("%")[0]
    try:
        address = ipaddress.ip_address(candidate)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return str(address)


def truncate_ip(ip: str) -> str:
    """The network of ``ip`` (a normal address): its /24 for IPv4, its /48 for IPv6.

    Example: ``truncate_ip("203.0.113.77") == "203.0.113.0"``,
    ``truncate_ip("2001:db8:1234:5678::1") == "2001:db8:1234::"``.
    """
    address = ipaddress.ip_address(ip)
    prefix = TRUNCATED_PREFIX[address.version]
    network = ipaddress.ip_network(f"{address}/{prefix}", strict=False)
    return str(network.network_address)


def client_ip(
    peer: str | None, forwarded_for: str | None, *, proxy: bool, record: RecordIp
) -> str | None:
    """The client's address to record, as ``record`` says (None for ``"none"``).

    ``peer`` is the address the connection comes from. With ``proxy`` (the
    application sits behind one trusted reverse proxy, the option that also trusts
    ``X-Forwarded-Proto``) it is the last ``X-Forwarded-For`` entry instead: the
    one that proxy added. Earlier entries were written by whoever sent the request
    and are never believed.
    """
    if record == "none":
        return None
    # With a proxy, the entry it appended (the last one), never the client's own.
    given = forwarded_for.rpartition(",")[2] if proxy and forwarded_for else peer
    ip = normal_ip(given)
    if ip is None or record == "full":
        return ip
    return truncate_ip(ip)


def request_device(
    config: SessionConfig,
    header: Callable[[str], str | None],
    peer: Callable[[], str | None] | None,
) -> DeviceInfo | None:
    """The request's :class:`DeviceInfo`, or None when ``record_devices`` is off.

    ``header(name)`` reads a request header by its lower-case name; ``peer()``
    gives the address the connection comes from (None: unknown). Neither is
    called when ``record_devices`` is off.
    """
    if not config.record_devices:
        return None
    forwarded = header("x-forwarded-for") if config.proxy else None
    address = None if peer is None or config.record_ip == "none" else peer()
    ip = client_ip(address, forwarded, proxy=config.proxy, record=config.record_ip)
    return DeviceInfo(header("user-agent") or None, ip)
