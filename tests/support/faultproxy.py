"""A loopback TCP proxy that injects network faults between a client and MongoDB.

Point a client at :attr:`FaultProxy.uri` instead of the server and switch faults on
and off while it runs::

    with FaultProxy(server_port) as proxy:
        client = MongoClient(proxy.uri)
        proxy.blackhole()        # connections stay open, nothing gets through
        proxy.pass_through()     # back to normal

Modes, each applied to open connections and to new ones:

- ``pass``: bytes are forwarded as they come.
- ``delay``: each chunk waits ``seconds`` (plus up to ``jitter``) before it is forwarded.
- ``blackhole``: connections are accepted and kept open; every byte is swallowed, so a
  client waits for an answer that never comes (a dead peer, a dropped route).
- ``reset``: every open connection is aborted with a TCP RST, and so is each new one.
- ``chaos``: pass, but each chunk is delayed with some probability and each connection
  is reset with some probability per chunk (the soak run's fault mode).

The proxy runs its own asyncio loop on a background thread, so it works the same for
blocking and async clients in the test's own thread or loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import struct
import threading
from dataclasses import dataclass, field
from types import TracebackType
from typing import Literal

__all__ = ["FaultProxy", "ProxyStats"]

Mode = Literal["pass", "delay", "blackhole", "reset", "chaos"]
CHUNK = 64 * 1024


@dataclass
class ProxyStats:
    """What the proxy did: connections accepted, resets sent, chunks delayed."""

    accepted: int = 0
    resets: int = 0
    delayed: int = 0
    swallowed_bytes: int = 0
    forwarded_bytes: int = 0
    open_connections: int = 0
    by_mode: dict[str, int] = field(default_factory=dict)


class _Link:
    """One proxied connection: the client's socket and ours to the server."""

    def __init__(self, client: asyncio.StreamWriter, server: asyncio.StreamWriter | None) -> None:
        self.client = client
        self.server = server
        self.closed = False

    def abort(self) -> None:
        """Close both sides with a TCP RST (SO_LINGER 0), not a FIN."""
        if self.closed:
            return
        self.closed = True
        for writer in (self.client, self.server):
            if writer is None:
                continue
            sock = writer.get_extra_info("socket")
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        for writer in (self.client, self.server):
            if writer is not None:
                writer.transport.close()


class FaultProxy:
    """A TCP proxy on 127.0.0.1 in front of ``target_host:target_port``, faults on demand.

    Args:
        target_port: the server's port.
        target_host: the server's host (loopback by default).
        seed: seeds the random choices of ``delay`` jitter and ``chaos``.
    """

    def __init__(self, target_port: int, target_host: str = "127.0.0.1", *, seed: int = 0) -> None:
        self.target = (target_host, target_port)
        self.stats = ProxyStats()
        self._random = random.Random(seed)
        self._mode: Mode = "pass"
        self._delay = 0.0
        self._jitter = 0.0
        self._delay_probability = 0.0
        self._reset_probability = 0.0
        self._links: set[_Link] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.Server | None = None
        self._thread: threading.Thread | None = None
        self._port: int | None = None

    # -- life cycle ---------------------------------------------------------------

    @property
    def port(self) -> int:
        """The port clients connect to."""
        if self._port is None:
            raise RuntimeError("the proxy has not started")
        return self._port

    @property
    def uri(self) -> str:
        """``mongodb://127.0.0.1:PORT/?directConnection=true`` for this proxy.

        A direct connection, because a replica set member would otherwise announce
        its own address and the client would go around the proxy.
        """
        return f"mongodb://127.0.0.1:{self.port}/?directConnection=true"

    @property
    def mode(self) -> Mode:
        return self._mode

    def start(self) -> FaultProxy:
        """Listen on a free loopback port and serve from a background thread."""
        if self._thread is not None:
            return self
        started = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                self._server = loop.run_until_complete(
                    asyncio.start_server(self._accept, "127.0.0.1", 0, backlog=512)
                )
                self._port = self._server.sockets[0].getsockname()[1]
            except BaseException as exc:  # reported to start()'s caller
                failure.append(exc)
                started.set()
                loop.close()
                return
            started.set()
            try:
                loop.run_forever()
            finally:
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.close()

        self._thread = threading.Thread(target=run, name="fault-proxy", daemon=True)
        self._thread.start()
        started.wait(10)
        if failure:
            self._thread = None
            raise failure[0]
        return self

    def stop(self) -> None:
        """Close every connection and the listener; stop the thread."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return

        async def shutdown() -> None:
            for link in list(self._links):
                link.close()
            if self._server is not None:
                self._server.close()
                await self._server.wait_closed()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        with contextlib.suppress(RuntimeError):
            asyncio.run_coroutine_threadsafe(shutdown(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        self._thread = None
        self._loop = None

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- faults -------------------------------------------------------------------

    def pass_through(self) -> None:
        """Forward everything, at once."""
        self._set_mode("pass")

    def delay(self, seconds: float, jitter: float = 0.0) -> None:
        """Hold each chunk ``seconds`` (plus a random part up to ``jitter``) in each direction."""
        self._delay, self._jitter = seconds, jitter
        self._set_mode("delay")

    def blackhole(self) -> None:
        """Keep connections open and swallow every byte, both ways."""
        self._set_mode("blackhole")

    def reset(self) -> None:
        """Abort every open connection with an RST, and every new one as it arrives."""
        self._set_mode("reset")
        self.reset_connections()

    def chaos(
        self, *, delay_probability: float, max_delay: float, reset_probability: float
    ) -> None:
        """Pass, but delay some chunks (up to ``max_delay``) and reset some connections.

        Probabilities apply per forwarded chunk.
        """
        self._delay_probability = delay_probability
        self._delay = max_delay
        self._reset_probability = reset_probability
        self._set_mode("chaos")

    def reset_connections(self) -> int:
        """Abort every open connection now (RST); the mode stays. Returns how many."""
        loop = self._loop
        if loop is None:
            return 0

        async def abort_all() -> int:
            links = list(self._links)
            for link in links:
                self._abort(link)
            return len(links)

        return asyncio.run_coroutine_threadsafe(abort_all(), loop).result(10)

    def _set_mode(self, mode: Mode) -> None:
        self._mode = mode
        self.stats.by_mode[mode] = self.stats.by_mode.get(mode, 0) + 1

    # -- the proxy ----------------------------------------------------------------

    def _abort(self, link: _Link) -> None:
        if not link.closed:
            self.stats.resets += 1
        link.abort()
        self._links.discard(link)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.stats.accepted += 1
        link = _Link(writer, None)
        if self._mode == "reset":
            self._abort(link)
            return
        self._links.add(link)
        self.stats.open_connections = len(self._links)
        upstream: asyncio.StreamReader | None = None
        if self._mode != "blackhole":
            try:
                upstream, link.server = await asyncio.open_connection(*self.target)
            except OSError:
                self._abort(link)
                return
        try:
            pipes = [self._pipe(reader, link, to_server=True)]
            if upstream is not None:
                pipes.append(self._pipe(upstream, link, to_server=False))
            await asyncio.gather(*pipes)
        except asyncio.CancelledError:
            pass  # stop(): asyncio's server callback would report the cancellation
        finally:
            link.close()
            self._links.discard(link)
            self.stats.open_connections = len(self._links)

    async def _pipe(self, source: asyncio.StreamReader, link: _Link, *, to_server: bool) -> None:
        try:
            while not link.closed:
                chunk = await source.read(CHUNK)
                if not chunk:
                    break
                mode = self._mode
                if mode == "reset":
                    self._abort(link)
                    return
                if mode == "blackhole" or (to_server and link.server is None):
                    self.stats.swallowed_bytes += len(chunk)
                    continue
                if mode == "delay":
                    self.stats.delayed += 1
                    await asyncio.sleep(self._delay + self._random.uniform(0, self._jitter))
                elif mode == "chaos":
                    if self._random.random() < self._reset_probability:
                        self._abort(link)
                        return
                    if self._random.random() < self._delay_probability:
                        self.stats.delayed += 1
                        await asyncio.sleep(self._random.uniform(0, self._delay))
                if link.closed or self._mode == "blackhole":
                    self.stats.swallowed_bytes += len(chunk)
                    continue
                target = link.server if to_server else link.client
                assert target is not None
                target.write(chunk)
                self.stats.forwarded_bytes += len(chunk)
                await target.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            link.close()
