"""Merging concurrent changes to one session, key by key (:mod:`mongosession.store.merge`).

``merge_changes(base, ours, current)``: what this request loaded, what it wants to
save, and what another request saved meanwhile. Through both stores on a real server:
tests/integration/test_store.py (requirement 15 and catalog line 11).
"""

from __future__ import annotations

import pytest

from mongosession import SessionConflict
from mongosession.store.merge import merge_changes, same_value

NAN = float("nan")


def test_changes_to_different_keys_are_both_kept() -> None:
    base = {"cookie": {"path": "/"}, "a": 1, "b": 1}
    ours = {"cookie": {"path": "/"}, "a": 2, "b": 1}
    current = {"cookie": {"path": "/"}, "a": 1, "b": 3, "c": 4}
    assert merge_changes(base, ours, current) == {"cookie": {"path": "/"}, "a": 2, "b": 3, "c": 4}


def test_a_key_changed_on_both_sides_is_a_conflict_even_with_the_same_value() -> None:
    # Two requests that each add one to a counter write the same value: taking either
    # would lose an increment.
    with pytest.raises(SessionConflict) as raised:
        merge_changes({"n": 1, "x": 0}, {"n": 2, "x": 1}, {"n": 2, "x": 0})
    assert "n" in str(raised.value)
    assert "x" not in str(raised.value)


def test_a_removed_key_merges_as_a_removal() -> None:
    assert merge_changes({"a": 1, "b": 1}, {"b": 1}, {"a": 1, "b": 2}) == {"b": 2}
    # Removed on the other side, unchanged here: it stays removed.
    assert merge_changes({"a": 1, "b": 1}, {"a": 1, "b": 5}, {"b": 1}) == {"b": 5}


def test_a_key_removed_here_and_changed_there_is_a_conflict() -> None:
    with pytest.raises(SessionConflict):
        merge_changes({"a": 1}, {}, {"a": 2})


def test_the_cookie_is_always_this_requests() -> None:
    base = {"cookie": {"expires": "then"}}
    ours = {"cookie": {"expires": "now"}}
    current = {"cookie": {"expires": "meanwhile"}}
    assert merge_changes(base, ours, current) == ours


def test_nothing_changed_here_takes_what_is_current() -> None:
    current = {"a": 9, "b": [1, 2]}
    assert merge_changes({"a": 1}, {"a": 1}, current) == current


def test_a_stored_nan_is_no_change() -> None:
    # Issue 11, finding 8: NaN != NaN made every merge beside a stored NaN a conflict.
    base = {"score": NAN, "nested": {"x": [NAN]}, "n": 1}
    ours = {"score": NAN, "nested": {"x": [NAN]}, "n": 2}
    current = {"score": NAN, "nested": {"x": [NAN]}, "n": 1, "m": 1}
    merged = merge_changes(base, ours, current)
    assert merged["n"] == 2
    assert merged["m"] == 1


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        (NAN, NAN, True),
        ({"k": [1, {"z": NAN}]}, {"k": [1, {"z": NAN}]}, True),
        ([1, NAN], (1, NAN), True),
        ({"k": 1}, {"k": 1, "j": 2}, False),
        ([1, 2], [1, 2, 3], False),
        (NAN, 0.0, False),
        (1, "1", False),
    ],
)
def test_same_value_is_equality_where_nan_equals_nan(a: object, b: object, same: bool) -> None:
    assert same_value(a, b) is same
