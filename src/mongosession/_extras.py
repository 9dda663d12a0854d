"""Optional dependencies: an adapter whose framework is missing says which extra brings it."""

from __future__ import annotations

import importlib


def require(module: str, *, extra: str, feature: str) -> None:
    """Import ``module`` or raise an ImportError naming the extra that installs it.

    Example: ``require("flask", extra="flask", feature="mongosession.flask")`` raises
    ``ModuleNotFoundError: mongosession.flask needs flask: pip install
    'mongosession[flask]'`` when Flask is not installed.
    """
    try:
        importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name is None or exc.name.partition(".")[0] != module:
            raise  # the framework is there; something it imports is not
        raise ModuleNotFoundError(
            f"{feature} needs {module}: pip install 'mongosession[{extra}]'", name=exc.name
        ) from exc
