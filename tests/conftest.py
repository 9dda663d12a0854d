"""The root of the suite: two tiers, one fixture factory.

- tests/unit/: no I/O, no MongoDB (its conftest.py refuses the database fixtures);
  ``pytest tests/unit`` runs in seconds anywhere.
- tests/integration/: everything that needs a real MongoDB, a server or a subprocess;
  the slow ones are marked ``slow`` (``-m "not slow"`` leaves them out).
- tests/support/: the helpers both use; tests/interop/: the Node side of the interop tests.

Every fixture that reaches MongoDB comes from :mod:`tests.support.fixtures`, registered
here for the whole suite.
"""

from hypothesis import settings

pytest_plugins = ["tests.support.fixtures", "pytester"]

# ``--hypothesis-profile=thorough`` when hunting (the tests' own example counts are modest).
settings.register_profile("thorough", max_examples=2000, deadline=None)
