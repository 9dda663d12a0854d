"""Which queries the admin methods send through the per-user index, and a missing hint."""

from __future__ import annotations

from typing import Any

import pytest
from pymongo.errors import OperationFailure

from mongosession.store.indexes import hint_missing, hint_option, names_user
from mongosession.store.inspection import both


@pytest.mark.parametrize(
    "query",
    [
        {"user": "alice"},
        {"user": {"$in": ["42", 42]}, "_id": {"$ne": "keep"}},
        both({"user": {"$in": ["alice"]}}, {"$nor": [{"deleted": True}]}),
        {"$and": [{"expires": 1}, {"$and": [{"user": "alice"}]}]},
    ],
)
def test_a_query_by_user_names_the_user(query: dict[str, Any]) -> None:
    assert names_user(query)


@pytest.mark.parametrize(
    "query",
    [None, {}, {"_id": "s"}, {"$or": [{"user": "a"}, {"_id": "s"}]}, {"$and": "user"}],
)
def test_other_queries_do_not(query: dict[str, Any] | None) -> None:
    assert not names_user(query)


def test_only_the_servers_missing_index_answer_is_a_missing_hint() -> None:
    missing = OperationFailure(
        "error processing query: ... planner returned error :: caused by :: "
        "hint provided does not correspond to an existing index",
        code=2,
    )
    assert hint_missing(missing)
    assert not hint_missing(OperationFailure("bad value", code=2))
    assert not hint_missing(OperationFailure(str(missing), code=13))


def test_no_hint_option_for_no_hint() -> None:
    assert hint_option(None) == {}
    assert hint_option({"user": 1}) == {"hint": {"user": 1}}
