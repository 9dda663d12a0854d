"""The soak run (``python -m tests.integration.soak``), in miniature, so that it keeps working.

The real run (200 clients, 30 s a phase, three phases) is outside the default suite;
docs/reliability.md has its figures. This runs its fault phase for a few seconds
through the same code: uvicorn on loopback, the fault proxy, the checks against
MongoDB (RELIABILITY.md catalog line 16).
"""

from __future__ import annotations

import pytest

from tests.integration.soak.run import soak
from tests.support.fixtures import needs_local_servers


@pytest.mark.slow
def test_a_short_soak_with_faults_loses_nothing_and_mixes_up_nobody() -> None:
    needs_local_servers()
    [report] = soak(clients=20, duration=3, phases=["faults"])
    assert report.served > 20  # every client logged in and kept going
    assert report.critical == 0, report.anomalies  # no lost or foreign session, no lost write
    assert report.sessions_checked == 20
    assert set(report.errors) <= {"HTTP 503"}, report.errors  # fail closed, nothing else
