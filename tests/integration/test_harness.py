"""Tests of the test harness itself: the server, the per-test databases, CommandLog."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from pymongo import MongoClient
from pymongo.database import Database
from pymongo.errors import OperationFailure

from mongosession.testing.localdb import (
    LocalMongod,
    MongodNotAvailableError,
    find_mongod,
)
from tests.support.monitoring import CommandLog

USING_ENV_URI = bool(os.environ.get("MONGODB_URI"))

Client = MongoClient[dict[str, Any]]


def _mongod_or_skip() -> str:
    try:
        return find_mongod()
    except MongodNotAvailableError as exc:
        if USING_ENV_URI:
            pytest.skip(str(exc))
        raise


def test_server_is_reachable_and_reports_version(mongo_client: Client) -> None:
    assert mongo_client.admin.command("ping")["ok"] == 1
    version = mongo_client.server_info()["version"]
    if USING_ENV_URI:
        major = int(version.split(".")[0])
        assert major >= 6, f"MongoDB {version} is older than the supported 6.0"
    else:
        assert version.startswith("6.0."), version


def test_local_server_is_on_loopback(local_mongod: LocalMongod | None, mongodb_uri: str) -> None:
    if local_mongod is None:
        pytest.skip("MONGODB_URI is set; no server started by the fixture")
    assert local_mongod.running
    assert mongodb_uri == f"mongodb://127.0.0.1:{local_mongod.port}"
    assert local_mongod.port != 27017


_seen_db_names: list[str] = []


@pytest.mark.parametrize("n", range(3))
def test_db_name_is_unique_per_test(n: int, db_name: str, db: Database[dict[str, Any]]) -> None:
    assert db_name.startswith("t_")
    assert db_name not in _seen_db_names
    assert db.name == db_name
    db["things"].insert_one({"n": n})
    _seen_db_names.append(db_name)


def test_previous_test_databases_were_dropped(mongo_client: Client) -> None:
    if not _seen_db_names:
        pytest.skip("run together with test_db_name_is_unique_per_test")
    existing = set(mongo_client.list_database_names())
    assert existing.isdisjoint(_seen_db_names)


def test_test_uri_selects_the_test_database(test_uri: str, db_name: str) -> None:
    assert f"/{db_name}" in test_uri
    client: Client = MongoClient(test_uri)
    with client:
        database = client.get_default_database()
        assert database.name == db_name
        database["probe"].insert_one({"ok": True})
        assert database["probe"].count_documents({}) == 1


def test_fail_point_is_available(mongodb_uri: str, db_name: str) -> None:
    if USING_ENV_URI:
        pytest.skip("configureFailPoint needs enableTestCommands; MONGODB_URI is set")
    app_name = f"failpoint-{db_name}"
    client: Client = MongoClient(mongodb_uri, appName=app_name, retryReads=False)
    with client:
        collection = client[db_name]["c"]
        collection.insert_one({"_id": 1})
        client.admin.command(
            "configureFailPoint",
            "failCommand",
            mode={"times": 1},
            data={"failCommands": ["find"], "errorCode": 2, "appName": app_name},
        )
        try:
            with pytest.raises(OperationFailure) as info:
                collection.find_one({"_id": 1})
            assert info.value.code == 2
            assert collection.find_one({"_id": 1}) == {"_id": 1}
        finally:
            client.admin.command("configureFailPoint", "failCommand", mode="off")


def test_command_log_counts_find_and_update(
    mongodb_uri: str, db_name: str, command_log: CommandLog
) -> None:
    client: Client = MongoClient(mongodb_uri, event_listeners=[command_log])
    with client:
        collection = client[db_name]["c"]
        collection.insert_one({"_id": "a", "v": 1})
        command_log.clear()
        assert command_log.count() == 0

        assert collection.find_one({"_id": "a"}) == {"_id": "a", "v": 1}
        collection.update_one({"_id": "a"}, {"$set": {"v": 2}})

        assert command_log.names() == ["find", "update"]
        assert command_log.count("find") == 1
        assert command_log.count("update") == 1
        assert command_log.count("delete") == 0
        assert command_log.writes == 1
        (update,) = command_log.commands("update")
        assert update["updates"][0]["q"] == {"_id": "a"}
        assert all(r.database == db_name for r in command_log.records)

        collection.find_one_and_update({"_id": "a"}, {"$inc": {"v": 1}})
        collection.delete_one({"_id": "a"})
        assert command_log.writes == 3
        assert command_log.count() == 4

        with pytest.raises(OperationFailure):
            client[db_name].command("noSuchCommand")
        assert [name for name, _ in command_log.failures] == ["noSuchCommand"]


@pytest.mark.slow
def test_local_mongod_replica_set_survives_restart(tmp_path: Path) -> None:
    mongod_path = _mongod_or_skip()
    server = LocalMongod(
        tmp_path / "db",
        repl_set="rs0",
        extra_params={"ttlMonitorSleepSecs": 1},
        mongod_path=mongod_path,
    )
    with server:
        assert server.uri == f"mongodb://127.0.0.1:{server.port}/?replicaSet=rs0"
        client: Client = MongoClient(server.uri)
        with client:
            assert client.admin.command("hello")["setName"] == "rs0"
            params = client.admin.command("getParameter", 1, ttlMonitorSleepSecs=1)
            assert params["ttlMonitorSleepSecs"] == 1
            with client.start_session() as session, session.start_transaction():
                client.t.c.insert_one({"_id": 1}, session=session)
        port, first_pid = server.port, server.pid

        server.kill()  # a crash: the restart must recover the data files
        assert not server.running
        server.start()  # the replica set is already initiated on this dbpath
        assert server.port == port
        assert server.pid != first_pid
        client = MongoClient(server.uri)
        with client:
            assert client.admin.command("hello")["isWritablePrimary"]
            assert client.t.c.find_one({"_id": 1}) == {"_id": 1}
    assert not server.running
