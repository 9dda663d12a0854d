"""The session layer between a web framework and the store.

- :mod:`.cookies`, :mod:`.config`, :mod:`.session`, :mod:`.rules`: express-session's
  semantics, with no I/O;
- :mod:`.failures`: what a failure becomes in a response, for every adapter;
- :mod:`.asynchronous`: one request's session I/O (the exchange), written by hand;
  :mod:`.synchronous`: generated from it by ``tools/unasync.py``.
"""
