"""Helpers for testing with a real MongoDB: a local ``mongod`` from the ``server`` extra."""
