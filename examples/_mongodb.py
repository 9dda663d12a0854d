"""Where the examples keep their sessions: ``MONGODB_URI``, or a MongoDB started for them.

Not part of an application: with ``MONGODB_URI`` unset, this starts a throwaway
``mongod`` from the ``server`` extra (Linux x86-64) so that each example runs
with one command, and at exit stops it and deletes its data folder. Processes
forked from the one that started it (gunicorn's workers, with ``--preload``)
share it; only the starting process stops it.
"""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import sys
import tempfile
from pathlib import Path

_servers: list[object] = []


def database_uri(name: str) -> str:
    """A MongoDB URI naming a database (``name`` unless ``MONGODB_URI`` names one)."""
    from mongosession.testing.localdb import LocalMongod, with_db

    uri = os.environ.get("MONGODB_URI")
    if not uri:
        folder = Path(tempfile.mkdtemp(prefix="mongosession-example-"))
        server = LocalMongod(folder / "db", log_path=folder / "mongod.log").start()
        _servers.append(server)  # kept alive until exit
        owner = os.getpid()

        def remove() -> None:
            if os.getpid() == owner:  # not in a forked worker
                server.stop(timeout=10)
                shutil.rmtree(folder, ignore_errors=True)

        atexit.register(remove)
        uri = server.uri
        os.environ["MONGODB_URI"] = uri  # a reloader's or a worker's child uses this one
        print(
            f"started a throwaway MongoDB at {uri} (data in {folder}, removed at exit)",
            file=sys.stderr,
        )
        if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
            # Exit through SystemExit on SIGTERM too, so the atexit hook stops mongod.
            signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    database = uri.partition("://")[2].partition("?")[0].partition("/")[2]
    return uri if database else with_db(uri, name)


def port_argument(default: int = 8000) -> int:
    """``--port N`` from the command line, else ``default``."""
    if "--port" in sys.argv:
        return int(sys.argv[sys.argv.index("--port") + 1])
    return default
