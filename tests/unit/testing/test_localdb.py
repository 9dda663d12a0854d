"""The URI helpers of :mod:`mongosession.testing.localdb` (the local server itself:
tests/integration/test_harness.py)."""

from __future__ import annotations

import pytest

from mongosession.testing.localdb import strip_db_path, with_db


@pytest.mark.parametrize(
    ("uri", "db", "expected_with_db", "expected_stripped"),
    [
        (
            "mongodb://127.0.0.1:27017",
            "t_x",
            "mongodb://127.0.0.1:27017/t_x",
            "mongodb://127.0.0.1:27017",
        ),
        (
            "mongodb://127.0.0.1:27017/",
            "t_x",
            "mongodb://127.0.0.1:27017/t_x",
            "mongodb://127.0.0.1:27017",
        ),
        (
            "mongodb://h1,h2:27018/?replicaSet=rs0&w=majority",
            "t_x",
            "mongodb://h1,h2:27018/t_x?replicaSet=rs0&w=majority",
            "mongodb://h1,h2:27018/?replicaSet=rs0&w=majority",
        ),
        (
            "mongodb://h/olddb?tls=true",
            "t_x",
            "mongodb://h/t_x?tls=true",
            "mongodb://h/?tls=true",
        ),
        (
            "mongodb://u:p@h/",
            "t_x",
            "mongodb://u:p@h/t_x?authSource=admin",
            "mongodb://u:p@h",
        ),
        (
            "mongodb+srv://u:p%2F@cluster.example.net/appdb?retryWrites=true",
            "t_x",
            "mongodb+srv://u:p%2F@cluster.example.net/t_x?retryWrites=true&authSource=appdb",
            "mongodb+srv://u:p%2F@cluster.example.net/?retryWrites=true&authSource=appdb",
        ),
        (
            "mongodb://u:p@h/appdb?authSource=other",
            "t_x",
            "mongodb://u:p@h/t_x?authSource=other",
            "mongodb://u:p@h/?authSource=other",
        ),
    ],
)
def test_uri_helpers(uri: str, db: str, expected_with_db: str, expected_stripped: str) -> None:
    assert with_db(uri, db) == expected_with_db
    assert strip_db_path(uri) == expected_stripped
