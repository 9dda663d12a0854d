"""The soak run's clients, in a process of their own (no GIL shared with the fault proxy).

``python -m tests.integration.soak.load URL --clients N --duration S`` runs N simulated users
against the soak app for S seconds and prints one JSON object: requests served,
errors by kind, anomalies, latencies, and each user's session and last acknowledged
visit count (for the orchestrator to check against MongoDB).

Each user logs in, then mostly counts visits (a write each) and sometimes reads its
session. Every answer must name the user's own session and user (never another's);
the count must never fall below the last acknowledged value (a lost write) nor
jump ahead with no failed request to explain it (a write applied twice).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import h11

COOKIE = "connect.sid"
TIMEOUT = 15.0
Headers = list[tuple[str, str]]


class Connection:
    """One keep-alive HTTP/1.1 connection (h11 speaks the protocol).

    Far cheaper per request than a full client library, which matters when one
    process plays 200 users on a two-core machine.
    """

    def __init__(self, base_url: str) -> None:
        host, _, port = base_url.removeprefix("http://").partition(":")
        self.host, self.port = host, int(port)
        self._streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        self._h11 = h11.Connection(h11.CLIENT)

    async def request(
        self, method: str, target: str, headers: Headers
    ) -> tuple[int, Headers, bytes]:
        """Send one request; the status, headers (lower-case names) and body."""
        try:
            return await asyncio.wait_for(self._exchange(method, target, headers), TIMEOUT)
        except BaseException:
            self.close()
            raise

    async def _exchange(
        self, method: str, target: str, headers: Headers
    ) -> tuple[int, Headers, bytes]:
        if self._streams is None:
            self._streams = await asyncio.open_connection(self.host, self.port)
            self._h11 = h11.Connection(h11.CLIENT)
        reader, writer = self._streams
        conn = self._h11
        head = [("host", f"{self.host}:{self.port}"), ("content-length", "0"), *headers]
        writer.write(conn.send(h11.Request(method=method, target=target, headers=head)) or b"")
        writer.write(conn.send(h11.EndOfMessage()) or b"")
        await writer.drain()
        status, out, body = 0, [], bytearray()
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                data = await reader.read(65536)
                if not data:
                    raise ConnectionResetError("the server closed the connection")
                conn.receive_data(data)
            elif isinstance(event, h11.Response):
                status = event.status_code
                out = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in event.headers]
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage):
                break
        if conn.our_state is h11.DONE and conn.their_state is h11.DONE:
            conn.start_next_cycle()
        else:
            self.close()
        return status, out, bytes(body)

    def close(self) -> None:
        if self._streams is not None:
            self._streams[1].close()
            self._streams = None


@dataclass
class User:
    """One simulated user: its cookie, its session and what it was told."""

    name: str
    cookie: str | None = None
    sid: str | None = None
    acked: int = 0  # the last visit count an answer acknowledged
    uncertain: bool = False  # a visit failed since: it may or may not have been applied


@dataclass
class Load:
    """What the clients saw."""

    seconds: float = 0.0
    served: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    anomalies: Counter[str] = field(default_factory=Counter)
    latencies_ok: list[float] = field(default_factory=list)
    latencies_all: list[float] = field(default_factory=list)
    users: list[User] = field(default_factory=list)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Load:
        """The inverse of :meth:`to_json` (users come back with name, sid and count)."""
        return cls(
            seconds=data["seconds"],
            served=data["served"],
            errors=Counter(data["errors"]),
            anomalies=Counter(data["anomalies"]),
            latencies_ok=data["latencies_ok"],
            latencies_all=data["latencies_all"],
            users=[User(name=u["name"], sid=u["sid"], acked=u["acked"]) for u in data["users"]],
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "seconds": self.seconds,
            "served": self.served,
            "errors": dict(self.errors),
            "anomalies": dict(self.anomalies),
            "latencies_ok": self.latencies_ok,
            "latencies_all": self.latencies_all,
            "users": [
                {"name": u.name, "sid": u.sid, "acked": u.acked} for u in self.users if u.sid
            ],
        }


def _cookie_from(headers: Headers) -> str | bool | None:
    """The session cookie a response sets: its value, None if it clears it, False if none."""
    for key, header in headers:
        name, _, rest = header.partition("=")
        if key == "set-cookie" and name.strip() == COOKIE:
            value = rest.split(";", 1)[0]
            return None if not value or "01 Jan 1970" in header else value
    return False


async def _request(
    http: Connection, user: User, load: Load, method: str, target: str
) -> dict[str, Any] | None:
    """One request; None when it failed (the failure is counted by kind)."""
    headers = [("cookie", f"{COOKIE}={user.cookie}")] if user.cookie else []
    started = time.perf_counter()
    try:
        status, response_headers, raw = await http.request(method, target, headers)
    except asyncio.TimeoutError:
        load.errors[f"client timeout ({TIMEOUT:.0f} s)"] += 1
        return None
    except (OSError, h11.ProtocolError) as exc:
        load.errors[f"transport: {type(exc).__name__}"] += 1
        return None
    elapsed = time.perf_counter() - started
    load.latencies_all.append(elapsed)
    if status != 200:
        load.errors[f"HTTP {status}"] += 1
        return None
    load.latencies_ok.append(elapsed)
    load.served += 1
    cookie = _cookie_from(response_headers)
    if cookie is None:
        load.anomalies["lost session"] += 1  # the app ended the session
        user.cookie = user.sid = None
    elif cookie is not False:
        user.cookie = cookie
    body: dict[str, Any] = json.loads(raw)
    return body


def _check(user: User, load: Load, body: dict[str, Any], *, wrote: bool) -> None:
    if body.get("sid") != user.sid or body.get("user") != user.name:
        kind = "lost session" if body.get("user") is None else "foreign session"
        load.anomalies[kind] += 1
        return
    n = int(body["n"])
    floor = user.acked + (1 if wrote else 0)
    if n < floor:
        load.anomalies["lost write"] += 1
    elif n > floor and not user.uncertain:
        load.anomalies["duplicated write"] += 1
    user.acked = max(user.acked, n)
    user.uncertain = False


async def _simulate(index: int, base_url: str, stop_at: float, load: Load) -> None:
    rng = random.Random(index)
    user = User(name=f"user{index:03d}")
    load.users.append(user)
    http = Connection(base_url)
    try:
        while time.monotonic() < stop_at:
            if user.sid is None:
                user.cookie = None
                body = await _request(http, user, load, "POST", f"/login?user={user.name}")
                if body is not None and body.get("user") == user.name:
                    user.sid, user.acked, user.uncertain = body["sid"], 0, False
                continue
            roll = rng.random()
            if roll < 0.80:
                body = await _request(http, user, load, "POST", "/visit")
                if body is None:
                    user.uncertain = True
                else:
                    _check(user, load, body, wrote=True)
            else:
                target = "/whoami" if roll < 0.95 else "/sessions"
                body = await _request(http, user, load, "GET", target)
                if body is not None:
                    _check(user, load, body, wrote=False)
    finally:
        http.close()


async def run_load(base_url: str, *, clients: int, duration: float) -> Load:
    """``clients`` users against ``base_url`` for ``duration`` seconds."""
    load = Load()
    started = time.monotonic()
    stop_at = started + duration
    await asyncio.gather(*(_simulate(i, base_url, stop_at, load) for i in range(clients)))
    load.seconds = time.monotonic() - started
    return load


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.integration.soak.load", description=__doc__
    )
    parser.add_argument("url")
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--duration", type=float, default=30.0)
    args = parser.parse_args(argv)
    load = asyncio.run(run_load(args.url, clients=args.clients, duration=args.duration))
    print(json.dumps(load.to_json()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
