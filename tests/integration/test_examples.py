"""The examples run as documented, with no MongoDB configured, and leave nothing behind.

Issue 14: each run used to leave a ~300 MB throwaway database in /tmp, and the Django
example under ``gunicorn -w 2`` gave each worker a database of its own.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import httpx
import pytest

from tests.support.servers import python, serving

pytestmark = pytest.mark.skipif(
    bool(os.environ.get("MONGODB_URI")),
    reason="the examples' own MongoDB needs the local server (MONGODB_URI is set)",
)


def throwaway_folder(log: Path) -> Path:
    """The data folder the example said it started its MongoDB in."""
    deadline = time.monotonic() + 10
    while not (found := re.search(r"\(data in (\S+), removed at exit\)", log.read_text())):
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.1)
    return Path(found.group(1))


def gone(folder: Path) -> bool:
    deadline = time.monotonic() + 20
    while folder.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    return not folder.exists()


def test_the_django_example_shares_one_throwaway_mongodb_between_two_workers(
    tmp_path: Path,
) -> None:
    command = python(
        "-m",
        "gunicorn",
        "--preload",
        "-w",
        "2",
        "--chdir",
        "examples",
        "--bind",
        "127.0.0.1:{port}",
        "django_app:application",
    )
    log = tmp_path / "gunicorn.log"
    with serving(command, mongodb_uri=None, log=log, timeout=60) as url:
        folder = throwaway_folder(log)
        assert folder.is_dir()
        cookie: str | None = None
        counts = []
        for _ in range(24):
            # A new connection each time: both workers answer some of them.
            headers = {"connection": "close"}
            if cookie:
                headers["cookie"] = f"sessionid={cookie}"
            reply = httpx.get(url + "/", headers=headers, timeout=10)
            cookie = reply.cookies.get("sessionid") or cookie
            counts.append(int(reply.text.split()[0]))
        # One session across the workers: a worker with its own database would have
        # started a new count.
        assert counts == list(range(1, 25)), counts
    assert gone(folder), f"{folder} was left behind"


def test_the_flask_example_removes_its_throwaway_mongodb_at_exit(tmp_path: Path) -> None:
    log = tmp_path / "flask.log"
    command = python("examples/flask_app.py", "--port", "{port}")
    with serving(command, mongodb_uri=None, log=log, timeout=60) as url:
        folder = throwaway_folder(log)
        with httpx.Client(base_url=url, timeout=10) as client:
            assert [client.get("/").text.split()[0] for _ in range(2)] == ["1", "2"]
    assert gone(folder), f"{folder} was left behind"
