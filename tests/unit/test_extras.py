"""An adapter imported without its framework names the extra to install (issue 14)."""

from __future__ import annotations

import importlib
import sys

import pytest

ADAPTERS = [
    ("mongosession.flask", "flask", "flask"),
    ("mongosession.django", "django", "django"),
    ("mongosession.aiohttp", "aiohttp", "aiohttp"),
    ("mongosession.litestar", "litestar", "litestar"),
    ("mongosession.quart", "quart", "quart"),
]


@pytest.mark.parametrize(("adapter", "framework", "extra"), ADAPTERS)
def test_a_missing_framework_names_the_extra(
    adapter: str, framework: str, extra: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in [n for n in sys.modules if n == adapter or n.startswith("mongosession._django")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, framework, None)  # as if not installed
    with pytest.raises(ModuleNotFoundError) as raised:
        importlib.import_module(adapter)
    assert str(raised.value) == f"{adapter} needs {framework}: pip install 'mongosession[{extra}]'"
    assert raised.value.name == framework


def test_a_module_missing_inside_the_framework_is_not_blamed_on_the_extra(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from mongosession._extras import require

    monkeypatch.setitem(sys.modules, "flask", None)
    with pytest.raises(ModuleNotFoundError, match="mongosession\\[flask\\]"):
        require("flask", extra="flask", feature="mongosession.flask")
    monkeypatch.delitem(sys.modules, "flask")
    monkeypatch.setitem(sys.modules, "markupsafe", None)  # a dependency of the framework
    for name in [n for n in sys.modules if n == "flask" or n.startswith(("flask.", "jinja2"))]:
        monkeypatch.delitem(sys.modules, name, raising=False)
    with pytest.raises(ModuleNotFoundError) as raised:
        require("flask", extra="flask", feature="mongosession.flask")
    assert "mongosession[flask]" not in str(raised.value)
