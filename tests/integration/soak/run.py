"""The load-and-fault run: many clients against the soak app on uvicorn, on loopback.

Three phases, each on a fresh database, each ``duration`` seconds with ``clients``
concurrent clients (each its own keep-alive connection and cookie):

- ``clean``: nothing goes wrong; every request must succeed.
- ``faults``: the fault proxy between the app and MongoDB delays some chunks and
  resets some connections at random.
- ``restart``: a third of the way in, ``mongod`` is killed (SIGKILL) and started
  again on the same data files.

The clients (``tests/integration/soak/load.py``, a process of their own) check every answer:
their own session and user, never another's; no lost write; no write applied twice.
After each phase every client's session is read straight from MongoDB and checked
the same way. The report gives requests served, errors by kind, p50/p99 latencies.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pymongo import MongoClient

from mongosession.testing.localdb import LocalMongod, with_db
from tests.integration.soak.load import Load
from tests.support.faultproxy import FaultProxy
from tests.support.servers import ROOT, python, serving

PHASES = ("clean", "faults", "restart")
DOWN_SECONDS = 6.0
#: Anything that means "the application served another session than the client's".
CRITICAL = ("lost write", "duplicated write", "lost session", "foreign session")


@dataclass
class PhaseReport:
    """What one phase measured: what the clients saw, and the check against MongoDB."""

    phase: str
    clients: int
    load: Load = field(default_factory=Load)
    sessions_checked: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def served(self) -> int:
        return self.load.served

    @property
    def errors(self) -> Counter[str]:
        return self.load.errors

    @property
    def anomalies(self) -> Counter[str]:
        return self.load.anomalies

    def percentile(self, q: float, *, ok_only: bool = True) -> float:
        """The ``q`` quantile of request latency, in milliseconds."""
        data = sorted(self.load.latencies_ok if ok_only else self.load.latencies_all)
        if not data:
            return float("nan")
        if len(data) == 1:
            return data[0] * 1000
        return statistics.quantiles(data, n=1000, method="inclusive")[int(q * 1000) - 1] * 1000

    @property
    def critical(self) -> int:
        return sum(self.anomalies[k] for k in CRITICAL)

    def summary(self) -> dict[str, Any]:
        """A JSON-able summary (no latency lists)."""
        seconds = self.load.seconds
        return {
            "phase": self.phase,
            "clients": self.clients,
            "seconds": round(seconds, 1),
            "served": self.served,
            "requests_per_second": round(self.served / seconds, 1) if seconds else 0,
            "p50_ms": round(self.percentile(0.5), 1),
            "p99_ms": round(self.percentile(0.99), 1),
            "p99_all_ms": round(self.percentile(0.99, ok_only=False), 1),
            "errors": dict(self.errors),
            "anomalies": dict(self.anomalies),
            "sessions_checked": self.sessions_checked,
            "notes": self.notes,
        }


def _verify_stored(report: PhaseReport, uri: str, db_name: str) -> None:
    """Read every user's session straight from MongoDB and check it."""
    with MongoClient(uri, tz_aware=True) as mongo:
        sessions = mongo[db_name].sessions
        for user in report.load.users:
            report.sessions_checked += 1
            doc = sessions.find_one({"_id": user.sid})
            if doc is None:
                report.anomalies["lost session"] += 1
                continue
            data = json.loads(doc["session"])
            if data.get("user") != user.name:
                report.anomalies["foreign session"] += 1
            elif int(data.get("n", 0)) < user.acked:
                report.anomalies["lost write"] += 1


async def _drive(
    base_url: str, clients: int, duration: float, during: Callable[[], Any] | None
) -> Load:
    # The clients run in a process of their own: in this one they would share the
    # GIL with the fault proxy, which sits on every database round trip.
    load = await asyncio.create_subprocess_exec(
        *python(
            "-m",
            "tests.integration.soak.load",
            base_url,
            f"--clients={clients}",
            f"--duration={duration}",
        ),
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
    )
    side = asyncio.create_task(during()) if during is not None else None
    out, _ = await load.communicate()
    if side is not None:
        await side
    if load.returncode != 0:
        raise RuntimeError(f"the load process failed with exit code {load.returncode}")
    return Load.from_json(json.loads(out))


def run_phase(
    phase: str,
    *,
    server: LocalMongod,
    proxy: FaultProxy,
    clients: int,
    duration: float,
    workdir: Path,
) -> PhaseReport:
    """One phase against a fresh database; returns its report."""
    report = PhaseReport(phase=phase, clients=clients)
    db_name = f"soak_{phase}"
    proxy.pass_through()
    during: Callable[[], Any] | None = None
    if phase == "faults":
        proxy.chaos(delay_probability=0.05, max_delay=0.2, reset_probability=0.002)
    elif phase == "restart":

        async def restart() -> None:
            await asyncio.sleep(duration / 3)
            killed = time.monotonic()
            await asyncio.to_thread(server.kill)
            # Down for longer than the store's timeout (5 s), so that requests meet
            # the outage and fail closed, rather than all waiting it out.
            await asyncio.sleep(DOWN_SECONDS)
            await asyncio.to_thread(server.start)
            report.notes.append(
                f"mongod killed (SIGKILL) at {duration / 3:.0f} s, "
                f"accepting again {time.monotonic() - killed:.1f} s later"
            )

        during = restart
    resets_before = proxy.stats.resets
    delayed_before = proxy.stats.delayed
    command = python(
        "-m",
        "uvicorn",
        "tests.integration.soak.app:create_app",
        "--factory",
        "--host",
        "127.0.0.1",
        "--port",
        "{port}",
        "--log-level",
        "warning",
        "--no-access-log",
    )
    app_uri = with_db(proxy.uri, db_name)
    with serving(command, mongodb_uri=app_uri, log=workdir / f"uvicorn-{phase}.log") as base_url:
        report.load = asyncio.run(_drive(base_url, clients, duration, during))
    proxy.pass_through()
    if phase == "faults":
        report.notes.append(
            f"proxy: {proxy.stats.resets - resets_before} connections reset, "
            f"{proxy.stats.delayed - delayed_before} chunks delayed (up to 200 ms)"
        )
    _verify_stored(report, server.uri, db_name)
    return report


def soak(
    *,
    clients: int = 200,
    duration: float = 30.0,
    phases: Sequence[str] = PHASES,
    logs: Path | None = None,
) -> list[PhaseReport]:
    """Start a replica set and a fault proxy, run ``phases``; stop everything.

    ``logs`` keeps the data directory and the server logs there (else a temporary
    directory, removed at the end).
    """
    unknown = set(phases) - set(PHASES)
    if unknown:
        raise ValueError(f"unknown phases {sorted(unknown)}; choose from {PHASES}")
    if logs is not None:
        logs.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="mongosession-soak-") as tmp:
        workdir = logs or Path(tmp)
        server = LocalMongod(workdir / "db", repl_set="rs0", log_path=workdir / "mongod.log")
        server.start()
        try:
            with FaultProxy(server.port, seed=1) as proxy:
                return [
                    run_phase(
                        phase,
                        server=server,
                        proxy=proxy,
                        clients=clients,
                        duration=duration,
                        workdir=workdir,
                    )
                    for phase in phases
                ]
        finally:
            server.stop()


def render(reports: Sequence[PhaseReport]) -> str:
    """The reports as a Markdown table, notes below."""
    lines = [
        "| phase | clients | seconds | served (200) | req/s | p50 ms | p99 ms | p99 ms, all answers "
        "| errors by kind | lost writes | duplicated writes | lost sessions | foreign sessions "
        "| sessions checked in MongoDB |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: "
        "| ---: |",
    ]
    for r in reports:
        s = r.summary()
        errors = ", ".join(f"{k}: {v}" for k, v in sorted(r.errors.items())) or "none"
        lines.append(
            f"| {r.phase} | {r.clients} | {s['seconds']} | {r.served} | "
            f"{s['requests_per_second']} | {s['p50_ms']} | {s['p99_ms']} | {s['p99_all_ms']} | "
            f"{errors} | {r.anomalies['lost write']} | {r.anomalies['duplicated write']} | "
            f"{r.anomalies['lost session']} | {r.anomalies['foreign session']} | "
            f"{r.sessions_checked} |"
        )
    notes = [f"- {r.phase}: {note}" for r in reports for note in r.notes]
    return "\n".join(lines + (["", *notes] if notes else []))


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m tests.integration.soak [--clients N] [--duration S] [--phases a,b] [--json FILE]``."""
    parser = argparse.ArgumentParser(prog="python -m tests.integration.soak", description=__doc__)
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--duration", type=float, default=30.0, help="seconds per phase")
    parser.add_argument("--phases", default=",".join(PHASES))
    parser.add_argument("--json", type=Path, help="also write the summaries to this file")
    parser.add_argument("--logs", type=Path, help="keep the server logs in this directory")
    args = parser.parse_args(argv)
    phases = [p for p in args.phases.split(",") if p]
    before = os.getloadavg()[0]
    reports = soak(clients=args.clients, duration=args.duration, phases=phases, logs=args.logs)
    print(render(reports))
    print(
        f"\nmachine: {os.cpu_count()} CPUs, load average {before:.1f} before the run and "
        f"{os.getloadavg()[0]:.1f} after; app: one uvicorn worker; clients: one process"
    )
    if args.json:
        args.json.write_text(json.dumps([r.summary() for r in reports], indent=2) + "\n")
    clean_errors = sum(sum(r.errors.values()) for r in reports if r.phase == "clean")
    failed = any(r.critical for r in reports) or clean_errors > 0
    print(
        "\nsoak:", "FAILED" if failed else "passed", "(no lost or foreign session, no lost write)"
    )
    return 1 if failed else 0
