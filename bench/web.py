"""HTTP level: the same four routes on each stack, one worker each, over loopback.

Stacks: mongosession on Starlette + uvicorn (ASGI), mongosession's Flask adapter on
gunicorn, Flask-Session 0.8's MongoDB backend on gunicorn, and express-session +
connect-mongo on Node. Each gets its own database on the same ``mongod``, filled
beforehand with the same number of other sessions in its own document shape (a live
site's collection is not empty; it matters to a store that looks sessions up by an
unindexed field).

"Requests per second per core" is requests divided by the CPU seconds the server's
process tree used in the window (``/proc``): on a 2-core machine shared by the
server, ``mongod`` and the load generator, that is the number that does not depend
on who got the CPU. Database commands and writes per request come from
``serverStatus`` opcounter deltas over the same window.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from bson import Binary
from pymongo import MongoClient

from mongosession.testing.localdb import free_port, with_db

from ._common import Section, Table, Target, percentile, tree_cpu
from .loadgen import WORKLOADS, LoadResult, new_event_loop, run_load

ROOT = Path(__file__).resolve().parent.parent
NODE_DIR = ROOT / "bench" / "node"
SECRET = "bench secret " + secrets.token_hex(8)
OPCOUNTERS = ("insert", "query", "update", "delete", "getmore", "command")
WRITES = ("insert", "update", "delete")


@dataclass
class Stack:
    """One server under test."""

    key: str
    label: str
    short: str  # for the ratio table
    shape: str  # the stored document shape, for the background sessions
    command: list[str]
    proc: subprocess.Popen[bytes] | None = None
    port: int = 0
    log_path: Path | None = None

    @property
    def db(self) -> str:
        return "bench_" + self.key.replace("-", "_")


def _has(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def stacks() -> tuple[list[Stack], list[str]]:
    """The stacks this machine can run, and why the others are left out."""
    found: list[Stack] = []
    skipped: list[str] = []
    python = sys.executable
    if _has("uvicorn") and _has("starlette"):
        found.append(
            Stack(
                "asgi",
                "mongosession, Starlette on uvicorn",
                "mongosession ASGI",
                "connect-mongo",
                [
                    python,
                    "-m",
                    "uvicorn",
                    "bench.apps.asgi_app:app",
                    "--no-access-log",
                    "--log-level",
                    "warning",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    "{port}",
                ],
            )
        )
    else:
        skipped.append("mongosession ASGI: install the bench extra (uvicorn)")
    gunicorn = [
        python,
        "-m",
        "gunicorn",
        "--workers",
        "1",
        "--log-level",
        "warning",
        "--bind",
        "127.0.0.1:{port}",
    ]
    if not _has("gunicorn"):
        skipped.append("Flask stacks: install the bench extra (gunicorn)")
    else:
        if _has("mongosession.flask"):
            found.append(
                Stack(
                    "flask",
                    "mongosession, Flask on gunicorn",
                    "mongosession Flask",
                    "connect-mongo",
                    [*gunicorn, "bench.apps.flask_app:app"],
                )
            )
        else:
            skipped.append("mongosession Flask: src/mongosession/flask.py is not there")
        if _has("flask_session"):
            found.append(
                Stack(
                    "flask-session",
                    "Flask-Session 0.8, Flask on gunicorn",
                    "Flask-Session",
                    "flask-session",
                    [*gunicorn, "bench.apps.flask_session_app:app"],
                )
            )
        else:
            skipped.append("Flask-Session: install the bench extra (flask-session)")
    node = shutil.which("node")
    if node is None:
        skipped.append("express: no `node` on PATH")
    elif _npm_ready():
        found.append(
            Stack(
                "express",
                "express-session + connect-mongo on Node",
                "Express",
                "connect-mongo",
                [node, str(NODE_DIR / "server.js")],
            )
        )
    else:
        skipped.append("express: `npm ci` in bench/node failed (see above)")
    return found, skipped


def _npm_ready() -> bool:
    if (NODE_DIR / "node_modules" / "connect-mongo").is_dir():
        return True
    npm = shutil.which("npm")
    if npm is None:
        return False
    print("bench: npm ci in bench/node (first run)", flush=True)
    done = subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund"], cwd=NODE_DIR, check=False, timeout=600
    )
    return done.returncode == 0


# -- servers ---------------------------------------------------------------------------


def _start(stack: Stack, uri: str, logs: Path, touch_after: float) -> None:
    stack.port = free_port()
    stack.log_path = logs / f"{stack.key}.log"
    env = {
        **os.environ,
        "BENCH_DB_URI": with_db(uri, stack.db),
        "BENCH_SECRET": SECRET,
        "BENCH_MAX_AGE": "86400",
        "BENCH_TOUCH_AFTER": str(touch_after),
        "PORT": str(stack.port),
        "NODE_ENV": "production",
    }
    command = [part.replace("{port}", str(stack.port)) for part in stack.command]
    with stack.log_path.open("wb") as log:
        stack.proc = subprocess.Popen(
            command, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log
        )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if stack.proc.poll() is not None:
            raise RuntimeError(
                f"{stack.label} exited at start:\n{stack.log_path.read_text()[-2000:]}"
            )
        health = f"http://127.0.0.1:{stack.port}/health"
        with contextlib.suppress(OSError), urllib.request.urlopen(health, timeout=2) as r:
            if r.status == 200:
                return
        time.sleep(0.2)
    _stop(stack)
    raise RuntimeError(f"{stack.label} did not answer /health within 60 s")


def _stop(stack: Stack) -> None:
    proc, stack.proc = stack.proc, None
    if proc is None or proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait()


@contextlib.contextmanager
def running(found: list[Stack], uri: str, touch_after: float) -> Iterator[list[Stack]]:
    """Start every stack; stop each by its PID afterwards, whatever happens."""
    logs = Path(tempfile.mkdtemp(prefix="mongosession-bench-"))
    try:
        for stack in found:
            _start(stack, uri, logs, touch_after)
        yield found
    finally:
        for stack in found:
            _stop(stack)
        shutil.rmtree(logs, ignore_errors=True)


# -- data --------------------------------------------------------------------------------


def populate(client: MongoClient[dict[str, Any]], stack: Stack, count: int) -> None:
    """Fill the stack's collection with ``count`` other live sessions, in its own shape."""
    collection = client[stack.db]["sessions"]
    collection.drop()
    if count <= 0:
        return
    expires = datetime.now(timezone.utc) + timedelta(days=1)
    cookie = {
        "originalMaxAge": 86_400_000,
        "expires": expires.isoformat(),
        "httpOnly": True,
        "path": "/",
    }
    docs: list[dict[str, Any]] = []
    for i in range(count):
        sid = secrets.token_urlsafe(24)
        data = {"user": f"background-{i}", "n": i}
        if stack.shape == "flask-session":
            docs.append(
                {
                    "id": "session:" + sid,
                    "val": Binary(json.dumps(data).encode()),
                    "expiration": expires,
                }
            )
        else:
            docs.append(
                {"_id": sid, "session": json.dumps({"cookie": cookie, **data}), "expires": expires}
            )
    collection.insert_many(docs, ordered=False)


# -- measurement ---------------------------------------------------------------------------


@dataclass
class Totals:
    """One stack under one workload, summed over the interleaved rounds."""

    seconds: float = 0.0
    server_cpu: float = 0.0
    mongod_cpu: float = 0.0
    client_cpu: float = 0.0
    ops: Counter[str] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)
    set_cookies: int = 0
    statuses: Counter[int] = field(default_factory=Counter)

    @property
    def requests(self) -> int:
        return len(self.latencies)

    def add(
        self, load: LoadResult, server_cpu: float, mongod_cpu: float, ops: Counter[str]
    ) -> None:
        self.seconds += load.seconds
        self.server_cpu += server_cpu
        self.mongod_cpu += mongod_cpu
        self.client_cpu += load.client_cpu
        self.ops.update(ops)
        self.latencies.extend(load.latencies)
        self.set_cookies += load.set_cookies
        self.statuses.update(load.statuses)

    @property
    def per_core(self) -> float:
        return self.requests / self.server_cpu if self.server_cpu else float("nan")

    def per_request(self, names: tuple[str, ...]) -> float:
        return sum(self.ops[n] for n in names) / self.requests if self.requests else float("nan")


def _opcounters(client: MongoClient[dict[str, Any]]) -> Counter[str]:
    counters = client.admin.command("serverStatus")["opcounters"]
    return Counter({name: int(counters[name]) for name in OPCOUNTERS})


def _measure(
    stack: Stack,
    workload: str,
    client: MongoClient[dict[str, Any]],
    mongod_pid: int | None,
    *,
    connections: int,
    warmup: float,
    duration: float,
) -> tuple[LoadResult, float, float, Counter[str]]:
    assert stack.proc is not None
    pid = stack.proc.pid
    marks: dict[str, Any] = {}

    def snapshot() -> tuple[float, float, Counter[str]]:
        mongod = tree_cpu(mongod_pid) if mongod_pid else 0.0
        return tree_cpu(pid), mongod, _opcounters(client)

    loop = new_event_loop()
    try:
        load = loop.run_until_complete(
            run_load(
                stack.port,
                workload,
                connections=connections,
                warmup=warmup,
                duration=duration,
                on_start=lambda: marks.__setitem__("start", snapshot()),
                on_stop=lambda: marks.__setitem__("stop", snapshot()),
            )
        )
    finally:
        loop.close()
    (cpu0, mongod0, ops0), (cpu1, mongod1, ops1) = marks["start"], marks["stop"]
    ops = ops1 - ops0
    ops["command"] = max(ops["command"] - 1, 0)  # our own second serverStatus
    return load, cpu1 - cpu0, mongod1 - mongod0, ops


def run(
    uri: str,
    *,
    mongod_pid: int | None,
    workloads: tuple[str, ...] = tuple(WORKLOADS),
    connections: int = 8,
    warmup: float = 1.0,
    duration: float = 3.0,
    rounds: int = 3,
    background: int = 10_000,
    only: tuple[str, ...] | None = None,
) -> Section:
    """Every stack (or the ``only`` keys) under every workload, interleaved; the table and the ratios."""
    section = Section("HTTP level: one worker each, loopback")
    found, skipped = stacks()
    if only is not None:
        found = [stack for stack in found if stack.key in only]
    section.notes.extend(f"Left out: {reason}." for reason in skipped)
    if not found:
        return section
    totals: dict[tuple[str, str], Totals] = {}
    client: MongoClient[dict[str, Any]]
    with MongoClient(uri) as client:
        for stack in found:
            populate(client, stack, background)
        with running(found, uri, touch_after=0):
            for workload in workloads:
                for i in range(rounds):
                    order = found if i % 2 == 0 else list(reversed(found))
                    for stack in order:
                        load, cpu, mongod, ops = _measure(
                            stack,
                            workload,
                            client,
                            mongod_pid,
                            connections=connections,
                            warmup=warmup,
                            duration=duration,
                        )
                        totals.setdefault((workload, stack.key), Totals()).add(
                            load, cpu, mongod, ops
                        )
        for stack in found:
            client.drop_database(stack.db)
    section.tables.append(_table(found, workloads, totals, connections, background))
    ratios, targets = _ratios(found, workloads, totals)
    section.tables.append(ratios)
    section.targets.extend(targets)
    return section


def _table(
    found: list[Stack],
    workloads: tuple[str, ...],
    totals: dict[tuple[str, str], Totals],
    connections: int,
    background: int,
) -> Table:
    table = Table(
        "Requests per second per core, latency, database work and cookies per request",
        [
            "workload",
            "stack",
            "req/s",
            "req/s per core",
            "p50 ms",
            "p99 ms",
            "db cmds/req",
            "writes/req",
            "Set-Cookie/resp",
            "mongod µs/req",
            "errors",
        ],
        note=(
            f"{connections} keep-alive connections (gunicorn's sync worker closes each one), "
            f"{background:,} other sessions in each collection. req/s per core = requests / "
            "CPU seconds of the server's process tree; db commands and writes from serverStatus "
            "opcounters; mongod µs/req = mongod CPU per request."
        ),
    )
    for workload in workloads:
        for stack in found:
            t = totals[workload, stack.key]
            table.add(
                workload,
                stack.label,
                t.requests / t.seconds if t.seconds else float("nan"),
                t.per_core,
                percentile(t.latencies, 0.50) * 1e3,
                percentile(t.latencies, 0.99) * 1e3,
                t.per_request(OPCOUNTERS),
                t.per_request(WRITES),
                t.set_cookies / t.requests if t.requests else float("nan"),
                t.mongod_cpu / t.requests * 1e6 if t.requests and t.mongod_cpu else float("nan"),
                sum(n for s, n in t.statuses.items() if s >= 400),
            )
    return table


#: (candidate, baseline, goal) for the issue's end-to-end targets.
RATIO_TARGETS = (
    ("asgi", "flask-session", 1.5),
    ("asgi", "express", 1.0),
    ("flask", "flask-session", 1.5),
)


def _ratios(
    found: list[Stack], workloads: tuple[str, ...], totals: dict[tuple[str, str], Totals]
) -> tuple[Table, list[Target]]:
    keys = {s.key for s in found}
    labels = {s.key: s.short for s in found}
    pairs = [(a, b, goal) for a, b, goal in RATIO_TARGETS if a in keys and b in keys]
    table = Table(
        "End to end: requests per second per core, as a ratio",
        ["workload", *(f"{labels[a]} ÷ {labels[b]}" for a, b, _ in pairs)],
    )
    targets: list[Target] = []
    for workload in workloads:
        row: list[object] = [workload]
        for a, b, goal in pairs:
            ratio = totals[workload, a].per_core / totals[workload, b].per_core
            row.append(f"{ratio:.2f}×")
            if workload == "none":
                continue  # the frameworks alone: context, not a target
            targets.append(
                Target(
                    f"{workload}: {labels[a]} ÷ {labels[b]}",
                    f"{ratio:.2f}×",
                    f"≥ {goal:.1f}×",
                    ratio >= goal,
                )
            )
        table.add(*row)
    return table, targets
