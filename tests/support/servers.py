"""Run an example app under a real server process on a free loopback port."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from werkzeug.serving import make_server

from mongosession.testing.localdb import free_port

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"


def _accepts(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@contextmanager
def serving(
    command: Sequence[str], *, mongodb_uri: str | None, log: Path, timeout: float = 30
) -> Iterator[str]:
    """Start ``command`` (``{port}`` in it is replaced), yield its base URL, stop it by PID.

    The process runs from the repository root with ``MONGODB_URI`` set (unset
    when ``mongodb_uri`` is None); its output goes to ``log``, shown when it
    fails to start.
    """
    port = free_port()
    args = [part.replace("{port}", str(port)) for part in command]
    env = {k: v for k, v in os.environ.items() if k != "MONGODB_URI"}
    env["PYTHONUNBUFFERED"] = "1"
    if mongodb_uri is not None:
        env["MONGODB_URI"] = mongodb_uri
    with log.open("wb") as output:
        process = subprocess.Popen(
            args, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=output, stderr=output
        )
        try:
            deadline = time.monotonic() + timeout
            while not _accepts(port):
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{args} did not start:\n{log.read_text()}")
                time.sleep(0.05)
            yield f"http://127.0.0.1:{port}"
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(15)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


@contextmanager
def serving_in_thread(wsgi_app: Any) -> Iterator[str]:
    """Serve ``wsgi_app`` over HTTP on a free loopback port, a thread per request; yield its URL.

    werkzeug's threaded server, in this process: handlers share objects with the
    test (a gate, the store), and requests really overlap.
    """
    server = make_server("127.0.0.1", 0, wsgi_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="wsgi-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


def python(*args: str) -> list[str]:
    """A command line running this interpreter."""
    return [sys.executable, *args]


def tour_the_example(base_url: str, cookie_name: str) -> None:
    """Counter, login (a new id), whoami, logout, over real HTTP; asserts each step."""
    from tests.support.web import Browser, HTTPSite

    site = HTTPSite(base_url, cookie_name)
    try:
        browser = Browser(site)
        assert [browser.get("/").text.strip() for _ in range(2)] == ["1", "2"]
        first = browser.session_cookie
        assert first
        assert browser.post("/login?user=alice").text.strip() == "welcome"
        assert browser.session_cookie not in (None, first)
        assert browser.get("/whoami").text.strip() == "alice"
        assert browser.get("/").text.strip() == "3"
        assert browser.replay(first).get("/whoami").text.strip() == "anonymous"
        assert browser.post("/logout").status == 200
        assert browser.session_cookie is None
        assert browser.get("/whoami").text.strip() == "anonymous"
    finally:
        site.close()
