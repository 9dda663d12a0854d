"""The reliability tests' own fixtures: every adapter's app on a real server.

- :func:`serve`: each adapter's app on a real server, the test run once per adapter;
- :func:`gate`: the gate its slow handlers wait at; :func:`pool`: threads to send
  overlapping requests.

The servers, databases, fault proxy, replica set and fail points are the suite's
(tests/support/fixtures.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from tests.support import adapter_apps as _adapter_apps
from tests.support.adapter_apps import ThreadGate
from tests.support.web import SERVED, ServedApp

# -- every adapter's app on a real server (tests/support/web.py's SERVED) -------------------------

Serve = Callable[..., ServedApp]


@pytest.fixture(params=list(SERVED))
def serve(request: pytest.FixtureRequest) -> Iterator[Serve]:
    """``serve(uri, **store_options)`` -> the app of one adapter, served until the test ends.

    Runs the test once per adapter: ASGI and Litestar on uvicorn, Flask and Django on
    werkzeug's threaded server, aiohttp on its own, Quart on hypercorn.
    """
    apps: list[ServedApp] = []

    def start(uri: str, **store: Any) -> ServedApp:
        app = SERVED[request.param](uri, **store)
        apps.append(app)
        return app

    try:
        yield start
    finally:
        _adapter_apps.gate.release()  # a failed test must not leave handlers waiting
        for app in reversed(apps):
            app.close()


@pytest.fixture
def gate() -> ThreadGate:
    """The gate the slow handlers wait at (tests/support/adapter_apps.py), closed."""
    return _adapter_apps.new_gate()


@pytest.fixture
def pool() -> Iterator[ThreadPoolExecutor]:
    """Threads sending the requests that must overlap."""
    with ThreadPoolExecutor(max_workers=40) as executor:
        yield executor
