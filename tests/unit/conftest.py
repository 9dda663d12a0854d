"""The unit tier: no MongoDB, no server, no network; ``pytest tests/unit`` runs anywhere.

A unit test that asks for a database is refused loudly, three ways:

- at collection, a test whose fixtures reach a server (tests/support/fixtures.py) stops
  the run with a usage error naming it;
- those fixtures, asked for at run time (``request.getfixturevalue``), raise the same;
- a TCP connection attempted by anything else (a store given a URI, a client) is
  refused with that message, which the driver's error then carries, even when a
  MongoDB happens to listen on the machine.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

import pytest

import mongosession.testing.localdb

HERE = Path(__file__).parent
MESSAGE = "unit tests must not use MongoDB (tests/unit): move the test to tests/integration"

#: The fixtures of tests/support/fixtures.py that start or reach a server; every other
#: database fixture (db, kit, test_uri, rs_uri...) depends on one of them.
SERVER_FIXTURES = frozenset(
    {
        "mongosession_deployment",
        "mongosession_db_uri",
        "mongosession_store",
        "local_mongod",
        "mongodb",
        "mongodb_uri",
        "auth_mongod",
        "replica_set",
        "crashable_server",
    }
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # A conftest's collection hook sees the whole session's items: only ours are checked.
    offending = sorted(
        f"{item.nodeid} (uses {', '.join(sorted(used))})"
        for item in items
        if item.path.is_relative_to(HERE)
        and (used := SERVER_FIXTURES.intersection(getattr(item, "fixturenames", ())))
    )
    if offending:
        raise pytest.UsageError(f"{MESSAGE}:\n  " + "\n  ".join(offending))


def _refuse(*args: Any, **kwargs: Any) -> NoReturn:
    raise pytest.UsageError(MESSAGE)


@pytest.fixture(scope="session")
def mongosession_deployment() -> NoReturn:
    _refuse()


@pytest.fixture(scope="session")
def local_mongod() -> NoReturn:
    _refuse()


@pytest.fixture(scope="session")
def mongodb() -> NoReturn:
    _refuse()


@pytest.fixture(scope="session")
def mongodb_uri() -> NoReturn:
    _refuse()


@pytest.fixture(scope="session")
def auth_mongod() -> NoReturn:
    _refuse()


@pytest.fixture(scope="session")
def replica_set() -> NoReturn:
    _refuse()


@pytest.fixture
def crashable_server() -> NoReturn:
    _refuse()


def _no_tcp(self: socket.socket, address: Any) -> NoReturn:
    raise ConnectionRefusedError(f"{MESSAGE} (a connection to {address!r} was attempted)")


@pytest.fixture(scope="package", autouse=True)
def _no_network() -> Iterator[None]:
    """No TCP connection and no ``mongod`` while a unit test runs (the whole tier)."""
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex

    def connect(self: socket.socket, address: Any) -> None:
        if self.family in (socket.AF_INET, socket.AF_INET6):
            _no_tcp(self, address)
        real_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        if self.family in (socket.AF_INET, socket.AF_INET6):
            _no_tcp(self, address)
        return real_connect_ex(self, address)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(socket.socket, "connect", connect)
        patch.setattr(socket.socket, "connect_ex", connect_ex)
        patch.setattr(mongosession.testing.localdb, "find_mongod", _refuse)
        yield
