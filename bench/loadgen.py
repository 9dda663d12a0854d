"""The fallback load generator, on raw asyncio streams: used when ``wrk`` is not installed.

``python -m bench`` drives the HTTP section with ``wrk`` (see ``bench/web.py``);
this one runs only without it (or with ``--tool loadgen``), and the report says
so. It sends what the wrk script sends: one route, each virtual user with one of
the stack's session cookies (made at log-in by the harness). Each virtual user
holds one connection, kept alive when the server allows it and reopened when the
server closes it (as gunicorn's sync worker does). Only requests that complete
inside the measurement window count; callbacks at the window's two ends let the
caller snapshot server CPU and database counters.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field


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

    def __init__(self, host: str, port: int, cookie: str | None = None) -> None:
        self.host = host
        self.port = port
        self.cookie = cookie
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
    method: str,
    target: str,
    *,
    cookies: Sequence[str],
    connections: int,
    warmup: float,
    duration: float,
    on_start: Callable[[], None],
    on_stop: Callable[[], None],
    host: str = "127.0.0.1",
) -> LoadResult:
    """``connections`` virtual users send ``method target``; measure ``duration`` seconds.

    Virtual user ``i`` presents ``cookies[i % len(cookies)]`` (none if empty).
    """
    result = LoadResult()
    measuring = False
    stopping = False

    async def user(index: int) -> None:
        conn = Connection(host, port, cookies[index % len(cookies)] if cookies else None)
        try:
            while not stopping:
                started = time.perf_counter()
                status, set_cookies = await conn.request(method, target)
                if measuring:
                    result.latencies.append(time.perf_counter() - started)
                    result.statuses[status] += 1
                    result.set_cookies += set_cookies
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
