"""mongosession's benchmarks: ``python -m bench`` (see ``docs/benchmarks.md``).

Every number is measured against a baseline in the same run (the raw PyMongo call,
the floor app with no session library, Flask-Session, express-session +
connect-mongo, Django's own engines), because absolute times on a shared machine
are not comparable between runs. Nothing here is imported by the library or run by
the test suite's timing; ``tests/integration/test_bench.py`` only checks that each
section still works, in miniature, with the current API.
"""
