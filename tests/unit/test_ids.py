"""Session ids (:mod:`mongosession._ids`): long, random, URL-safe."""

from __future__ import annotations

import mongosession


def test_generated_ids_are_long_random_and_url_safe() -> None:
    ids = {mongosession.generate_sid() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(len(i) == 32 and mongosession.check_sid(i) == i for i in ids)
