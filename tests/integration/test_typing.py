"""Types at the edge: a user's code type-checks under ``mypy --strict`` with no ``Any`` leaking.

tests/integration/typing/user_code.py calls the public surface the way an application does
(``await get_session(request).regenerate()`` in ASGI and aiohttp, Flask's
``get_session().regenerate()``, typed options, ``ConfigurationError``); mypy must
pass it with ``disallow-any-expr`` and reveal exactly the types its comments name.
tests/integration/typing/misspelt_options.py holds option mistakes mypy must refuse.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TYPING = Path(__file__).resolve().parent / "typing"
REVEALED = re.compile(r'^(?P<path>[^:]+):(?P<line>\d+): note: Revealed type is "(?P<type>.*)"$')
ERROR = re.compile(r"^(?P<path>[^:]+):(?P<line>\d+): error: ")


def mypy(path: Path) -> tuple[int, list[str]]:
    """Run ``mypy --strict`` on ``path`` from the project root: its exit code and output lines."""
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-error-summary", str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if result.returncode not in (0, 1):
        pytest.fail(f"mypy did not run: {result.stderr or result.stdout}")
    return result.returncode, result.stdout.splitlines()


def unqualified(type_text: str) -> str:
    """``mongosession.web.session.Session[...]`` -> ``Session[...]``, ``typing.Awaitable`` -> ``Awaitable``."""
    return re.sub(r"\b(?:[A-Za-z_]\w*\.)+(?=[A-Za-z_]\w*)", "", type_text)


def expected_reveals(path: Path) -> dict[int, str]:
    """Line number -> the type written in the trailing comment of each ``reveal_type`` line."""
    found = {}
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if "reveal_type(" in line and not line.lstrip().startswith("#"):
            found[number] = line.rpartition("#")[2].strip()
    return found


def test_a_users_code_type_checks_strictly_with_no_any() -> None:
    path = TYPING / "user_code.py"
    status, output = mypy(path)
    errors = [line for line in output if ": error:" in line]
    assert status == 0, "\n".join(errors or output)
    revealed = {}
    for line in output:
        match = REVEALED.match(line)
        if match:
            revealed[int(match["line"])] = match["type"]
    assert revealed, output
    assert not [t for t in revealed.values() if re.search(r"\bAny\b", t)], revealed
    expected = expected_reveals(path)
    assert {line: unqualified(t) for line, t in revealed.items()} == expected


def test_the_typing_check_would_see_an_any(tmp_path: Path) -> None:
    # The check is not vacuous: a session value read in the user's code is Any
    # (what a session holds is the application's), and disallow-any-expr says so.
    source = (TYPING / "user_code.py").read_text()
    probe = tmp_path / "any_probe.py"
    probe.write_text(
        source + "\n\nasync def probe(request: Request) -> object:\n"
        '    return get_session(request)["user"]\n'
    )
    status, output = mypy(probe)
    assert status == 1
    assert any('Expression has type "Any"' in line for line in output), output


def test_misspelt_or_mistyped_options_are_type_errors() -> None:
    path = TYPING / "misspelt_options.py"
    status, output = mypy(path)
    assert status == 1
    failing = {int(m["line"]) for line in output if (m := ERROR.match(line))}
    marked = {
        number
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if line.rstrip().endswith("# error")
    }
    assert failing == marked, output
