"""A MongoDB for tests: the one ``MONGODB_URI`` names, or a local ``mongod`` started for them.

:class:`MongoDeployment` is what the pytest plugin (:mod:`mongosession.testing.pytest_plugin`)
hands out, and what an application's own test set-up can use directly::

    with MongoDeployment.from_environment(tmp_path) as mongodb:
        with mongodb.databases() as new:
            store = MongoStore(uri=mongodb.uri_of(new()))
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pymongo import MongoClient

from mongosession.testing.localdb import LocalMongod, find_mongod, strip_db_path, with_db

Client = MongoClient[dict[str, Any]]


class MongoDeployment:
    """A MongoDB the tests may use, and clean databases on it.

    ``uri`` has no database path (options are kept); ``server`` is the ``mongod`` this
    test session started, or None for ``MONGODB_URI``.
    """

    def __init__(self, uri: str, server: LocalMongod | None = None, *, fast_ttl: bool = False):
        self.uri = uri
        self.server = server
        #: Whether the TTL monitor runs every second (``ttlMonitorSleepSecs=1``).
        self.fast_ttl = fast_ttl
        self._admin: Client | None = None

    @classmethod
    @contextmanager
    def started(cls, root: Path, **options: Any) -> Iterator[MongoDeployment]:
        """A ``mongod`` of its own in ``root`` (``LocalMongod`` options), stopped afterwards."""
        server = LocalMongod(root / "db", log_path=root / "mongod.log", **options)
        server.start()
        try:
            with cls(server.uri, server) as deployment:
                yield deployment
        finally:
            server.stop()

    @property
    def admin(self) -> Client:
        """A client for the fixtures' own work (dropping databases), closed with the deployment."""
        if self._admin is None:
            self._admin = MongoClient(self.uri)
        return self._admin

    def client(self, **options: Any) -> Client:
        """A new client of this deployment (tz-aware unless told otherwise); the caller closes it."""
        options.setdefault("tz_aware", True)
        return MongoClient(self.uri, **options)

    def uri_of(self, db_name: str) -> str:
        """This deployment's URI with ``/<db_name>`` as its database path."""
        return with_db(self.uri, db_name)

    @contextmanager
    def databases(self, prefix: str = "t_") -> Iterator[Callable[[], str]]:
        """``new()`` names a database no test used; every one of them is dropped afterwards."""
        names: list[str] = []

        def new() -> str:
            names.append(f"{prefix}{uuid.uuid4().hex[:12]}")
            return names[-1]

        try:
            yield new
        finally:
            for name in names:
                self.admin.drop_database(name)

    def close(self) -> None:
        if self._admin is not None:
            self._admin.close()

    def __enter__(self) -> MongoDeployment:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @classmethod
    @contextmanager
    def from_environment(cls, root: Path) -> Iterator[MongoDeployment]:
        """``MONGODB_URI`` when set (its database path dropped), else a ``mongod`` in ``root``.

        The local server needs the ``server`` extra (Linux x86-64); without it this
        raises :class:`~mongosession.testing.localdb.MongodNotAvailableError`, which
        says to install it or set ``MONGODB_URI``.
        """
        uri = os.environ.get("MONGODB_URI")
        if uri:
            with cls(strip_db_path(uri)) as deployment:
                yield deployment
            return
        with cls.started(root, mongod_path=find_mongod()) as deployment:
            yield deployment
