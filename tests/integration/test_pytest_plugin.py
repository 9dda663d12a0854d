"""mongosession's pytest plugin, used the way an application's test suite uses it.

A separate pytest process runs a small test module of "an application": the plugin
must be there by installation alone (the ``pytest11`` entry point), give each test a
database of its own on a real MongoDB, and a ready store.
"""

from __future__ import annotations

import os
from typing import Any

import pytest

APP_TESTS = """
import pytest
from pymongo import MongoClient

from mongosession import MongoStore

SID = "s" * 32
SEEN = []


def test_a_store_is_ready(mongosession_store):
    mongosession_store.set(SID, {"cookie": {}, "cart": [1]})
    assert mongosession_store.get(SID)["cart"] == [1]


@pytest.mark.parametrize("run", [1, 2])
def test_each_test_has_a_clean_database(mongosession_db_uri, run):
    SEEN.append(mongosession_db_uri)
    store = MongoStore(uri=mongosession_db_uri)
    try:
        assert store.get(SID) is None  # nothing from the other tests
        store.set(SID, {"cookie": {}, "run": run})
    finally:
        store.close()
    assert len(set(SEEN)) == len(SEEN)


def test_the_deployment_is_real(mongosession_deployment):
    with mongosession_deployment.client() as client:
        assert client.admin.command("ping")["ok"] == 1
"""


def run_app_tests(pytester: pytest.Pytester) -> Any:
    pytester.makepyfile(test_app=APP_TESTS)
    # A subprocess, as an application's CI runs pytest: the plugin comes from the
    # installed package's entry point, not from this suite's conftest.
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", "-q")


def test_the_plugin_gives_an_applications_tests_a_database_and_a_store(
    pytester: pytest.Pytester, mongodb_uri: str, monkeypatch: pytest.MonkeyPatch, mongo_client: Any
) -> None:
    monkeypatch.setenv("MONGODB_URI", mongodb_uri)
    before = set(mongo_client.list_database_names())
    result = run_app_tests(pytester)
    result.assert_outcomes(passed=4)
    # Every database the tests used was dropped.
    assert set(mongo_client.list_database_names()) == before


@pytest.mark.slow
def test_without_mongodb_uri_the_plugin_starts_a_local_mongod(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    if os.environ.get("MONGODB_URI"):
        pytest.skip("checks the plugin's own server; MONGODB_URI is set")
    monkeypatch.delenv("MONGODB_URI", raising=False)
    result = run_app_tests(pytester)
    result.assert_outcomes(passed=4)
