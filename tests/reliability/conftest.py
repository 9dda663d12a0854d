"""Fixtures for fault injection: a fault proxy, a replica set, fail points, a crashable server.

- :func:`proxy`: a :class:`FaultProxy` in front of the session's test server.
- :func:`rs_server`: a single-node replica set (``--replSet rs0``), once per test
  session: retryable writes, ``w: "majority"``, read preferences, the oplog.
- :func:`fail_point`: arms mongod's ``failCommand`` for one client (by ``appName``) and
  turns it off after the test.
- :func:`crashable_server`: a replica set of its own on a fixed port and a persistent
  ``--dbpath``, for tests that kill and restart the process.

The servers these fixtures start are configured by the tests (``enableTestCommands``,
kill -9), so they are skipped when ``MONGODB_URI`` points the suite at another server.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from pymongo import MongoClient

from mongosession._localdb import LocalMongod, with_db
from tests._faultproxy import FaultProxy

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
