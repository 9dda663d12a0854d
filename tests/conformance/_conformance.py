"""What the conformance ports share: the Node side, express-session's data, an HTTP agent.

- :func:`require_node` / :func:`run_node`: ``tests/conformance/_node_store.js`` run by the
  machine's ``node`` with the npm packages of ``tests/interop`` (connect-mongo,
  express-session, mongodb, express as ``package-lock.json`` pins them), the way the
  interop tests run Node: skipped with the reason when Node or the packages are
  missing, a failure under CI.
- :func:`make_cookie`, :func:`make_data`, :func:`make_data_no_cookie`: the session data
  of connect-mongo's ``src/test/testHelper.ts``, in the JSON form express-session hands
  a store (``JSON.parse(JSON.stringify(session))``), which is the form mongosession's
  store API takes.
- :class:`Agent`: a client of an in-process ASGI app that keeps the ``connect.sid``
  cookie the way the upstream suites' HTTP clients do.
- :class:`AdapterCodec`: connect-mongo's payload pipeline (``serialize``, then a
  ``cryptoAdapter``'s ``encrypt``; ``decrypt``, parse, ``unserialize``) as a
  mongosession codec, for the upstream cases that give connect-mongo custom functions.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest
from bson import json_util

from mongosession import JsonCodec

HERE = Path(__file__).resolve().parent
INTEROP_DIR = HERE.parent / "interop"
NODE_SCRIPT = HERE / "_node_store.js"
NODE_PACKAGES = ("express", "express-session", "connect-mongo", "mongodb")

#: Upstream versions these ports are pinned to (see CONFORMANCE.md).
CONNECT_MONGO_VERSION = "6.0.0"
CONNECT_MONGO_COMMIT = "76818fae07ef8941073948c56ea432b3d0bc40f1"
ESM_VERSION = "1.3.3"
ESM_COMMIT = "158ce55458ac3fb4310995d6de79a9bab15bb78f"

_EJSON_IN = json_util.JSONOptions(tz_aware=True, tzinfo=timezone.utc)
UTC = timezone.utc


# -- the Node side ---------------------------------------------------------------------


def node_missing() -> str | None:
    """Why Node cannot run here, or None (the interop harness's check, plus our script)."""
    if shutil.which("node") is None:
        return "`node` is not on PATH (Node.js >= 20.19 runs connect-mongo)"
    for package in NODE_PACKAGES:
        if not (INTEROP_DIR / "node_modules" / package / "package.json").is_file():
            return f"{package} is not installed: run `npm ci --prefix tests/interop`"
    return None


def require_node() -> None:
    """Skip (fail under CI, as the interop tests do) when the Node side cannot run."""
    reason = node_missing()
    if reason is None:
        return
    if os.environ.get("CI"):
        pytest.fail(f"the conformance tests must run in CI: {reason}", pytrace=False)
    pytest.skip(reason)


def installed_version(package: str) -> str:
    """The version of an npm package in tests/interop/node_modules."""
    manifest = INTEROP_DIR / "node_modules" / package / "package.json"
    version: str = json.loads(manifest.read_text())["version"]
    return version


def run_node(command: str, request: Mapping[str, Any], timeout: float = 120) -> Any:
    """Run ``_node_store.js COMMAND`` with ``request`` (Extended JSON) on stdin."""
    done = subprocess.run(
        [shutil.which("node") or "node", str(NODE_SCRIPT), command],
        cwd=INTEROP_DIR,
        input=json_util.dumps(request, json_options=json_util.CANONICAL_JSON_OPTIONS),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"node {NODE_SCRIPT.name} {command} failed:\n{done.stderr}")
    return json_util.loads(done.stdout, json_options=_EJSON_IN)


# -- express-session's data, as connect-mongo's testHelper.ts makes it -------------------


def now_ms() -> datetime:
    """Now, UTC, to the millisecond (a JavaScript Date's precision)."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def js_iso(moment: datetime) -> str:
    """``Date.prototype.toJSON``: ``YYYY-MM-DDTHH:MM:SS.mmmZ``."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def make_cookie(max_age_ms: int = 10_000) -> dict[str, Any]:
    """testHelper's ``makeCookie()`` as JSON: maxAge 10 s, secure, domain cow.com, sameSite false.

    express-session's ``Cookie.toJSON`` order; ``partitioned`` and ``priority`` are
    undefined there, so JSON leaves them out.
    """
    return {
        "originalMaxAge": max_age_ms,
        "expires": js_iso(now_ms() + timedelta(milliseconds=max_age_ms)),
        "secure": True,
        "httpOnly": True,
        "domain": "cow.com",
        "path": "/",
        "sameSite": False,
    }


def make_data() -> dict[str, Any]:
    """testHelper's ``makeData()`` in JSON form."""
    return {
        "foo": "bar",
        "baz": {"cow": "moo", "chicken": "cluck"},
        "num": 1,
        "cookie": make_cookie(),
    }


def make_data_no_cookie() -> dict[str, Any]:
    """testHelper's ``makeDataNoCookie()``."""
    return {
        "foo": "bar",
        "baz": {"cow": "moo", "fish": "blub", "fox": "nobody knows!"},
        "num": 2,
    }


# -- connect-mongo's payload pipeline as a codec ----------------------------------------

_JSON = JsonCodec()


def _identity(value: Any) -> Any:
    return value


class AdapterCodec:
    """connect-mongo's ``serialize``/``unserialize`` and ``cryptoAdapter``, as one codec.

    connect-mongo serialises the session (``serialize``, default ``JSON.stringify``),
    turns a non-string result into JSON text before encrypting, and stores the
    adapter's output; reading, it decrypts, parses the JSON text (once more if that
    gives a string), and hands the result to ``unserialize``.
    """

    def __init__(
        self,
        *,
        encrypt: Callable[[str], str] = _identity,
        decrypt: Callable[[str], str] = _identity,
        serialize: Callable[[Mapping[str, Any]], Any] | None = None,
        unserialize: Callable[[Any], Any] | None = None,
    ) -> None:
        self._encrypt = encrypt
        self._decrypt = decrypt
        self._serialize = serialize
        self._unserialize = unserialize

    def encode(self, session: Mapping[str, Any]) -> str:
        payload = session if self._serialize is None else self._serialize(session)
        text = payload if isinstance(payload, str) else _JSON.encode(payload)
        return self._encrypt(text)

    def decode(self, stored: Any) -> Any:
        value = json.loads(self._decrypt(stored))
        if isinstance(value, str):
            value = json.loads(value)
        return value if self._unserialize is None else self._unserialize(value)


# -- an HTTP client of an in-process ASGI app ---------------------------------------------

COOKIE = "connect.sid"


class Agent:
    """Requests to an ASGI app in this event loop, one ``connect.sid`` carried along.

    Like the upstream suites' clients (express-session-mongodb's ``RequestHandler``,
    supertest's agent): the value of the response's ``Set-Cookie: connect.sid=...``
    replaces the one kept (an empty value, a cleared cookie, sends none next time).
    """

    def __init__(self, app: Any) -> None:
        self._transport = httpx.ASGITransport(app=app)
        self.cookie: str | None = None

    async def request(self, method: str, path: str) -> httpx.Response:
        headers = {"accept": "application/json"}
        if self.cookie:
            headers["cookie"] = f"{COOKIE}={self.cookie}"
        async with httpx.AsyncClient(
            transport=self._transport, base_url="http://testserver"
        ) as client:
            response = await client.request(method, path, headers=headers)
        for header in response.headers.get_list("set-cookie"):
            if header.startswith(f"{COOKIE}="):
                self.cookie = header[len(COOKIE) + 1 :].split(";", 1)[0]
                break
        return response

    async def json(self, method: str, path: str) -> Any:
        response = await self.request(method, path)
        assert response.status_code == 200, (path, response.status_code, response.text)
        return response.json()
