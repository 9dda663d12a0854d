"""mongosession's benchmarks: ``python -m bench`` (see ``docs/benchmarks.md``).

Every number is measured against a baseline in the same run (the raw PyMongo call,
Flask-Session, express-session + connect-mongo), because absolute times on a shared
machine are not comparable between runs. Nothing here is imported by the library or
run by the test suite's timing; ``tests/test_bench.py`` only checks that the quick
mode still works with the current API.
"""
