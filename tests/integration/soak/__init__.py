"""The load-and-fault run, outside the unit suite: ``python -m tests.integration.soak``."""
