"""Every Python block of the docs and the README is valid Python, and the runnable ones run.

A block preceded by ``<!-- test: run -->`` runs as a script (``MONGODB_URI`` names a
clean database; ``mongodb://localhost:27017/app`` in it is replaced by that URI); one
preceded by ``<!-- test: pytest -->`` is a test module, run by pytest in a separate
process with mongosession's plugin, as an application's suite would run it. The other
blocks are fragments (``uri=...``), checked for syntax only.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = [*sorted((ROOT / "docs").glob("*.md")), ROOT / "README.md"]
BLOCK = re.compile(r"(?:<!-- test: (?P<mode>run|pytest) -->\n)?```python\n(?P<code>.*?)```", re.S)
LOCAL = "mongodb://localhost:27017/app"


def blocks() -> list[Any]:
    found = []
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        for match in BLOCK.finditer(text):
            line = text.count("\n", 0, match.start()) + 1
            name = f"{page.relative_to(ROOT)}:{line}"
            found.append(pytest.param(match["mode"], match["code"], id=name))
    return found


ALL = blocks()
MARKED = [p for p in ALL if p.values[0] is not None]


def compiles(code: str) -> None:
    """Compile a block: a script, or lines of a coroutine (``await``, ``return``) shown alone."""
    code = textwrap.dedent(code)
    try:
        compile(code, "<docs>", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    except SyntaxError:
        compile("async def _handler():\n" + textwrap.indent(code, "    "), "<docs>", "exec")


@pytest.mark.parametrize(("mode", "code"), ALL)
def test_every_python_block_is_valid_python(mode: str | None, code: str) -> None:
    compiles(code)


def test_some_blocks_are_marked_to_run() -> None:
    assert len(MARKED) >= 3, "the runnable examples lost their markers"


@pytest.mark.parametrize(("mode", "code"), MARKED)
def test_the_marked_blocks_run(
    mode: str, code: str, test_uri: str, mongodb_uri: str, tmp_path: Path
) -> None:
    if mode == "run":
        script = tmp_path / "example.py"
        script.write_text(code.replace(LOCAL, test_uri))
        command = [sys.executable, str(script)]
        env_uri = test_uri
    else:
        (tmp_path / "test_example.py").write_text(code)
        command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)]
        env_uri = mongodb_uri
    result = subprocess.run(
        command,
        cwd=tmp_path,
        env={**__import__("os").environ, "MONGODB_URI": env_uri},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
