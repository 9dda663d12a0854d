"""The ``mongosession`` admin command line."""
