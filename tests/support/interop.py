"""Harness of the Node interop tests: the Express app and the Python app, side by side.

:class:`Shared` is one configuration, said once and translated for both sides: the
Express app (``tests/interop/app.js``: express-session + connect-mongo from npm, run
with the machine's ``node``) and a Starlette app behind :class:`SessionMiddleware`
served by uvicorn. Both listen on 127.0.0.1 on ports the system picks, use the
test's database, and answer the same routes:

- ``POST /login?user=NAME``: regenerate, then store the user and a key only that
  side knows (Node: ``passport`` and ``loginAt``; Python: ``prefs``);
- ``GET /``: add one to ``n`` and return it;
- ``GET /whoami``: the user, or ``anonymous`` (reads only);
- ``GET /peek``: ``{"id", "session" (without the cookie), "cookie"}`` as JSON;
- ``POST /logout``: destroy the session.

docs/express.md shows this configuration; keep the two in step.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import select
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from mongosession import AsyncMongoStore
from mongosession._clock import to_js_iso
from mongosession.asgi import SessionMiddleware
from mongosession.codecs.node import KrupteinCodec, WebCryptoCodec

#: The Node side (package.json, app.js, vectors.json): it stays in tests/interop/.
INTEROP_DIR = Path(__file__).resolve().parents[1] / "interop"
NODE_APP = INTEROP_DIR / "app.js"
START_TIMEOUT = 20.0


def node_missing() -> str | None:
    """Why the Node side cannot run here, or None when it can."""
    if shutil.which("node") is None:
        return "`node` is not on PATH (Node.js >= 20.19 runs the Express side)"
    for package in ("express", "express-session", "connect-mongo", "mongodb"):
        if not (INTEROP_DIR / "node_modules" / package / "package.json").is_file():
            return f"{package} is not installed: run `npm ci --prefix tests/interop`"
    return None


def node_decrypt(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Decrypt ``{adapter, options, payload}`` items with connect-mongo's own adapters."""
    done = subprocess.run(
        [shutil.which("node") or "node", str(INTEROP_DIR / "decrypt.js")],
        cwd=INTEROP_DIR,
        input=json.dumps(items),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    result: list[dict[str, Any]] = json.loads(done.stdout)
    return result


def sha256_id(sid: str) -> str:
    """The ``transformId`` both sides use in the tests: hex SHA-256 of the id."""
    return hashlib.sha256(sid.encode()).hexdigest()


@dataclass(frozen=True)
class Shared:
    """One configuration of both sides, in the terms of the docs page."""

    secret: tuple[str, ...] = ("interop secret",)
    stringify: bool = True
    transform_id: bool = False
    timestamps: bool = False
    touch_after: int = 0
    ttl: int = 14 * 24 * 3600
    max_age: int | None = 3600  # seconds; None for a browser-session cookie
    auto_remove: str = "native"
    crypto: tuple[str, str] | None = None  # ("webcrypto" | "kruptein", secret)

    def node_config(self) -> dict[str, Any]:
        """``SESSION_CONFIG`` for app.js."""
        return {
            "secret": list(self.secret),
            "stringify": self.stringify,
            "transformId": "sha256" if self.transform_id else None,
            "timestamps": self.timestamps,
            "touchAfter": self.touch_after,
            "ttl": self.ttl,
            "autoRemove": self.auto_remove,
            "maxAge": None if self.max_age is None else self.max_age * 1000,
            "crypto": None
            if self.crypto is None
            else {"kind": self.crypto[0], "secret": self.crypto[1]},
        }

    def store_options(self) -> dict[str, Any]:
        """The AsyncMongoStore arguments that match connect-mongo's options."""
        codec: Any = "json" if self.stringify else "bson"
        if self.crypto is not None:
            kind, secret = self.crypto
            codec = WebCryptoCodec(secret) if kind == "webcrypto" else KrupteinCodec(secret)
        return {
            "collection": "sessions",
            "codec": codec,
            "transform_id": sha256_id if self.transform_id else None,
            "timestamps": self.timestamps,
            "touch_after": self.touch_after,
            "ttl": self.ttl,
            "auto_remove": self.auto_remove,
        }

    def middleware_options(self) -> dict[str, Any]:
        """The SessionMiddleware options that match express-session's."""
        return {
            "secret": list(self.secret),
            "name": "connect.sid",
            "max_age": self.max_age,
            "same_site": "lax",
            "http_only": True,
            "path": "/",
            "resave": False,
            "save_uninitialized": False,
        }


class NodeApp:
    """``node tests/interop/app.js`` on a free loopback port; stop() ends it by PID."""

    side = "node"

    def __init__(self, uri: str, shared: Shared, log_dir: Path) -> None:
        self.uri = uri
        self.shared = shared
        self.log_path = log_dir / f"node-{time.monotonic_ns()}.log"
        self.proc: subprocess.Popen[str] | None = None
        self.base_url = ""

    def start(self) -> NodeApp:
        env = {
            **os.environ,
            "MONGODB_URI": self.uri,
            "SESSION_CONFIG": json.dumps(self.shared.node_config()),
        }
        with self.log_path.open("w") as log:
            self.proc = subprocess.Popen(
                [shutil.which("node") or "node", str(NODE_APP)],
                cwd=INTEROP_DIR,
                env=env,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
            )
        assert self.proc.stdout is not None
        deadline = time.monotonic() + START_TIMEOUT
        line = ""
        while time.monotonic() < deadline and self.proc.poll() is None:
            ready, _, _ = select.select([self.proc.stdout], [], [], 0.05)
            if ready:
                line = self.proc.stdout.readline()
                break
        if not line.startswith("listening "):
            self.stop()
            raise RuntimeError(
                f"the Express app did not start: {line!r}\n{self.log_path.read_text()}"
            )
        self.base_url = f"http://127.0.0.1:{int(line.split()[1])}"
        return self

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self.proc = None


def _jsonable(value: Any) -> Any:
    # What JSON.stringify does with a Date, so both sides' /peek look alike.
    if isinstance(value, datetime):
        return to_js_iso(value)
    if isinstance(value, Mapping):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value


async def _login(request: Request) -> Response:
    session = request.session
    await session.regenerate()
    session["user"] = request.query_params["user"]
    session["prefs"] = {"theme": "dark"}  # a key only the Python side knows
    return PlainTextResponse("welcome")


async def _count(request: Request) -> Response:
    session = request.session
    session["n"] = session.get("n", 0) + 1
    return PlainTextResponse(str(session["n"]))


async def _whoami(request: Request) -> Response:
    return PlainTextResponse(request.session.get("user", "anonymous"))


async def _peek(request: Request) -> Response:
    session = request.session
    return JSONResponse(
        {"id": session.id, "session": _jsonable(dict(session)), "cookie": session.cookie.to_json()}
    )


async def _logout(request: Request) -> Response:
    await request.session.destroy()
    return PlainTextResponse("bye")


ROUTES = [
    Route("/login", _login, methods=["POST"]),
    Route("/", _count),
    Route("/whoami", _whoami),
    Route("/peek", _peek),
    Route("/logout", _logout, methods=["POST"]),
]


class PythonApp:
    """The Starlette app under uvicorn in a thread, on a free loopback port."""

    side = "python"

    def __init__(
        self, uri: str, shared: Shared, store_options: Mapping[str, Any] | None = None
    ) -> None:
        self.uri = uri
        self.shared = shared
        self.store_options = {**shared.store_options(), **(store_options or {})}
        self.base_url = ""
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    def start(self) -> PythonApp:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self.base_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        self._thread = threading.Thread(target=self._run, args=(sock,), daemon=True)
        self._thread.start()
        deadline = time.monotonic() + START_TIMEOUT
        while not (self._server is not None and self._server.started):
            if self._error is not None or not self._thread.is_alive():
                raise RuntimeError(f"the Python app did not start: {self._error!r}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the Python app did not start in time")
            time.sleep(0.01)
        return self

    def _run(self, sock: socket.socket) -> None:
        async def serve() -> None:
            # The store is made on the server's event loop, which its client is bound to.
            store = AsyncMongoStore(uri=self.uri, **self.store_options)
            app = Starlette(routes=ROUTES)
            app.add_middleware(SessionMiddleware, store=store, **self.shared.middleware_options())
            config = uvicorn.Config(app, log_level="warning", lifespan="on", access_log=False)
            self._server = uvicorn.Server(config)
            try:
                await self._server.serve(sockets=[sock])
            finally:
                await store.close()
                sock.close()

        try:
            asyncio.run(serve())
        except BaseException as exc:  # reported by start()
            self._error = exc

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None


App = NodeApp | PythonApp


class Browser:
    """One httpx client, one cookie jar, for both apps (cookies ignore the port)."""

    def __init__(self) -> None:
        self.http = httpx.Client(timeout=10.0, follow_redirects=False)

    @property
    def cookie(self) -> str | None:
        """The ``connect.sid`` value in the jar, as sent."""
        return self.http.cookies.get("connect.sid")

    def request(
        self, app: App, method: str, path: str, cookie: str | None = None
    ) -> httpx.Response:
        """A request to ``app``; ``cookie`` replaces the jar's cookie for this request."""
        if cookie is None:
            return self.http.request(method, app.base_url + path)
        # Straight from a header, around the jar, to replay a value the jar dropped.
        with httpx.Client(timeout=10.0) as bare:
            return bare.request(
                method, app.base_url + path, headers={"cookie": f"connect.sid={cookie}"}
            )

    def ok(self, app: App, method: str, path: str, cookie: str | None = None) -> str:
        response = self.request(app, method, path, cookie)
        assert response.status_code == 200, (app.side, path, response.status_code, response.text)
        return response.text

    def login(self, app: App, user: str = "alice") -> str:
        self.ok(app, "POST", f"/login?user={user}")
        assert self.cookie, f"{app.side} set no session cookie on login"
        return self.cookie

    def count(self, app: App) -> int:
        return int(self.ok(app, "GET", "/"))

    def whoami(self, app: App, cookie: str | None = None) -> str:
        return self.ok(app, "GET", "/whoami", cookie)

    def peek(self, app: App) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.ok(app, "GET", "/peek"))
        return data

    def logout(self, app: App) -> None:
        self.ok(app, "POST", "/logout")

    def close(self) -> None:
        self.http.close()
