"""HTTP level: every stack as a ratio to the floor, one worker each, over loopback.

The stacks, each with its own database on the same ``mongod``, filled beforehand
with the same number of other sessions in its own document shape:

- **the floor**: the same Starlette app on the same uvicorn with no session
  library, whose handlers do by hand the database work any server-side session
  needs (``bench/apps/floor_app.py``); every stack is reported as a ratio to it;
- mongosession on Starlette + uvicorn (ASGI), and its Flask adapter on gunicorn;
- Flask-Session 0.8's MongoDB backend on gunicorn;
- express-session + connect-mongo on Node;
- Django on gunicorn with mongosession's engine, and with Django's own ``db``
  (SQLite) and ``cached_db`` engines (``bench/apps/django_app.py``).

The load comes from ``wrk`` (``bench/wrk/session.lua`` sends each stack's own
session cookies and picks the route), or, when ``wrk`` is missing, from the
asyncio load generator in ``bench/loadgen.py``; the report says which ran. For
every (workload, connection count), each stack is warmed up once, then measured
in ``rounds`` runs, the stacks in alternating order. Around each run the server's
process tree CPU and ``mongod``'s CPU are read from ``/proc`` and the operations on
the stack's collection (``top``) are read, and divided by the requests the run made.
A ratio to the floor is formed per round (the stack's run against the floor's run
of the same round) and reported as the median with the range over the rounds.
"""

from __future__ import annotations

import contextlib
import http.client
import importlib.util
import json
import math
import os
import re
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from bson import Binary
from pymongo import MongoClient

from mongosession.testing.localdb import free_port, with_db

from ._common import Section, Table, Target, percentile, tree_cpu
from .loadgen import new_event_loop, run_load

ROOT = Path(__file__).resolve().parent.parent
NODE_DIR = ROOT / "bench" / "node"
WRK_SCRIPT = ROOT / "bench" / "wrk" / "session.lua"
SECRET = "bench secret " + secrets.token_hex(8)
OPCOUNTERS = ("insert", "query", "update", "delete", "getmore", "command")
WRITES = ("insert", "update", "delete")
#: ``touch_after`` of every route but ``/touch``: a read inside it writes nothing.
TOUCH_AFTER = 86400
MAX_AGE = 86400
FLOOR = "floor"
#: The near-cache stacks' ``max_staleness`` (seconds): the library's default.
NEAR_CACHE = 0.5
#: ``minPoolSize`` of the ``asgi-pool`` stack: the most connections the harness opens
#: (docs/deployment.md: PyMongo's asyncio pool grows slowly under a per-operation timeout).
MIN_POOL = 64
#: Sessions made per stack (by logging in) for each connection: requests in
#: flight then carry different sessions, as on a site with many users.
COOKIES_PER_CONNECTION = 4


@dataclass(frozen=True)
class Workload:
    """What every request of a run sends."""

    method: str
    path: str
    with_cookie: bool
    description: str


WORKLOADS: dict[str, Workload] = {
    "none": Workload("GET", "/health", False, "GET /health without a cookie: the framework alone"),
    "read": Workload(
        "GET", "/read", True, "GET /read: the session is read, inside touch_after (no write)"
    ),
    "touch": Workload(
        "GET", "/touch", True, "GET /touch: the session is read and its expiry moved (touched)"
    ),
    "write": Workload("POST", "/write", True, "POST /write: the session is modified and written"),
}
DEFAULT_WORKLOADS = ("read", "touch", "write")
DEFAULT_CONNECTIONS = (8, 64)


@dataclass
class Stack:
    """One server under test."""

    key: str
    label: str
    short: str  # for the ratio tables
    shape: str  # the stored document shape of the background sessions
    command: list[str]
    env: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None
    port: int = 0
    log_path: Path | None = None
    cookies: list[str] = field(default_factory=list)
    cookie_file: Path | None = None
    #: A near-cache stack: needs a replica set, runs only when named (the cache section).
    cached: bool = False

    @property
    def db(self) -> str:
        return "bench_" + self.key.replace("-", "_")

    @property
    def on_mongodb(self) -> bool:
        return self.shape != "sqlite"


def _has(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ImportError:  # the parent package is missing
        return False


def wrk_path() -> str | None:
    """The ``wrk`` executable, or None."""
    return shutil.which("wrk")


def wrk_version() -> str | None:
    """``wrk``'s version line (``wrk debian/4.1.0-3+b2 [epoll] ...``), or None."""
    wrk = wrk_path()
    if wrk is None:
        return None
    done = subprocess.run([wrk, "-v"], capture_output=True, text=True, check=False, timeout=10)
    first = (done.stdout or done.stderr).strip().splitlines()
    return first[0].split(" Copyright")[0].strip() if first else "wrk"


def stacks() -> tuple[list[Stack], list[str]]:
    """The stacks this machine can run, the floor first, and why the others are left out."""
    found: list[Stack] = []
    skipped: list[str] = []
    python = sys.executable
    uvicorn = [
        python,
        "-m",
        "uvicorn",
        "--workers",
        "1",
        "--no-access-log",
        "--log-level",
        "warning",
        "--host",
        "127.0.0.1",
        "--port",
        "{port}",
    ]
    if _has("uvicorn") and _has("starlette"):
        found.append(
            Stack(
                FLOOR,
                "floor: no session library, Starlette on uvicorn",
                "floor",
                "floor",
                [*uvicorn, "bench.apps.floor_app:app"],
            )
        )
        found.append(
            Stack(
                "asgi",
                "mongosession, Starlette on uvicorn",
                "mongosession ASGI",
                "connect-mongo",
                [*uvicorn, "bench.apps.asgi_app:app"],
            )
        )
        found.append(
            Stack(
                "asgi-pool",
                f"mongosession, Starlette on uvicorn, minPoolSize={MIN_POOL}",
                "ASGI, minPoolSize",
                "connect-mongo",
                [*uvicorn, "bench.apps.asgi_app:app"],
                env={"BENCH_MIN_POOL": str(MIN_POOL)},
            )
        )
        found.append(
            Stack(
                "asgi-cache",
                f"mongosession + near cache ({NEAR_CACHE} s), Starlette on uvicorn",
                "ASGI + near cache",
                "connect-mongo",
                [*uvicorn, "bench.apps.asgi_app:app"],
                env={"BENCH_NEAR_CACHE": str(NEAR_CACHE)},
                cached=True,
            )
        )
    else:
        skipped.append("the floor and mongosession ASGI: install the bench extra (uvicorn)")
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
        skipped.append("Flask and Django stacks: install the bench extra (gunicorn)")
        return found, skipped
    if _has("flask") and _has("mongosession.flask"):
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
        skipped.append("mongosession Flask: install Flask")
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
    if _has("django"):
        django_app = [*gunicorn, "bench.apps.django_app:application"]
        for engine, label, short, shape in (
            (
                "mongosession",
                "mongosession, Django on gunicorn",
                "Django mongosession",
                "connect-mongo",
            ),
            ("db", "Django db (SQLite) on gunicorn", "Django db", "sqlite"),
            (
                "cached_db",
                "Django cached_db (SQLite + LocMemCache) on gunicorn",
                "Django cached_db",
                "sqlite",
            ),
        ):
            found.append(
                Stack(
                    f"django-{engine.replace('_', '-')}",
                    label,
                    short,
                    shape,
                    django_app,
                    env={"BENCH_DJANGO_ENGINE": engine},
                )
            )
        found.append(
            Stack(
                "django-cache",
                f"mongosession + near cache ({NEAR_CACHE} s), Django on gunicorn",
                "Django + near cache",
                "connect-mongo",
                django_app,
                env={"BENCH_DJANGO_ENGINE": "mongosession", "BENCH_NEAR_CACHE": str(NEAR_CACHE)},
                cached=True,
            )
        )
    else:
        skipped.append("Django stacks: install Django")
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


def _start(stack: Stack, uri: str, logs: Path, background: int) -> None:
    stack.port = free_port()
    stack.log_path = logs / f"{stack.key}.log"
    env = {
        **os.environ,
        "BENCH_DB_URI": with_db(uri, stack.db),
        "BENCH_SECRET": SECRET,
        "BENCH_MAX_AGE": str(MAX_AGE),
        "BENCH_TOUCH_AFTER": str(TOUCH_AFTER),
        "BENCH_BACKGROUND": str(background),
        "BENCH_SQLITE_PATH": str(logs / f"{stack.key}.sqlite3"),
        "PORT": str(stack.port),
        "NODE_ENV": "production",
        **stack.env,
    }
    command = [part.replace("{port}", str(stack.port)) for part in stack.command]
    with stack.log_path.open("wb") as log:
        stack.proc = subprocess.Popen(
            command, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log
        )
    deadline = time.monotonic() + 120
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
    raise RuntimeError(f"{stack.label} did not answer /health within 120 s")


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
def running(
    found: list[Stack], uri: str, *, background: int, cookies: int
) -> Iterator[list[Stack]]:
    """Start every stack and log each in ``cookies`` times; stop each by its PID afterwards."""
    logs = Path(tempfile.mkdtemp(prefix="mongosession-bench-"))
    try:
        for stack in found:
            _start(stack, uri, logs, background)
            stack.cookies = [_log_in(stack, f"u{i}") for i in range(cookies)]
            stack.cookie_file = logs / f"{stack.key}.cookies"
            stack.cookie_file.write_text("\n".join(stack.cookies) + "\n")
        yield found
    finally:
        for stack in found:
            _stop(stack)
        shutil.rmtree(logs, ignore_errors=True)


def _log_in(stack: Stack, user: str) -> str:
    """Log in once; the ``Cookie`` header value that carries the new session."""
    conn = http.client.HTTPConnection("127.0.0.1", stack.port, timeout=60)
    try:
        conn.request("POST", f"/login?user={user}", body=b"")
        response = conn.getresponse()
        response.read()
        set_cookies = response.headers.get_all("Set-Cookie") or []
    finally:
        conn.close()
    if response.status != 200:
        raise RuntimeError(f"{stack.label}: log-in answered HTTP {response.status}")
    jar: dict[str, str] = {}
    for header in set_cookies:
        name, _, value = header.split(";", 1)[0].strip().partition("=")
        if value:
            jar[name] = value
    if not jar:
        raise RuntimeError(f"{stack.label}: log-in set no cookie")
    return "; ".join(f"{name}={value}" for name, value in jar.items())


# -- data --------------------------------------------------------------------------------


def populate(client: MongoClient[dict[str, Any]], stack: Stack, count: int) -> None:
    """Fill the stack's collection with ``count`` other live sessions, in its own shape.

    The SQLite stacks fill their own table at start (``bench/apps/django_app.py``).
    """
    if not stack.on_mongodb:
        return
    collection = client[stack.db]["sessions"]
    collection.drop()
    if stack.shape == FLOOR:
        collection.create_index("expires", expireAfterSeconds=0)
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
        elif stack.shape == FLOOR:
            docs.append({"_id": sid, "session": data, "expires": expires})
        else:
            docs.append(
                {"_id": sid, "session": json.dumps({"cookie": cookie, **data}), "expires": expires}
            )
    collection.insert_many(docs, ordered=False)


# -- load --------------------------------------------------------------------------------


@dataclass
class Load:
    """What one run of the load generator reports."""

    requests: int  # responses completed in the window: requests/s
    seconds: float
    p50: float  # seconds
    p99: float
    errors: int  # non-2xx/3xx responses, socket errors and timeouts
    #: Requests the server was sent in the window, the ones still in flight when the
    #: generator stopped included (wrk's count misses those; the server serves them
    #: inside the measured window): CPU and database operations per request divide by it.
    served: int


_WRK_LINE = re.compile(r"^bench-wrk-result (.*)$", re.MULTILINE)


def run_wrk(
    port: int,
    workload: Workload,
    *,
    connections: int,
    seconds: int,
    cookie_file: Path | None,
    threads: int = 2,
) -> Load:
    """One ``wrk`` run against ``workload``'s route; its numbers, from the script's ``done()``."""
    wrk = wrk_path()
    if wrk is None:
        raise RuntimeError("wrk is not installed")
    threads = max(1, min(threads, connections))
    command = [
        wrk,
        f"-t{threads}",
        f"-c{connections}",
        f"-d{seconds}s",
        "--latency",
        "--timeout",
        "30s",
        "-s",
        str(WRK_SCRIPT),
        f"http://127.0.0.1:{port}",
        "--",
        workload.method,
        workload.path,
        str(cookie_file) if workload.with_cookie and cookie_file else "-",
        str(threads),
    ]
    done = subprocess.run(
        command, capture_output=True, text=True, check=False, timeout=seconds + 120
    )
    match = _WRK_LINE.search(done.stdout)
    if done.returncode != 0 or match is None:
        raise RuntimeError(f"wrk failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    values = {k: int(v) for k, v in (pair.split("=") for pair in match.group(1).split())}
    errors = sum(values[k] for k in ("connect", "read", "write", "status", "timeout"))
    return Load(
        requests=values["requests"],
        seconds=values["duration_us"] / 1e6,
        p50=values["p50_us"] / 1e6,
        p99=values["p99_us"] / 1e6,
        errors=errors,
        served=values["requests"] + in_flight(values["sent"], values["requests"], connections),
    )


def in_flight(sent: int, completed: int, connections: int) -> int:
    """Requests ``wrk`` left in flight when it stopped: at most one per connection.

    A connection sends its next request as soon as a response arrives, so each has at
    most one outstanding when the run ends (none if its last response came in as wrk
    stopped). The script's count of the requests written tells them apart: it counts
    ``request()`` calls, less the one wrk makes before the run to check the request.
    """
    return max(0, min(connections, sent - completed))


def run_loadgen(
    port: int,
    workload: Workload,
    *,
    connections: int,
    seconds: float,
    cookies: Sequence[str],
    on_start: Callable[[], None] = lambda: None,
    on_stop: Callable[[], None] = lambda: None,
) -> Load:
    """The same run with the asyncio load generator (the fallback)."""
    loop = new_event_loop()
    try:
        result = loop.run_until_complete(
            run_load(
                port,
                workload.method,
                workload.path,
                cookies=cookies if workload.with_cookie else (),
                connections=connections,
                warmup=0.1,
                duration=seconds,
                on_start=on_start,
                on_stop=on_stop,
            )
        )
    finally:
        loop.close()
    return Load(
        requests=result.responses,
        seconds=result.seconds,
        p50=percentile(result.latencies, 0.50),
        p99=percentile(result.latencies, 0.99),
        errors=result.errors,
        served=result.responses,  # the window's ends cut requests on both sides alike
    )


# -- measurement ---------------------------------------------------------------------------


@dataclass
class Sample:
    """One stack's run: the load generator's figures and the CPU and commands around it."""

    load: Load
    server_cpu: float
    mongod_cpu: float | None
    ops: Counter[str]

    @property
    def rps(self) -> float:
        return self.load.requests / self.load.seconds if self.load.seconds else math.nan

    def per_request(self, seconds: float | None) -> float:
        """µs per request of a CPU time (NaN when unknown or nothing was served)."""
        if seconds is None or not self.load.served:
            return math.nan
        return seconds / self.load.served * 1e6

    @property
    def server_us(self) -> float:
        return self.per_request(self.server_cpu)

    @property
    def mongod_us(self) -> float:
        return self.per_request(self.mongod_cpu)

    @property
    def total_us(self) -> float:
        """Server and ``mongod`` CPU per request (the server's alone when mongod's is unknown)."""
        return self.per_request(self.server_cpu + (self.mongod_cpu or 0.0))


#: ``top``'s name for each of :data:`OPCOUNTERS`.
_TOP_NAMES = {
    "insert": "insert",
    "query": "queries",
    "update": "update",
    "delete": "remove",
    "getmore": "getmore",
    "command": "commands",
}


def collection_ops(client: MongoClient[dict[str, Any]], namespace: str) -> Counter[str]:
    """The operations ``mongod`` has served on ``namespace`` so far (the ``top`` command).

    Counted per collection, not server-wide (``serverStatus`` opcounters): those also
    take in whatever else the server does meanwhile, other clients' work and its own.
    In a full test run on a shared ``mongod``, one stack's one-second run once counted
    about 1.4 commands per request more than the route sends, twice; the source was
    not identified, and the stack's own collection is all a run should count.
    """
    usage = client.admin.command("top")["totals"].get(namespace, {})
    return Counter(
        {name: int(usage.get(key, {}).get("count", 0)) for name, key in _TOP_NAMES.items()}
    )


@dataclass
class Runner:
    """Runs one stack under one workload with the chosen tool, and measures around it."""

    tool: str  # "wrk" or "loadgen"
    client: MongoClient[dict[str, Any]]
    mongod_pid: int | None
    threads: int = 2

    def warm(self, stack: Stack, workload: Workload, connections: int, seconds: float) -> None:
        if seconds <= 0:
            return
        self._load(stack, workload, connections, seconds)
        self.settle(stack)

    def settle(self, stack: Stack, *, quiet: float = 0.2, limit: float = 30.0) -> None:
        """Wait until the stack and ``mongod`` have finished the work the last run left.

        When the load generator stops, a server may still hold requests (a
        gunicorn sync worker's listen queue holds up to one per connection): they
        are served after the run, and their database work must not land in the
        next stack's window (``mongod``'s CPU and opcounters are shared).
        """
        assert stack.proc is not None
        pid = stack.proc.pid

        def cpu() -> tuple[float, float]:
            return tree_cpu(pid), tree_cpu(self.mongod_pid) if self.mongod_pid else 0.0

        deadline = time.monotonic() + limit
        last = cpu()
        while time.monotonic() < deadline:
            time.sleep(quiet)
            now = cpu()
            if now == last:
                return
            last = now

    def sample(self, stack: Stack, workload: Workload, connections: int, seconds: float) -> Sample:
        assert stack.proc is not None
        pid = stack.proc.pid
        namespace = f"{stack.db}.sessions"
        marks: list[tuple[float, float | None, Counter[str]]] = []

        def snapshot() -> None:
            mongod = tree_cpu(self.mongod_pid) if self.mongod_pid else None
            marks.append((tree_cpu(pid), mongod, collection_ops(self.client, namespace)))

        load = self._load(stack, workload, connections, seconds, snapshot, snapshot)
        self.settle(stack)
        (cpu0, mongod0, ops0), (cpu1, mongod1, ops1) = marks
        ops = ops1 - ops0
        mongod = None if mongod0 is None or mongod1 is None else mongod1 - mongod0
        return Sample(load, cpu1 - cpu0, mongod, ops)

    def _load(
        self,
        stack: Stack,
        workload: Workload,
        connections: int,
        seconds: float,
        on_start: Callable[[], None] = lambda: None,
        on_stop: Callable[[], None] = lambda: None,
    ) -> Load:
        if self.tool == "wrk":
            on_start()
            load = run_wrk(
                stack.port,
                workload,
                connections=connections,
                seconds=wrk_seconds(seconds),
                cookie_file=stack.cookie_file,
                threads=self.threads,
            )
            self.settle(stack)  # the requests wrk left in flight are served in the window
            on_stop()
            return load
        return run_loadgen(
            stack.port,
            workload,
            connections=connections,
            seconds=seconds,
            cookies=stack.cookies,
            on_start=on_start,
            on_stop=on_stop,
        )


def wrk_seconds(seconds: float) -> int:
    """``wrk -d`` takes whole seconds: the duration rounded up, at least 1."""
    return max(1, math.ceil(seconds))


def choose_tool(tool: str = "auto") -> tuple[str, str]:
    """("wrk" or "loadgen", a sentence for the report). ``tool``: auto, wrk or loadgen."""
    if tool not in ("auto", "wrk", "loadgen"):
        raise ValueError(f"unknown load generator {tool!r}")
    version = wrk_version() if tool != "loadgen" else None
    if version is not None:
        return "wrk", f"Load generator: {version} (`wrk --latency -s bench/wrk/session.lua`)."
    if tool == "wrk":
        raise RuntimeError("wrk is not installed (Debian: apt-get install wrk)")
    why = "asked for" if tool == "loadgen" else "wrk is not installed"
    return "loadgen", f"Load generator: the asyncio fallback in bench/loadgen.py ({why})."


Key = tuple[str, int, str]  # (workload, connections, stack key)


def run(
    uri: str,
    *,
    mongod_pid: int | None,
    workloads: Sequence[str] = DEFAULT_WORKLOADS,
    connections: int | Sequence[int] = DEFAULT_CONNECTIONS,
    warmup: float = 2.0,
    duration: float = 3.0,
    rounds: int = 3,
    background: int = 10_000,
    only: Sequence[str] | None = None,
    tool: str = "auto",
    threads: int = 2,
) -> Section:
    """Every stack (or the ``only`` keys) under every workload and connection count; ratios to the floor."""
    section = Section("HTTP level: every stack as a ratio to the floor, one worker each, loopback")
    levels = (connections,) if isinstance(connections, int) else tuple(connections)
    unknown = set(workloads) - set(WORKLOADS)
    if unknown:
        raise ValueError(f"unknown workloads: {', '.join(sorted(unknown))}")
    found, skipped = stacks()
    if only is not None:
        found = [stack for stack in found if stack.key in only]
    else:  # the near-cache stacks need a replica set: the cache section names them
        found = [stack for stack in found if not stack.cached]
    chosen, sentence = choose_tool(tool)
    section.notes.append(sentence)
    section.notes.extend(f"Left out: {reason}." for reason in skipped)
    if not found:
        return section
    samples: dict[Key, list[Sample]] = {}
    client: MongoClient[dict[str, Any]]
    with MongoClient(uri) as client:
        for stack in found:
            populate(client, stack, background)
        runner = Runner(chosen, client, mongod_pid, threads)
        pool = COOKIES_PER_CONNECTION * max(levels)
        with running(found, uri, background=background, cookies=pool):
            for name in workloads:
                workload = WORKLOADS[name]
                for level in levels:
                    for stack in found:
                        runner.warm(stack, workload, level, warmup)
                    for i in range(rounds):
                        order = found if i % 2 == 0 else list(reversed(found))
                        for stack in order:
                            sample = runner.sample(stack, workload, level, duration)
                            samples.setdefault((name, level, stack.key), []).append(sample)
        for stack in found:
            client.drop_database(stack.db)
    seconds = wrk_seconds(duration) if chosen == "wrk" else duration
    warm = (wrk_seconds(warmup) if chosen == "wrk" else warmup) if warmup > 0 else 0.0
    section.tables.append(
        _table(
            found,
            workloads,
            levels,
            samples,
            rounds=rounds,
            seconds=seconds,
            warmup=warm,
            background=background,
        )
    )
    if any(stack.key == FLOOR for stack in found) and len(found) > 1:
        section.tables.append(_ratio_table(found, workloads, levels, samples))
    section.targets.extend(_targets(found, workloads, levels[0], samples))
    section.targets.extend(_cache_targets(found, workloads, levels, samples))
    return section


def _median(values: Sequence[float]) -> float:
    finite = [v for v in values if not math.isnan(v)]
    return statistics.median(finite) if finite else math.nan


def _table(
    found: list[Stack],
    workloads: Sequence[str],
    levels: Sequence[int],
    samples: dict[Key, list[Sample]],
    *,
    rounds: int,
    seconds: float,
    warmup: float,
    background: int,
) -> Table:
    table = Table(
        "Requests per second, latency, database work and CPU per request",
        [
            "workload",
            "connections",
            "stack",
            "req/s",
            "p50 ms",
            "p99 ms",
            "db cmds/req",
            "writes/req",
            "server µs/req",
            "mongod µs/req",
            "errors",
        ],
        note=(
            f"Medians of {rounds} run(s) of {seconds:g} s per stack"
            + (f", after a warm-up run of {warmup:g} s" if warmup > 0 else ", no warm-up")
            + f"; one worker each; {background:,} other sessions in each store. server µs/req: "
            "CPU of the server's process tree (/proc) ÷ requests; mongod µs/req likewise; "
            "db commands and writes per request from the top command's counts on the "
            "stack's collection (the SQLite stacks' database work is inside their server CPU)."
        ),
    )
    for workload in workloads:
        for level in levels:
            for stack in found:
                runs = samples[workload, level, stack.key]
                table.add(
                    workload,
                    level,
                    stack.label,
                    _median([s.rps for s in runs]),
                    _median([s.load.p50 * 1e3 for s in runs]),
                    _median([s.load.p99 * 1e3 for s in runs]),
                    _ops_per_request(stack, runs, OPCOUNTERS),
                    _ops_per_request(stack, runs, WRITES),
                    _median([s.server_us for s in runs]),
                    _median([s.mongod_us for s in runs]),
                    sum(s.load.errors for s in runs),
                )
    return table


def _ops_per_request(stack: Stack, runs: Sequence[Sample], names: tuple[str, ...]) -> object:
    """Database operations of ``names`` per request over all runs ("SQLite" off MongoDB)."""
    if not stack.on_mongodb:
        return "SQLite"
    requests = sum(s.load.served for s in runs)
    ops = sum(s.ops[n] for s in runs for n in names)
    return ops / requests if requests else math.nan


def paired(
    runs: Sequence[Sample], floor: Sequence[Sample], value: Callable[[Sample], float]
) -> tuple[float, float, float]:
    """(median, min, max) over rounds of ``value(stack run) / value(floor run)`` of the same round."""
    ratios = [value(s) / value(f) for s, f in zip(runs, floor, strict=True) if value(f)]
    ratios = [r for r in ratios if not math.isnan(r)]
    if not ratios:
        return math.nan, math.nan, math.nan
    return statistics.median(ratios), min(ratios), max(ratios)


def ratio_cell(stats: tuple[float, float, float]) -> str:
    """``0.85× (0.80–0.90)``: the median ratio and its range over the rounds."""
    mid, low, high = stats
    if math.isnan(mid):
        return "n/a"
    if low == high:
        return f"{mid:.2f}×"
    return f"{mid:.2f}× ({low:.2f}–{high:.2f})"


def _ratio_table(
    found: list[Stack],
    workloads: Sequence[str],
    levels: Sequence[int],
    samples: dict[Key, list[Sample]],
) -> Table:
    table = Table(
        "Every stack as a ratio to the floor (same run, paired by round)",
        [
            "workload",
            "connections",
            "stack",
            "req/s ÷ floor",
            "server CPU/req ÷ floor",
            "server + mongod CPU/req ÷ floor",
        ],
        note=(
            "Each round's run of a stack divided by the floor's run of the same round; "
            "the median over the rounds, and in brackets the lowest and highest. Above 1× "
            "for req/s is faster than the floor; above 1× for CPU is more CPU per request. "
            "The floor does by hand one find_one by _id (read), plus one update_one (touch, "
            "write), with no session library (bench/apps/floor_app.py)."
        ),
    )
    for workload in workloads:
        for level in levels:
            floor = samples[workload, level, FLOOR]
            for stack in found:
                if stack.key == FLOOR:
                    continue
                runs = samples[workload, level, stack.key]
                table.add(
                    workload,
                    level,
                    stack.short,
                    ratio_cell(paired(runs, floor, lambda s: s.rps)),
                    ratio_cell(paired(runs, floor, lambda s: s.server_us)),
                    ratio_cell(paired(runs, floor, lambda s: s.total_us)),
                )
    return table


#: (candidate, baseline, goal) for the issue's end-to-end targets: requests per
#: second per core of the server (1 / server CPU per request), paired by round.
RATIO_TARGETS = (
    ("asgi", "flask-session", 1.5),
    ("asgi", "express", 1.0),
    ("flask", "flask-session", 1.5),
)


def _targets(
    found: list[Stack], workloads: Sequence[str], level: int, samples: dict[Key, list[Sample]]
) -> list[Target]:
    keys = {s.key for s in found}
    labels = {s.key: s.short for s in found}
    targets: list[Target] = []
    for workload in workloads:
        if workload == "none":
            continue  # the frameworks alone: context, not a target
        for a, b, goal in RATIO_TARGETS:
            if a not in keys or b not in keys:
                continue
            # per core = 1 / CPU per request, so a ÷ b per core = b's CPU ÷ a's CPU
            stats = paired(samples[workload, level, b], samples[workload, level, a], _server_us)
            targets.append(
                Target(
                    f"{workload}, {level} connections: {labels[a]} ÷ {labels[b]}, req/s per core",
                    ratio_cell(stats),
                    f"≥ {goal:.1f}×",
                    stats[0] >= goal,
                )
            )
    return targets


#: (near-cache stack, peer, goal): the issue's read targets, in requests/s.
CACHE_TARGETS = (("asgi-cache", "express", 2.0), ("django-cache", "django-cached-db", 1.0))


def _cache_targets(
    found: list[Stack],
    workloads: Sequence[str],
    levels: Sequence[int],
    samples: dict[Key, list[Sample]],
) -> list[Target]:
    keys = {s.key for s in found}
    labels = {s.key: s.short for s in found}
    targets: list[Target] = []
    for a, b, goal in CACHE_TARGETS:
        if a not in keys or b not in keys or "read" not in workloads:
            continue
        for level in levels:
            stats = paired(samples["read", level, a], samples["read", level, b], _rps)
            targets.append(
                Target(
                    f"read, {level} connections: {labels[a]} ÷ {labels[b]}, req/s",
                    ratio_cell(stats),
                    f"≥ {goal:.1f}×",
                    stats[0] >= goal,
                )
            )
    return targets


def _rps(sample: Sample) -> float:
    return sample.rps


def _server_us(sample: Sample) -> float:
    return sample.server_us
