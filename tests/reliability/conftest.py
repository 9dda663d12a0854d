"""Fixtures for fault injection: a fault proxy, a replica set, fail points, a crashable server.

- :func:`proxy`: a :class:`FaultProxy` in front of the session's test server.
- :func:`rs_server`: a single-node replica set (``--replSet rs0``), once per test
  session: retryable writes, ``w: "majority"``, read preferences, the oplog.
- :func:`fail_point`: arms mongod's ``failCommand`` for one client (by ``appName``) and
  turns it off after the test.
- :func:`crashable_server`: a replica set of its own on a fixed port and a persistent
  ``--dbpath``, for tests that kill and restart the process.
- :func:`serve`, :func:`gate`, :func:`pool`: each adapter's app on a real server, the
  gate its slow handlers wait at, and threads to send overlapping requests.

The servers these fixtures start are configured by the tests (``enableTestCommands``,
kill -9), so they are skipped when ``MONGODB_URI`` points the suite at another server.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from pymongo import MongoClient

from mongosession.testing.localdb import LocalMongod, with_db
from tests import _adapter_apps
from tests._adapter_apps import ThreadGate
from tests._faultproxy import FaultProxy
from tests._web import ServedAiohttp, ServedApp, ServedASGI, ServedDjango, ServedFlask

USING_ENV_URI = bool(os.environ.get("MONGODB_URI"))


def _needs_local_servers() -> None:
    if USING_ENV_URI:
        pytest.skip("fault tests start and break their own servers (MONGODB_URI is set)")


@pytest.fixture
def proxy(local_mongod: LocalMongod | None) -> Iterator[FaultProxy]:
    """A fault proxy in front of the test server; starts in ``pass`` mode."""
    _needs_local_servers()
    assert local_mongod is not None
    with FaultProxy(local_mongod.port) as started:
        yield started


@pytest.fixture
def proxy_uri(proxy: FaultProxy, db_name: str) -> str:
    """The proxy's URI with this test's database."""
    return with_db(proxy.uri, db_name)


@contextmanager
def _replica_set(root: Path) -> Iterator[LocalMongod]:
    _needs_local_servers()
    server = LocalMongod(root / "db", repl_set="rs0", log_path=root / "mongod.log")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def rs_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalMongod]:
    """A single-node replica set ``rs0``, started once for the test session."""
    with _replica_set(tmp_path_factory.mktemp("mongod-rs")) as server:
        yield server


@pytest.fixture
def rs_admin(rs_server: LocalMongod) -> Iterator[MongoClient[dict[str, Any]]]:
    """A plain client of the replica set (tz-aware)."""
    client: MongoClient[dict[str, Any]] = MongoClient(rs_server.uri, tz_aware=True)
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def rs_db_name(rs_admin: MongoClient[dict[str, Any]]) -> Iterator[str]:
    """A database on the replica set for this test; dropped after it."""
    name = f"rs_{uuid.uuid4().hex[:12]}"
    try:
        yield name
    finally:
        rs_admin.drop_database(name)


@pytest.fixture
def rs_uri(rs_server: LocalMongod, rs_db_name: str) -> str:
    """The replica set's URI with this test's database."""
    return with_db(rs_server.uri, rs_db_name)


@pytest.fixture
def app_name() -> str:
    """An ``appName`` unique to this test, so a fail point hits only its clients."""
    return f"faults-{uuid.uuid4().hex[:10]}"


FailPoint = Callable[..., None]


@pytest.fixture
def fail_point(rs_admin: MongoClient[dict[str, Any]], app_name: str) -> Iterator[FailPoint]:
    """``fail_point(commands, mode={"times": 1}, **data)`` arms ``failCommand``.

    It applies only to connections opened with :func:`app_name`; every fail point
    is turned off after the test.
    """

    def arm(commands: list[str], mode: Any = None, **data: Any) -> None:
        rs_admin.admin.command(
            "configureFailPoint",
            "failCommand",
            mode=mode or {"times": 1},
            data={"failCommands": commands, "appName": app_name, **data},
        )

    try:
        yield arm
    finally:
        rs_admin.admin.command("configureFailPoint", "failCommand", mode="off")


@pytest.fixture
def crashable_server(tmp_path: Path) -> Iterator[LocalMongod]:
    """A replica set of this test's own, on a persistent dbpath: kill it, start it again."""
    with _replica_set(tmp_path) as server:
        yield server


# -- every adapter's app on a real server (tests/_web.py) ----------------------------------------

#: The apps of tests/_adapter_apps.py behind each adapter, each on a real server.
SERVED: dict[str, Callable[..., ServedApp]] = {
    "flask": ServedFlask,
    "django": ServedDjango,
    "asgi": ServedASGI,
    "aiohttp": ServedAiohttp,
}

Serve = Callable[..., ServedApp]


@pytest.fixture(params=list(SERVED))
def serve(request: pytest.FixtureRequest) -> Iterator[Serve]:
    """``serve(uri, **store_options)`` -> the app of one adapter, served until the test ends.

    Runs the test once per adapter: ASGI on uvicorn, Flask and Django on werkzeug's
    threaded server, aiohttp on its own.
    """
    apps: list[ServedApp] = []

    def start(uri: str, **store: Any) -> ServedApp:
        app = SERVED[request.param](uri, **store)
        apps.append(app)
        return app

    try:
        yield start
    finally:
        _adapter_apps.gate.release()  # a failed test must not leave handlers waiting
        for app in reversed(apps):
            app.close()


@pytest.fixture
def gate() -> ThreadGate:
    """The gate the slow handlers wait at (tests/_adapter_apps.py), closed."""
    return _adapter_apps.new_gate()


@pytest.fixture
def pool() -> Iterator[ThreadPoolExecutor]:
    """Threads sending the requests that must overlap."""
    with ThreadPoolExecutor(max_workers=40) as executor:
        yield executor
