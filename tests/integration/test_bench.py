"""The benchmarks still run against the current API (``python -m bench --quick`` in small).

No timing is asserted: only that each section produces its tables, and the two
command counts the benchmarks report as targets (they are behaviour, not speed).
"""

from __future__ import annotations

import pytest
from bench import middleware, pool, profile, scale, store, web

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


def test_pool_section_reports_each_case_and_the_pool_it_grew(
    mongodb_uri: str, db_name: str
) -> None:
    section = pool.run(with_db(mongodb_uri, db_name), concurrency=8, ops=80, batches=2)
    rows = section.tables[0].rows
    assert [row[0] for row in rows] == [label for label, _, _ in pool.CASES]
    # minPoolSize fills the pool before the first batch: the 8 connections are there.
    assert int(rows[-1][1].rpartition(", ")[2]) >= 8, rows


def test_http_section_drives_the_asgi_stack_with_the_fallback_load_generator(
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
        tool="loadgen",
    )
    rows = {row[0]: row for row in section.tables[0].rows}
    assert set(rows) == {"none", "read"}
    assert float(rows["none"][6]) < 0.05  # db commands per request without a cookie
    assert float(rows["read"][6]) == pytest.approx(1.0, abs=0.1)  # one find, no write
    assert rows["read"][-1] == "0"  # no error responses
    assert any("bench/loadgen.py" in note for note in section.notes)


def test_http_section_reports_every_stack_as_a_ratio_to_the_floor_with_wrk(
    mongodb_uri: str, local_mongod: LocalMongod | None
) -> None:
    if web.wrk_path() is None:
        pytest.skip(
            "wrk is not installed (Debian: apt-get install wrk); the fallback is tested above"
        )
    found, _ = web.stacks()
    if not {"floor", "asgi"} <= {stack.key for stack in found}:
        pytest.skip("uvicorn is not installed")
    section = web.run(
        mongodb_uri,
        mongod_pid=local_mongod.pid if local_mongod else None,
        workloads=("read", "touch", "write"),
        connections=(2,),
        warmup=0,
        duration=1,
        rounds=1,
        background=10,
        only=("floor", "asgi"),
        tool="wrk",
    )
    assert any(note.startswith("Load generator: wrk") for note in section.notes)
    table, ratios = section.tables
    commands = {(row[0], row[2]): float(row[6]) for row in table.rows}
    assert len(commands) == 6  # 3 workloads x (the floor, mongosession ASGI)
    for (workload, _stack), per_request in commands.items():
        # read: one find; touch and write: one find and one update (per request the
        # server was sent: wrk's count leaves out those in flight when it stops)
        expected = 1.0 if workload == "read" else 2.0
        assert per_request == pytest.approx(expected, abs=0.25), table.rows
    assert all(row[-1] == "0" for row in table.rows)  # no errors
    assert [row[:3] for row in ratios.rows] == [
        [workload, "2", "mongosession ASGI"] for workload in ("read", "touch", "write")
    ]
    for row in ratios.rows:  # one round: "0.73" and the sign, for req/s and both CPU columns
        assert all(float(cell.partition("\N{MULTIPLICATION SIGN}")[0]) > 0 for cell in row[3:])


def test_scale_section_measures_each_size_in_one_run(mongodb_uri: str, db_name: str) -> None:
    section = scale.run(
        with_db(mongodb_uri, db_name),
        sizes=(300, 900),
        user_sessions=40,
        ops=5,
        rounds=1,
        ttl_monitor=False,
    )
    operations, sizes = section.tables
    assert operations.columns[1:] == ["300 sessions", "900 sessions", "900 sessions / 300 sessions"]
    rows = {row[0]: row for row in operations.rows}
    for name in ("get", "set", "sessions_of(heavy user)", "length()", "iter_all(): rate"):
        assert all(cell for cell in rows[name][1:]), rows[name]
    # the heavy user's sessions, read through the per-user index, at both sizes
    for name in ("sessions_of: keys examined", "destroy_user: keys examined"):
        assert [float(cell) for cell in rows[name][1:3]] == [pytest.approx(40, abs=1)] * 2
    assert rows["heavy user's sessions"][1:3] == ["40", "40"]
    assert any(name.startswith("CLI list --page-size") for name in rows)
    assert [row[0] for row in sizes.rows][:2] == ["documents", "average document"]
    assert sizes.rows[0][1:] == ["300", "900"]
