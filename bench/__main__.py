"""``python -m bench``: every benchmark, one command, ratios against baselines run alongside.

    python -m bench                      # everything (about 21 minutes on 2 cores)
    python -m bench --quick              # a smoke run of about a minute
    python -m bench --only store,http    # some sections
    python -m bench --only http --connections 8,64 --duration 3 --rounds 3
    python -m bench --markdown out.md    # also write the tables as Markdown
    python -m bench --only scale --scale-sizes 10000,1000000   # operations at 1M sessions
    python -m bench --only cache         # the near cache (its mongod: a single-node replica set)

Starts its own ``mongod`` (the ``server`` extra) unless ``MONGODB_URI`` is set, and
stops it at the end. Needs the ``bench`` extra for the HTTP section; stacks whose
software is missing are left out and named. The HTTP section drives the servers
with ``wrk`` (Debian's package) and falls back to ``bench/loadgen.py`` without it;
the report says which ran. Run it from the repository root.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.metadata
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pymongo import MongoClient
from pymongo.errors import PyMongoError

from mongosession.testing.localdb import LocalMongod, find_mongod, strip_db_path, with_db

from . import cache, middleware, pool, profile, scale, store, web
from ._common import Section, markdown_report

SECTIONS = ("store", "middleware", "profile", "pool", "http", "scale", "cache")
DB = "mongosession_bench"
PACKAGES = (
    "mongosession",
    "pymongo",
    "orjson",
    "cryptography",
    "starlette",
    "uvicorn",
    "uvloop",
    "httptools",
    "flask",
    "werkzeug",
    "flask-session",
    "msgspec",
    "gunicorn",
    "django",
)
NODE_PACKAGES = ("express", "express-session", "connect-mongo", "mongodb")


@contextlib.contextmanager
def database(replica_set: bool = False) -> Iterator[tuple[str, int | None]]:
    """(URI without a database, PID of a local mongod or None) for the whole run.

    ``replica_set``: the local mongod is a single-node replica set (the near
    cache's change stream needs one).
    """
    external = os.environ.get("MONGODB_URI")
    if external:
        yield strip_db_path(external), None
        return
    root = Path(tempfile.mkdtemp(prefix="mongosession-bench-db-"))
    server = LocalMongod(
        root / "db",
        log_path=root / "mongod.log",
        mongod_path=find_mongod(),
        repl_set="rs0" if replica_set else None,
    )
    server.start()
    try:
        yield server.uri, server.pid
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


def environment(uri: str) -> list[str]:
    """Machine and versions, for the report."""
    lines = [f"- Python {platform.python_version()} on {platform.platform()}"]
    cpu = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    lines.append(f"- {os.cpu_count()} CPUs: {cpu}")
    client: MongoClient[dict[str, Any]]
    with MongoClient(uri) as client:
        lines.append(f"- MongoDB {client.server_info()['version']}")
    versions = []
    for name in PACKAGES:
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            versions.append(f"{name} {importlib.metadata.version(name)}")
    lines.append("- " + ", ".join(versions))
    node = shutil.which("node")
    if node:
        version = subprocess.run(
            [node, "--version"], capture_output=True, text=True, check=False
        ).stdout.strip()
        found = [f"Node {version}"]
        for name in NODE_PACKAGES:
            manifest = web.NODE_DIR / "node_modules" / name / "package.json"
            if manifest.exists():
                found.append(f"{name} {json.loads(manifest.read_text())['version']}")
        lines.append("- " + ", ".join(found))
    wrk = web.wrk_version()
    lines.append(
        f"- {wrk}" if wrk else "- wrk: not installed (the HTTP section uses bench/loadgen.py)"
    )
    return lines


def _numbers(text: str, what: str) -> tuple[int, ...]:
    try:
        values = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{what}: comma-separated whole numbers") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"{what}: at least one number, each 1 or more")
    return values


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="tiny runs: checks that everything works"
    )
    parser.add_argument(
        "--only", default=",".join(SECTIONS), help=f"comma-separated: {', '.join(SECTIONS)}"
    )
    parser.add_argument("--markdown", type=Path, help="write the report as Markdown here too")
    parser.add_argument(
        "--duration",
        type=float,
        default=3.0,
        help="HTTP: seconds measured per run (wrk takes whole seconds: rounded up)",
    )
    parser.add_argument(
        "--warmup", type=float, default=2.0, help="HTTP: seconds of warm-up per stack and level"
    )
    parser.add_argument(
        "--rounds", type=int, default=3, help="HTTP: measured runs per stack, workload and level"
    )
    parser.add_argument(
        "--connections",
        type=lambda text: _numbers(text, "--connections"),
        default=None,
        help="HTTP: comma-separated connection counts (default 8,64; --quick: 8)",
    )
    parser.add_argument(
        "--workloads",
        default=",".join(web.DEFAULT_WORKLOADS),
        help=f"HTTP: comma-separated, of {', '.join(web.WORKLOADS)}",
    )
    parser.add_argument(
        "--stacks", default=None, help="HTTP: comma-separated stack keys (default: all found)"
    )
    parser.add_argument(
        "--tool",
        choices=("auto", "wrk", "loadgen"),
        default="auto",
        help="HTTP load generator: wrk when installed (auto), or the asyncio fallback",
    )
    parser.add_argument("--threads", type=int, default=2, help="HTTP: wrk threads (-t)")
    parser.add_argument(
        "--background", type=int, default=10_000, help="HTTP: other sessions stored"
    )
    parser.add_argument(
        "--scale-sizes",
        type=lambda text: _numbers(text, "--scale-sizes"),
        default=None,
        help="scale: comma-separated collection sizes (default 10000,1000000; --quick: 1000,5000)",
    )
    parser.add_argument(
        "--scale-user-sessions",
        type=int,
        default=scale.USER_SESSIONS,
        help="scale: sessions of the heavy user (default: %(default)s; at most half a size)",
    )
    parser.add_argument(
        "--revokes",
        type=int,
        default=1000,
        help="cache: sessions revoked for the revoke-to-refusal delay (default: %(default)s)",
    )
    args = parser.parse_args(argv)
    workloads = tuple(w.strip() for w in args.workloads.split(",") if w.strip())
    if set(workloads) - set(web.WORKLOADS):
        parser.error(f"unknown workloads: {', '.join(sorted(set(workloads) - set(web.WORKLOADS)))}")
    chosen = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = set(chosen) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown sections: {', '.join(sorted(unknown))}")
    started = time.monotonic()
    sections: list[Section] = []
    with contextlib.ExitStack() as servers:
        started_servers: dict[bool, tuple[str, int | None]] = {}

        def server(replica_set: bool) -> tuple[str, int | None]:
            # A standalone mongod for every section but the near cache's, whose change
            # stream needs a replica set: there (w:majority by default) every write
            # waits for the journal, which would change the other sections' figures.
            if replica_set not in started_servers:
                started_servers[replica_set] = servers.enter_context(database(replica_set))
            return started_servers[replica_set]

        uri, mongod_pid = server(chosen == ["cache"])
        env = environment(uri)
        print("\n".join(["mongosession benchmarks", *env, ""]), flush=True)
        db_uri = with_db(uri, DB)
        for name in chosen:
            t0 = time.monotonic()
            print(f"== {name} ...", flush=True)
            if name == "store":
                section = store.run(
                    db_uri,
                    server_pid=mongod_pid,
                    ops=10 if args.quick else 50,
                    rounds=2 if args.quick else 30,
                )
            elif name == "middleware":
                section = middleware.run(
                    db_uri, requests=30 if args.quick else 300, rounds=2 if args.quick else 9
                )
            elif name == "profile":
                section = profile.run(db_uri, requests=100 if args.quick else 1500)
            elif name == "pool":
                section = pool.run(
                    db_uri, ops=640 if args.quick else 12_800, batches=2 if args.quick else 4
                )
            elif name == "scale":
                section = scale.run(
                    db_uri,
                    sizes=args.scale_sizes or ((1_000, 5_000) if args.quick else scale.SIZES),
                    user_sessions=args.scale_user_sessions,
                    ops=50 if args.quick else 300,
                    rounds=1 if args.quick else 3,
                )
            elif name == "cache":
                cache_uri, cache_pid = server(True)
                section = cache.run(
                    cache_uri,
                    mongod_pid=cache_pid,
                    connections=args.connections or ((8,) if args.quick else (8, 64)),
                    warmup=0.0 if args.quick else args.warmup,
                    duration=1.0 if args.quick else args.duration,
                    rounds=1 if args.quick else args.rounds,
                    background=100 if args.quick else args.background,
                    revokes=20 if args.quick else args.revokes,
                    faulted=5 if args.quick else 20,
                    tool=args.tool,
                    threads=args.threads,
                    stacks=None if args.stacks is None else tuple(args.stacks.split(",")),
                )
            else:
                default_levels = (8,) if args.quick else web.DEFAULT_CONNECTIONS
                section = web.run(
                    uri,
                    mongod_pid=mongod_pid,
                    workloads=workloads,
                    connections=args.connections or default_levels,
                    warmup=0.0 if args.quick else args.warmup,
                    duration=1.0 if args.quick else args.duration,
                    rounds=1 if args.quick else args.rounds,
                    background=100 if args.quick else args.background,
                    only=None if args.stacks is None else tuple(args.stacks.split(",")),
                    tool=args.tool,
                    threads=args.threads,
                )
            sections.append(section)
            _print(section)
            print(f"({name}: {time.monotonic() - t0:.0f} s)\n", flush=True)
        client: MongoClient[dict[str, Any]]
        with MongoClient(uri, serverSelectionTimeoutMS=5000) as client:
            try:
                client.drop_database(DB)
            except PyMongoError as exc:  # the results stand; say why cleanup failed
                print(f"bench: could not drop {DB}: {exc}", file=sys.stderr)
    _print_targets(sections)
    elapsed = time.monotonic() - started
    print(f"\nbench: done in {elapsed:.0f} s")
    if args.markdown:
        report = "\n".join(env) + "\n\n" + markdown_report(sections)
        args.markdown.write_text(report + f"\nTotal run time: {elapsed:.0f} s.\n")
        print(f"bench: Markdown written to {args.markdown}")
    return 0


def _print(section: Section) -> None:
    print(f"# {section.name}\n")
    for table in section.tables:
        print(table.text() + "\n")
    for note in section.notes:
        print(note)


def _print_targets(sections: list[Section]) -> None:
    targets = [t for s in sections for t in s.targets]
    if not targets:
        return
    print("# Targets\n")
    width = max(len(t.name) for t in targets)
    for t in targets:
        mark = "met   " if t.met else "MISSED"
        print(f"{mark}  {t.name.ljust(width)}  {t.measured}  (goal {t.goal})")


if __name__ == "__main__":
    sys.exit(main())
