"""The local ``mongod`` helpers, shared with the demo and the benchmarks.

They live in the package (``mongosession._localdb``) because ``mongosession demo``
starts a server too; tests import them from here.
"""

from mongosession.testing.localdb import (
    MISSING_SERVER_MESSAGE,
    LocalMongod,
    MongodNotAvailableError,
    find_mongod,
    free_port,
    strip_db_path,
    with_db,
)

__all__ = [
    "MISSING_SERVER_MESSAGE",
    "LocalMongod",
    "MongodNotAvailableError",
    "find_mongod",
    "free_port",
    "strip_db_path",
    "with_db",
]
