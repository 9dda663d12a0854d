"""Upstream test suites ported to pytest, to hold mongosession to its peers' semantics."""
