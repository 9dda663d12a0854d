"""The README's first code block is a working FastAPI app, as printed.

Only the MongoDB URI is swapped for the test database's. The app runs through
FastAPI's TestClient against the real server: three visits count 1, 2, 3 on one
cookie, and the session document is in the database the URI names.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from pymongo.database import Database

README = Path(__file__).resolve().parents[2] / "README.md"
PRINTED_URI = "mongodb://localhost:27017/app"


def readme_app_source() -> str:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    assert blocks, "the README has no python code block"
    source: str = blocks[0]
    assert PRINTED_URI in source, "the README's example no longer names its URI"
    return source


def test_readme_example_runs_as_printed(test_uri: str, db: Database[dict[str, Any]]) -> None:
    namespace: dict[str, Any] = {}
    code = compile(readme_app_source().replace(PRINTED_URI, test_uri), "README.md", "exec")
    exec(code, namespace)  # noqa: S102 -- the README is this repository's own text

    with TestClient(namespace["app"]) as client:
        counts = [client.get("/").json() for _ in range(3)]
        cookie_names = list(client.cookies.keys())

    assert counts == [{"visits": 1}, {"visits": 2}, {"visits": 3}]
    assert cookie_names == ["connect.sid"]
    docs = list(db["sessions"].find())
    assert len(docs) == 1
    assert '"visits":3' in docs[0]["session"].replace(" ", "")
