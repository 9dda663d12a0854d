"""The benchmarks still run against the current API (``python -m bench --quick`` in small).

No timing is asserted: only that each section produces its tables, and the two
command counts the benchmarks report as targets (they are behaviour, not speed).
"""

from __future__ import annotations

import pytest
from bench import middleware, profile, store, web

from mongosession.testing.localdb import LocalMongod, with_db


def test_store_section_compares_every_configuration(mongodb_uri: str, db_name: str) -> None:
    section = store.run(with_db(mongodb_uri, db_name), ops=2, rounds=1)
    rows = section.tables[0].rows
    assert len(rows) == 2 * len(store.SIZES) * len(store.OPS) * len(store.CONFIGS)
    assert len(section.targets) == 2 * len(store.TARGETS)


def test_middleware_section_counts_commands_through_the_asgi_middleware(
    mongodb_uri: str, db_name: str
) -> None:
    section = middleware.run(with_db(mongodb_uri, db_name), requests=3, rounds=1)
    by_name = {t.name: t for t in section.targets}
    assert by_name["unmodified request inside touch_after"].met
    assert by_name["no cookie, no change"].met


def test_profile_section_folds_the_request_into_components(mongodb_uri: str, db_name: str) -> None:
    section = profile.run(with_db(mongodb_uri, db_name), requests=20)
    components = [row[0] for row in section.tables[0].rows]
    assert "PyMongo + BSON (the driver)" in components
    assert any(name.startswith("mongosession") for name in components)


def test_http_section_drives_the_asgi_stack(
    mongodb_uri: str, local_mongod: LocalMongod | None
) -> None:
    found, _ = web.stacks()
    if not any(stack.key == "asgi" for stack in found):
        pytest.skip("uvicorn is not installed")
    section = web.run(
        mongodb_uri,
        mongod_pid=local_mongod.pid if local_mongod else None,
        workloads=("none", "read"),
        connections=2,
        warmup=0.2,
        duration=0.3,
        rounds=1,
        background=10,
        only=("asgi",),
    )
    rows = {row[0]: row for row in section.tables[0].rows}
    assert set(rows) == {"none", "read"}
    assert float(rows["none"][6]) < 0.05  # db commands per request without a cookie
    assert rows["read"][-1] == "0"  # no error responses
