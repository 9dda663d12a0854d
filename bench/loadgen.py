"""A small HTTP/1.1 load generator on raw asyncio streams.

Each virtual user holds one connection (kept alive when the server allows it,
reopened when the server closes it, as gunicorn's sync worker does) and one cookie
jar of one cookie, logs in once, then loops over its workload's requests. Only
requests that complete inside the measurement window count; callbacks at the
window's two ends let the caller snapshot server CPU and database counters.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

#: workload name -> what each virtual user sends
WORKLOADS: dict[str, str] = {
    "none": "no session: GET /health without a cookie (the framework alone; 0 commands expected)",
    "read": "read-heavy: GET /read (the session is read, not modified, so it is touched)",
    "write": "write-heavy: POST /write (the session is modified and rewritten)",
    "mixed": "90/10 mixed: 90% GET /read, 10% POST /write",
    "churn": "login churn: POST /login (regenerate: old record deleted, new one created)",
}


def next_request(workload: str, rng: random.Random, user: str) -> tuple[str, str]:
    """The method and target of a virtual user's next request."""
    if workload == "none":
        return "GET", "/health"
    if workload == "read":
        return "GET", "/read"
    if workload == "write":
        return "POST", "/write"
    if workload == "mixed":
        return ("POST", "/write") if rng.random() < 0.10 else ("GET", "/read")
    if workload == "churn":
        return "POST", f"/login?user={user}"
    raise ValueError(f"unknown workload {workload!r}")


@dataclass
class LoadResult:
    """What the measurement window saw."""

    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    set_cookies: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    client_cpu: float = 0.0

    @property
    def responses(self) -> int:
        return len(self.latencies)

    @property
    def errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if status >= 400)


class Connection:
    """One keep-alive HTTP/1.1 connection with a one-cookie jar."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self.cookie: str | None = None
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def request(self, method: str, target: str) -> tuple[int, int]:
        """Send one request; return (status, number of Set-Cookie headers)."""
        fresh = self._writer is None
        if fresh:
            await self._open()
        try:
            return await self._exchange(method, target)
        except (ConnectionError, asyncio.IncompleteReadError):
            self.close()
            if fresh:
                raise
            await self._open()  # the server closed an idle keep-alive connection
            return await self._exchange(method, target)

    async def _open(self) -> None:
        self._reader, self._writer = await asyncio.open_connection(self.host, self.port)

    async def _exchange(self, method: str, target: str) -> tuple[int, int]:
        reader, writer = self._reader, self._writer
        assert reader is not None
        assert writer is not None
        head = f"{method} {target} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
        if self.cookie:
            head += f"Cookie: {self.cookie}\r\n"
        writer.write((head + "Content-Length: 0\r\n\r\n").encode("latin-1"))
        raw = await reader.readuntil(b"\r\n\r\n")
        lines = raw.split(b"\r\n")
        status = int(lines[0].split(b" ", 2)[1])
        length = 0
        chunked = close = False
        cookies = 0
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"set-cookie":
                cookies += 1
                self._take_cookie(value.strip().decode("latin-1"))
            elif name == b"transfer-encoding":
                chunked = b"chunked" in value.lower()
            elif name == b"connection":
                close = b"close" in value.lower()
        if chunked:
            while True:
                size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
                await reader.readexactly(size + 2)
                if size == 0:
                    break
        elif length:
            await reader.readexactly(length)
        if close or lines[0].startswith(b"HTTP/1.0"):
            self.close()
        return status, cookies

    def _take_cookie(self, header: str) -> None:
        pair = header.split(";", 1)[0].strip()
        name, _, value = pair.partition("=")
        expired = "expires=thu, 01 jan 1970" in header.lower() or "max-age=0" in header.lower()
        self.cookie = None if (not value or expired) else f"{name}={value}"

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._reader = self._writer = None


async def run_load(
    port: int,
    workload: str,
    *,
    connections: int,
    warmup: float,
    duration: float,
    on_start: Callable[[], None],
    on_stop: Callable[[], None],
    host: str = "127.0.0.1",
    seed: int = 7,
) -> LoadResult:
    """Drive ``workload`` with ``connections`` virtual users; measure ``duration`` seconds."""
    result = LoadResult()
    measuring = False
    stopping = False

    async def user(index: int) -> None:
        conn = Connection(host, port)
        rng = random.Random(seed * 1000 + index)
        name = f"u{index}"
        try:
            if workload != "none":
                status, _ = await conn.request("POST", f"/login?user={name}")
                if status != 200:
                    raise RuntimeError(f"login failed with HTTP {status}")
            while not stopping:
                method, target = next_request(workload, rng, name)
                started = time.perf_counter()
                status, cookies = await conn.request(method, target)
                if measuring:
                    result.latencies.append(time.perf_counter() - started)
                    result.statuses[status] += 1
                    result.set_cookies += cookies
        finally:
            conn.close()

    tasks = [asyncio.create_task(user(i)) for i in range(connections)]
    try:
        await asyncio.sleep(warmup)
        _raise_failures(tasks)
        on_start()
        cpu0, wall0 = time.process_time(), time.perf_counter()
        measuring = True
        await asyncio.sleep(duration)
        measuring = False
        result.seconds = time.perf_counter() - wall0
        result.client_cpu = time.process_time() - cpu0
        on_stop()
        _raise_failures(tasks)
    finally:
        stopping = True
        _done, pending = await asyncio.wait(tasks, timeout=10)
        for task in pending:
            task.cancel()
    return result


def _raise_failures(tasks: list[asyncio.Task[None]]) -> None:
    for task in tasks:
        if task.done() and task.exception() is not None:
            raise RuntimeError("a virtual user failed") from task.exception()


def new_event_loop() -> asyncio.AbstractEventLoop:
    """uvloop's loop when installed (a cheaper client), else asyncio's."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
    return loop
